"""The YOLOX detector: PAFPN (holding the backbone) followed by the decoupled head."""

from __future__ import annotations

import torch
from torch import nn

from yolox_ros.model.head import YOLOXHead
from yolox_ros.model.pafpn import YOLOPAFPN


class YOLOX(nn.Module):
    """Attributes ``backbone`` and ``head`` as in the official model, so checkpoints load as-is.

    Input: float32 BGR images [B, 3, H, W] in 0..255, H and W multiples of 32.
    See ``YOLOXHead`` for the outputs in training and eval mode.
    """

    def __init__(self, backbone: YOLOPAFPN, head: YOLOXHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self.head(self.backbone(images))
