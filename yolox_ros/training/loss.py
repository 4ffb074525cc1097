"""The YOLOX training loss.

``total = (5 * sum(1 - IoU^2) + sum BCE(obj) + sum BCE(cls) + sum L1) / num_fg``:
IoU over foreground anchors, objectness over all anchors (hard 0/1 target),
classes over foreground anchors with the target ``one_hot * IoU(pred, gt)``,
L1 on the raw box regression only when ``use_l1`` (the last, no-augmentation
epochs). ``num_fg`` is the number of foreground anchors in the batch (min 1).

The official code: ``YOLOXHead.get_losses`` in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/models/yolo_head.py
and ``IOUloss`` in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/models/losses.py
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from yolox_ros.model.head import anchor_points, decode_boxes
from yolox_ros.training.box_ops import iou_cxcywh
from yolox_ros.training.simota import simota_assign, true_first

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
        """The terms as plain numbers, for logging (one device round trip for all five)."""
        names = ("total", "iou", "obj", "cls", "l1")
        numbers = torch.stack([getattr(self, name).detach().float() for name in names]).tolist()
        return dict(zip(names, numbers, strict=True))


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

    gts, gt_valid = _packed_ground_truths(targets)
    assignment = simota_assign(
        decoded[..., :4].detach(),
        raw[..., 5:].detach(),
        raw[..., 4].detach(),
        centers,
        anchor_strides,
        gts[..., 1:5],
        gts[..., 0].long(),
        gt_valid,
    )
    foreground = assignment.foreground  # [B, N]
    # Foreground anchors image by image, each in anchor order.
    matched = gts.gather(1, assignment.matched_gt[..., None].expand(-1, -1, 5))[foreground]
    matched_iou = assignment.matched_iou[foreground]
    one_hot = F.one_hot(matched[:, 0].long(), num_classes).to(raw.dtype)
    cls_target = one_hot * matched_iou[:, None]
    box_target = matched[:, 1:5]
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
        anchor_index = foreground.nonzero()[:, 1]
        fg_stride = anchor_strides[anchor_index][:, None]
        l1_target = torch.cat(
            (
                box_target[:, 0:2] / fg_stride - grid[anchor_index],
                torch.log(box_target[:, 2:4] / fg_stride + 1e-8),
            ),
            dim=1,
        )
        loss_l1 = (raw[..., :4][foreground] - l1_target).abs().sum() / num_fg
    else:
        loss_l1 = raw.new_zeros(())
    return LossTerms(
        total=loss_iou + loss_obj + loss_cls + loss_l1,
        iou=loss_iou,
        obj=loss_obj,
        cls=loss_cls,
        l1=loss_l1,
        num_fg=num_fg_anchors,
        num_gt=int(gt_valid.sum()),
    )


def _packed_ground_truths(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, G, 5] rows with each image's boxes first, in their order, and [B, G] which are real.

    G is the most boxes of any image (at least 1), not the padded row count (120).
    """
    order, real = true_first(targets[..., 3] > 0, minimum=1)
    return targets.gather(1, order[..., None].expand(-1, -1, 5)), real
