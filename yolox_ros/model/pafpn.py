"""PAFPN neck: top-down then bottom-up fusion of the three backbone levels."""

from __future__ import annotations

import torch
from torch import nn

from yolox_ros.model.blocks import BaseConv, CSPLayer, spatial_conv
from yolox_ros.model.darknet import CSPDarknet


class YOLOPAFPN(nn.Module):
    """Holds the backbone (attribute ``backbone``, as in the official state dict).

    Returns the fused features at strides 8, 16 and 32.
    """

    def __init__(self, depth: float, width: float, depthwise: bool = False) -> None:
        super().__init__()
        self.backbone = CSPDarknet(depth, width, depthwise)
        c3, c4, c5 = self.out_channels = self.backbone.out_channels
        num_bottlenecks = round(3 * depth)

        def csp(in_channels: int, out_channels: int) -> CSPLayer:
            return CSPLayer(in_channels, out_channels, num_bottlenecks, False, depthwise)

        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c5, c4, 1)
        self.C3_p4 = csp(2 * c4, c4)
        self.reduce_conv1 = BaseConv(c4, c3, 1)
        self.C3_p3 = csp(2 * c3, c3)
        self.bu_conv2 = spatial_conv(c3, c3, 3, 2, depthwise)
        self.C3_n3 = csp(2 * c3, c4)
        self.bu_conv1 = spatial_conv(c4, c4, 3, 2, depthwise)
        self.C3_n4 = csp(2 * c4, c5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dark3, dark4, dark5 = self.backbone(x)

        fpn_out0 = self.lateral_conv0(dark5)
        f_out0 = self.C3_p4(torch.cat((self.upsample(fpn_out0), dark4), dim=1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat((self.upsample(fpn_out1), dark3), dim=1))

        pan_out1 = self.C3_n3(torch.cat((self.bu_conv2(pan_out2), fpn_out1), dim=1))
        pan_out0 = self.C3_n4(torch.cat((self.bu_conv1(pan_out1), fpn_out0), dim=1))
        return pan_out2, pan_out1, pan_out0
