"""BatchNorm and SiLU of training in one compiled kernel, for training on the CPU.

With PyTorch's ops, BatchNorm and SiLU, forward and backward, take about a third of
a nano training step on the CPU: each is a separate pass over every activation.
``fused_bn_silu.c`` does the same arithmetic in fewer passes, its results within
float32 rounding of PyTorch's (end to end 1.17x -> 1.30x the official trainer given
the same malloc setting, ``benchmarks/train_benchmark.py``). It is compiled with the
system's C compiler (``$CC``, else ``cc``) when a training run starts, in a fraction
of a second, and uses the OpenMP runtime PyTorch has loaded, so it runs on PyTorch's
threads. Without a compiler, training uses PyTorch's ops and says why.

Only training on float32 channels_last activations on the CPU goes through the
kernel; evaluation, export, autocast (bfloat16), other layouts and devices, and
SyncBatchNorm use the modules as they are.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn
from torch.autograd.function import once_differentiable

from yolox_ros.model.blocks import BaseConv

SOURCE = "fused_bn_silu.c"
# -march=native: the library is built on the machine that runs it, for every run.
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
BUILD_TIMEOUT_S = 120  # it takes well under a second; a hung compiler must not hang training


class FusedKernelError(RuntimeError):
    """The kernel could not be built or loaded (the message says why)."""


def _compiler() -> list[str]:
    command = shlex.split(os.environ.get("CC", "cc"))
    if not command or shutil.which(command[0]) is None:
        raise FusedKernelError(f"no C compiler {command[0] if command else '$CC'!r} found")
    return command


@functools.cache
def load_kernel() -> ctypes.CDLL:
    """The compiled kernel library (built once per process); raises FusedKernelError."""
    compiler = _compiler()
    source = resources.files(__package__).joinpath(SOURCE).read_text()
    with tempfile.TemporaryDirectory(prefix="yolox_ros_kernel_") as scratch:
        source_path, library_path = Path(scratch) / SOURCE, Path(scratch) / "fused_bn_silu.so"
        source_path.write_text(source)
        command = [*compiler, *FLAGS, "-o", str(library_path), str(source_path), "-lm"]
        try:
            build = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise FusedKernelError(f"{shlex.join(compiler)} took over {exc.timeout} s") from exc
        if build.returncode != 0:
            lines = build.stderr.splitlines() or [f"exit status {build.returncode}"]
            first_error = next((line for line in lines if "error" in line), lines[0])
            raise FusedKernelError(f"{shlex.join(compiler)} failed: {first_error.strip()}")
        try:
            # Mapped into the process: the file may go with the directory.
            library = ctypes.CDLL(str(library_path))
        except OSError as exc:
            raise FusedKernelError(f"cannot load the built kernel: {exc}") from exc
    pointer, size, scalar = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
    library.bn_silu_forward.argtypes = [pointer, size, size] + [pointer] * 4
    library.bn_silu_forward.argtypes += [scalar, scalar] + [pointer] * 3
    library.bn_silu_backward.argtypes = [pointer, pointer, size, size] + [pointer] * 7
    return library


def _call(function: Callable[..., int], *args: object) -> None:
    pointers = [arg.data_ptr() if isinstance(arg, torch.Tensor) else arg for arg in args]
    if function(*pointers) != 0:
        raise MemoryError("fused BatchNorm+SiLU: out of memory for its scratch space")


class _BatchNormSiLU(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        running_mean: torch.Tensor,
        running_var: torch.Tensor,
        momentum: float,
        eps: float,
    ) -> torch.Tensor:
        batch, channels, height, width = x.shape
        y = torch.empty_like(x)
        mean, invstd = x.new_empty(channels), x.new_empty(channels)
        _call(
            load_kernel().bn_silu_forward,
            x,
            batch * height * width,
            channels,
            weight,
            bias,
            running_mean,
            running_var,
            momentum,
            eps,
            y,
            mean,
            invstd,
        )
        ctx.save_for_backward(x, weight, bias, mean, invstd)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, bias, mean, invstd = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        batch, channels, height, width = x.shape
        dx = torch.empty_like(x)
        grad_weight, grad_bias = x.new_empty(channels), x.new_empty(channels)
        _call(
            load_kernel().bn_silu_backward,
            grad,
            x,
            batch * height * width,
            channels,
            weight,
            bias,
            mean,
            invstd,
            dx,
            grad_weight,
            grad_bias,
        )
        return dx, grad_weight, grad_bias, None, None, None, None


def _fusable(x: torch.Tensor, bn: nn.Module) -> bool:
    return (
        type(bn) is nn.BatchNorm2d  # not SyncBatchNorm, whose statistics span processes
        and bn.training
        and bn.affine
        and bn.track_running_stats
        and bn.momentum is not None
        and x.device.type == "cpu"
        and x.dtype == bn.weight.dtype == torch.float32
        and x.is_contiguous(memory_format=torch.channels_last)
        # One value per channel: left to PyTorch, which refuses it.
        and x.shape[0] * x.shape[2] * x.shape[3] > 1
    )


def batchnorm_silu(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``silu(bn(x))``: through the kernel where it applies, else through PyTorch."""
    if not _fusable(x, bn):
        return F.silu(bn(x))
    bn.num_batches_tracked.add_(1)
    return _BatchNormSiLU.apply(
        x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.momentum, bn.eps
    )


def fuse_batchnorm_silu(model: nn.Module) -> int:
    """Train every BaseConv of ``model`` through the kernel; returns how many.

    Raises FusedKernelError (the model unchanged) when the kernel cannot be built.
    """
    load_kernel()
    layers = [module for module in model.modules() if isinstance(module, BaseConv)]
    for layer in layers:
        layer.train_bn_act = batchnorm_silu
    return len(layers)
