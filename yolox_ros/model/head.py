"""Decoupled YOLOX head and the decoding of its box regressions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from yolox_ros.metadata import DEFAULT_STRIDES
from yolox_ros.model.blocks import BaseConv, spatial_conv

STRIDES = DEFAULT_STRIDES
# Initial foreground probability of the objectness and class outputs (focal-loss style prior).
PRIOR_PROB = 0.01


def anchor_points(
    level_shapes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid cell ``(x, y)`` (N, 2) and stride (N,) of every anchor, in the head's output order.

    Anchors are ordered level by level, row-major within a level.
    """
    grids, anchor_strides = [], []
    for (height, width), stride in zip(level_shapes, strides, strict=True):
        ys, xs = torch.meshgrid(
            torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
        )
        grids.append(torch.stack((xs, ys), dim=2).reshape(-1, 2))
        anchor_strides.append(torch.full((height * width,), stride, device=device))
    return torch.cat(grids).float(), torch.cat(anchor_strides).float()


def decode_boxes(
    predictions: torch.Tensor, level_shapes: Sequence[tuple[int, int]], strides: Sequence[int]
) -> torch.Tensor:
    """Turn (tx, ty, tw, th) of flattened predictions [B, N, 5+C] into (cx, cy, w, h) pixels.

    An anchor at grid cell (x, y) of stride s decodes to cx = (tx + x) s, w = exp(tw) s.
    """
    grid, stride = anchor_points(level_shapes, strides, predictions.device)
    grid, stride = grid.to(predictions.dtype), stride.to(predictions.dtype)[:, None]
    centers = (predictions[..., 0:2] + grid) * stride
    sizes = torch.exp(predictions[..., 2:4]) * stride
    return torch.cat((centers, sizes, predictions[..., 4:]), dim=-1)


class YOLOXHead(nn.Module):
    """Per level: a 1x1 stem, then separate class and box/objectness branches.

    Training mode returns one raw tensor per stride, [B, 5+C, H, W] with
    channels [reg(4), obj(1), cls(C)]. Eval mode returns [B, N, 5+C] with
    sigmoid on obj and cls, and boxes decoded to input pixels if
    ``decode_in_inference``.
    """

    def __init__(
        self,
        num_classes: int,
        width: float,
        in_channels: Sequence[int],
        depthwise: bool = False,
        strides: Sequence[int] = STRIDES,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.strides = tuple(strides)
        self.decode_in_inference = True
        hidden = int(256 * width)

        def branch() -> nn.Sequential:
            return nn.Sequential(
                spatial_conv(hidden, hidden, 3, 1, depthwise),
                spatial_conv(hidden, hidden, 3, 1, depthwise),
            )

        def predictor(out_channels: int) -> nn.ModuleList:
            return nn.ModuleList(nn.Conv2d(hidden, out_channels, 1) for _ in self.strides)

        # Registration order follows the official module so state dicts list keys alike.
        self.cls_convs = nn.ModuleList(branch() for _ in self.strides)
        self.reg_convs = nn.ModuleList(branch() for _ in self.strides)
        self.cls_preds = predictor(num_classes)
        self.reg_preds = predictor(4)
        self.obj_preds = predictor(1)
        self.stems = nn.ModuleList(BaseConv(channels, hidden, 1) for channels in in_channels)
        self.initialize_class_predictions()
        for conv in self.obj_preds:
            nn.init.constant_(conv.bias, -math.log((1 - PRIOR_PROB) / PRIOR_PROB))

    def initialize_class_predictions(self) -> None:
        """(Re)initialise the class-prediction convs: default weights, bias at the prior."""
        for conv in self.cls_preds:
            conv.reset_parameters()
            nn.init.constant_(conv.bias, -math.log((1 - PRIOR_PROB) / PRIOR_PROB))

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        outputs = []
        for level, x in enumerate(features):
            x = self.stems[level](x)
            cls_logits = self.cls_preds[level](self.cls_convs[level](x))
            reg_feat = self.reg_convs[level](x)
            reg = self.reg_preds[level](reg_feat)
            obj_logits = self.obj_preds[level](reg_feat)
            if self.training:
                outputs.append(torch.cat((reg, obj_logits, cls_logits), dim=1))
            else:
                outputs.append(torch.cat((reg, obj_logits.sigmoid(), cls_logits.sigmoid()), dim=1))
        if self.training:
            return outputs

        level_shapes = [(out.shape[2], out.shape[3]) for out in outputs]
        flat = torch.cat([out.flatten(start_dim=2) for out in outputs], dim=2).permute(0, 2, 1)
        if self.decode_in_inference:
            return decode_boxes(flat, level_shapes, self.strides)
        return flat
