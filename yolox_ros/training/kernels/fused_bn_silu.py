"""BatchNorm and SiLU of training in one compiled kernel, for training on the CPU.

With PyTorch's ops, BatchNorm and SiLU, forward and backward, are separate passes over
every activation (a large part of a nano training step on the CPU); ``fused_bn_silu.c``
does the same arithmetic in fewer passes, its results within float32 rounding of
PyTorch's. ``kernels.build`` compiles it once per machine and caches it; without a
compiler, training uses PyTorch's ops and says why (docs/training.md has the speed-up).

Only training on float32 channels_last activations on the CPU goes through the
kernel; evaluation, export, autocast (bfloat16), other layouts and devices, and
SyncBatchNorm use the modules as they are.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from importlib import resources

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn
from torch.autograd.function import once_differentiable

from yolox_ros.model.blocks import BaseConv
from yolox_ros.training.kernels.build import load_library

SOURCE = "fused_bn_silu.c"


@functools.cache
def load_kernel() -> ctypes.CDLL:
    """The compiled kernel library (loaded once per process); raises KernelBuildError."""
    library, _ = load_library(
        "fused_bn_silu", resources.files(__package__).joinpath(SOURCE).read_text()
    )
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

    Raises KernelBuildError (the model unchanged) when the kernel cannot be built.
    """
    load_kernel()
    layers = [module for module in model.modules() if isinstance(module, BaseConv)]
    for layer in layers:
        layer.train_bn_act = batchnorm_silu
    return len(layers)
