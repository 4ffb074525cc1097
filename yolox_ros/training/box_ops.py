"""IoU of boxes given as (cx, cy, w, h), shared by label assignment and the loss."""

from __future__ import annotations

import torch


def iou_cxcywh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of ``a`` and ``b`` ([..., 4] cx, cy, w, h), broadcast against each other.

    Pairwise IoU of G and A boxes: ``iou_cxcywh(a[:, None], b[None])`` -> [G, A].
    """
    top_left = torch.maximum(a[..., :2] - a[..., 2:] / 2, b[..., :2] - b[..., 2:] / 2)
    bottom_right = torch.minimum(a[..., :2] + a[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2)
    intersection = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    union = a[..., 2:].prod(dim=-1) + b[..., 2:].prod(dim=-1) - intersection
    return intersection / (union + 1e-16)
