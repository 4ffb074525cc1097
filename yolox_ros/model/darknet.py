"""CSPDarknet, the YOLOX backbone."""

from __future__ import annotations

import torch
from torch import nn

from yolox_ros.model.blocks import CSPLayer, Focus, SPPBottleneck, spatial_conv


class CSPDarknet(nn.Module):
    """Focus stem and four stages; returns the dark3, dark4 and dark5 features (strides 8/16/32)."""

    def __init__(self, depth: float, width: float, depthwise: bool = False) -> None:
        super().__init__()
        base = int(width * 64)
        base_depth = max(round(depth * 3), 1)
        self.out_channels = (base * 4, base * 8, base * 16)

        self.stem = Focus(3, base, kernel_size=3)
        self.dark2 = self._stage(base, base * 2, base_depth, depthwise)
        self.dark3 = self._stage(base * 2, base * 4, base_depth * 3, depthwise)
        self.dark4 = self._stage(base * 4, base * 8, base_depth * 3, depthwise)
        self.dark5 = nn.Sequential(
            spatial_conv(base * 8, base * 16, 3, 2, depthwise),
            SPPBottleneck(base * 16, base * 16),
            CSPLayer(base * 16, base * 16, base_depth, shortcut=False, depthwise=depthwise),
        )

    @staticmethod
    def _stage(
        in_channels: int, out_channels: int, num_bottlenecks: int, depthwise: bool
    ) -> nn.Sequential:
        """Stride-2 downsampling conv followed by a CSP layer with residual bottlenecks."""
        return nn.Sequential(
            spatial_conv(in_channels, out_channels, 3, 2, depthwise),
            CSPLayer(
                out_channels, out_channels, num_bottlenecks, shortcut=True, depthwise=depthwise
            ),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.dark2(self.stem(x))
        dark3 = self.dark3(x)
        dark4 = self.dark4(dark3)
        dark5 = self.dark5(dark4)
        return dark3, dark4, dark5
