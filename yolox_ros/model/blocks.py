"""Building blocks of YOLOX (layer names follow the official state dict)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# Official YOLOX sets these on every BatchNorm after construction (yolox_base.py).
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


class BaseConv(nn.Module):
    """Conv (no bias, "same" padding) -> BatchNorm -> SiLU."""

    # Training on the CPU sets this to one function computing act(bn(x)) in fewer passes
    # (yolox_ros.training.kernels.fused_bn_silu); evaluation, export and inference use the modules.
    train_bn_act: Callable[[torch.Tensor, nn.BatchNorm2d], torch.Tensor] | None = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.training and self.train_bn_act is not None:
            return self.train_bn_act(x, self.bn)
        return self.act(self.bn(x))


class DWConv(nn.Module):
    """Depthwise k x k BaseConv followed by a pointwise 1 x 1 BaseConv."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
    ) -> None:
        super().__init__()
        self.dconv = BaseConv(in_channels, in_channels, kernel_size, stride, groups=in_channels)
        self.pconv = BaseConv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def spatial_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, depthwise: bool
) -> nn.Module:
    """The k x k convolution of a block: DWConv in depthwise models (Nano), else BaseConv."""
    if depthwise:
        return DWConv(in_channels, out_channels, kernel_size, stride)
    return BaseConv(in_channels, out_channels, kernel_size, stride)


class Focus(nn.Module):
    """Space-to-depth (2 x 2 pixels to 4 x channels), then a 3 x 3 BaseConv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = BaseConv(in_channels * 4, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channel order top-left, bottom-left, top-right, bottom-right, as the
        # official weights expect.
        top_left = x[..., ::2, ::2]
        bottom_left = x[..., 1::2, ::2]
        top_right = x[..., ::2, 1::2]
        bottom_right = x[..., 1::2, 1::2]
        return self.conv(torch.cat((top_left, bottom_left, top_right, bottom_right), dim=1))


class Bottleneck(nn.Module):
    """1 x 1 conv then k=3 conv, with a residual connection when shapes allow."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        shortcut: bool,
        depthwise: bool,
        expansion: float = 1.0,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.conv1 = BaseConv(in_channels, hidden, 1)
        self.conv2 = spatial_conv(hidden, out_channels, 3, 1, depthwise)
        self.use_add = shortcut and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    """Cross Stage Partial layer: a bottleneck branch and a bypass, merged by a 1 x 1 conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_bottlenecks: int,
        shortcut: bool,
        depthwise: bool,
        expansion: float = 0.5,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.conv1 = BaseConv(in_channels, hidden, 1)
        self.conv2 = BaseConv(in_channels, hidden, 1)
        self.conv3 = BaseConv(2 * hidden, out_channels, 1)
        self.m = nn.Sequential(
            *(Bottleneck(hidden, hidden, shortcut, depthwise) for _ in range(num_bottlenecks))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), dim=1))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling (max-pool 5/9/13, stride 1) between two 1 x 1 convs."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_sizes: tuple[int, ...] = (5, 9, 13)
    ) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.conv1 = BaseConv(in_channels, hidden, 1)
        self.m = nn.ModuleList(
            nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2) for k in kernel_sizes
        )
        self.conv2 = BaseConv(hidden * (len(kernel_sizes) + 1), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x, *(pool(x) for pool in self.m)], dim=1))
