"""The YOLOX training loss (reference section 7).

``total = (5 * sum(1 - IoU^2) + sum BCE(obj) + sum BCE(cls) + sum L1) / num_fg``:
IoU over foreground anchors, objectness over all anchors (hard 0/1 target),
classes over foreground anchors with the target ``one_hot * IoU(pred, gt)``,
L1 on the raw box regression only when ``use_l1`` (the last, no-augmentation
epochs). ``num_fg`` is the number of foreground anchors in the batch (min 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from yolox_ros.model.head import anchor_points, decode_boxes
from yolox_ros.training.box_ops import iou_cxcywh
from yolox_ros.training.simota import simota_assign

IOU_LOSS_WEIGHT = 5.0


@dataclass(frozen=True)
class LossTerms:
    """The total to back-propagate and its parts (divided by ``num_fg``; ``iou`` has the x5)."""

    total: torch.Tensor
    iou: torch.Tensor
    obj: torch.Tensor
    cls: torch.Tensor
    l1: torch.Tensor
    num_fg: int
    num_gt: int

    def values(self) -> dict[str, float]:
        """The terms as plain numbers, for logging."""
        return {
            name: float(getattr(self, name).detach())
            for name in ("total", "iou", "obj", "cls", "l1")
        }


def yolox_loss(
    outputs: Sequence[torch.Tensor], targets: torch.Tensor, strides: Sequence[int], use_l1: bool
) -> LossTerms:
    """Loss of a batch.

    Args:
        outputs: the head's training outputs, one [B, 5+C, H, W] per stride.
        targets: [B, M, 5] rows ``class, cx, cy, w, h`` in input pixels; ``w <= 0``: padding.
        strides: the stride of each output.
        use_l1: add the L1 loss on the raw regression.
    """
    level_shapes = [(out.shape[2], out.shape[3]) for out in outputs]
    raw = torch.cat([out.flatten(start_dim=2) for out in outputs], dim=2).permute(
        0, 2, 1
    )  # [B, N, 5+C]
    decoded = decode_boxes(raw, level_shapes, strides)
    grid, anchor_strides = anchor_points(level_shapes, strides, raw.device)
    centers = (grid + 0.5) * anchor_strides[:, None]
    num_classes = raw.shape[2] - 5

    fg_masks, cls_targets, box_targets, l1_targets = [], [], [], []
    num_gt = 0
    for image in range(raw.shape[0]):
        gts = targets[image][targets[image, :, 3] > 0]
        num_gt += gts.shape[0]
        assignment = simota_assign(
            decoded[image, :, :4].detach(),
            raw[image, :, 5:].detach(),
            raw[image, :, 4].detach(),
            centers,
            anchor_strides,
            gts[:, 1:5],
            gts[:, 0].long(),
        )
        fg_masks.append(assignment.foreground)
        matched = gts[assignment.matched_gt]
        one_hot = F.one_hot(matched[:, 0].long(), num_classes).to(raw.dtype)
        cls_targets.append(one_hot * assignment.matched_iou[:, None])
        box_targets.append(matched[:, 1:5])
        fg_stride = anchor_strides[assignment.foreground][:, None]
        l1_targets.append(
            torch.cat(
                (
                    matched[:, 1:3] / fg_stride - grid[assignment.foreground],
                    torch.log(matched[:, 3:5] / fg_stride + 1e-8),
                ),
                dim=1,
            )
        )
    foreground = torch.stack(fg_masks)  # [B, N]
    cls_target = torch.cat(cls_targets)
    box_target = torch.cat(box_targets)
    num_fg_anchors = int(foreground.sum())
    num_fg = max(num_fg_anchors, 1)

    fg_boxes = decoded[..., :4][foreground]
    iou = iou_cxcywh(fg_boxes, box_target)
    loss_iou = IOU_LOSS_WEIGHT * (1 - iou**2).sum() / num_fg
    loss_obj = (
        F.binary_cross_entropy_with_logits(raw[..., 4], foreground.to(raw.dtype), reduction="sum")
        / num_fg
    )
    loss_cls = (
        F.binary_cross_entropy_with_logits(raw[..., 5:][foreground], cls_target, reduction="sum")
        / num_fg
    )
    if use_l1:
        loss_l1 = (raw[..., :4][foreground] - torch.cat(l1_targets)).abs().sum() / num_fg
    else:
        loss_l1 = raw.new_zeros(())
    return LossTerms(
        total=loss_iou + loss_obj + loss_cls + loss_l1,
        iou=loss_iou,
        obj=loss_obj,
        cls=loss_cls,
        l1=loss_l1,
        num_fg=num_fg_anchors,
        num_gt=num_gt,
    )
