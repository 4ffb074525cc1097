"""Compiled CPU kernels of training: ``build`` (compiled once per machine, cached, on
PyTorch's OpenMP runtime) and ``fused_bn_silu`` (BatchNorm + SiLU in one kernel)."""
