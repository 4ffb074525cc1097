"""SimOTA label assignment, as in the official YOLOX head since 2023.

Candidates of a ground truth are the anchors whose centre ``((x + 0.5) s,
(y + 0.5) s)`` lies strictly inside a square of half-size ``1.5 s`` around the
ground-truth centre. The cost of pairing a ground truth with an anchor is
``BCE(sqrt(p_cls * p_obj), one_hot) + 3 (-log IoU) + 1e6 [anchor outside that
ground truth's square]``; each ground truth takes its ``k`` cheapest anchors
with ``k = max(1, int(sum of its top-min(10, n) IoUs))``, and an anchor taken
by several ground truths stays with the cheapest one.

The whole batch is assigned at once: the reference assigns image by image, and
its Python loop, with a device round trip per image, left a GPU idle most of a
training step. Each image's candidates are gathered into a padded ``(B, K)``
table (K: the most candidates of any image) and padding is priced out of every
choice, so each image gets the assignment it would get alone, from the same
element-wise arithmetic.

The official code: ``YOLOXHead.get_assignments`` and ``simota_matching`` in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/models/yolo_head.py
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from yolox_ros.training.box_ops import iou_cxcywh

CENTER_RADIUS = 1.5
IOU_COST_WEIGHT = 3.0
OUTSIDE_COST = 1e6
TOP_IOUS_FOR_K = 10
# Elements of the (images, gts, candidates, classes) class-cost tensor built at once.
CLASS_COST_CHUNK = 1 << 25


@dataclass(frozen=True)
class Assignment:
    """Which anchors are foreground and what they are matched to, per image and anchor.

    ``matched_gt`` (an index into that image's ground truths) and ``matched_iou``
    mean something only where ``foreground`` is set.
    """

    foreground: torch.Tensor  # (B, A) bool
    matched_gt: torch.Tensor  # (B, A) int64
    matched_iou: torch.Tensor  # (B, A) IoU of the anchor's predicted box with its ground truth


def true_first(mask: torch.Tensor, minimum: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's True positions first, in order, as a padded (B, W) index table.

    Returns the indices into each row of ``mask`` (B, N) and which of them are real
    (the rest are padding); W is the most True values of any row, at least ``minimum``.
    """
    counts = mask.sum(dim=1)
    width = max(int(counts.max()) if mask.shape[0] else 0, minimum)
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices[:, :width]
    real = torch.arange(width, device=mask.device)[None] < counts[:, None]
    return order, real


@torch.no_grad()
def simota_assign(
    pred_boxes: torch.Tensor,
    cls_logits: torch.Tensor,
    obj_logits: torch.Tensor,
    anchor_centers: torch.Tensor,
    anchor_strides: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_classes: torch.Tensor,
    gt_valid: torch.Tensor,
) -> Assignment:
    """Assign the anchors of a batch of images to their ground truths.

    Args:
        pred_boxes: (B, A, 4) predicted cx, cy, w, h in input pixels.
        cls_logits: (B, A, C) class logits.
        obj_logits: (B, A) objectness logits.
        anchor_centers: (A, 2) anchor centres ``((x + 0.5) s, (y + 0.5) s)``.
        anchor_strides: (A,) stride of each anchor.
        gt_boxes: (B, G, 4) ground truths cx, cy, w, h.
        gt_classes: (B, G) class ids.
        gt_valid: (B, G) bool, False for padding rows.
    """
    batch, num_anchors, num_classes = cls_logits.shape
    device = pred_boxes.device
    foreground = torch.zeros(batch, num_anchors, dtype=torch.bool, device=device)
    matched_gt = torch.zeros(batch, num_anchors, dtype=torch.int64, device=device)
    matched_iou = torch.zeros(batch, num_anchors, dtype=pred_boxes.dtype, device=device)
    nothing = Assignment(foreground, matched_gt, matched_iou)

    half_size = CENTER_RADIUS * anchor_strides.float()
    anchors, gts = anchor_centers.float(), gt_boxes.float()
    # One axis at a time: a (B, G, A) temporary each, not (B, G, A, 2).
    in_center = (anchors[:, 0] - gts[:, :, None, 0]).abs() < half_size
    in_center &= (anchors[:, 1] - gts[:, :, None, 1]).abs() < half_size
    in_center &= gt_valid[:, :, None]  # (B, G, A)
    # Each image's candidates first, in anchor order; then padding columns.
    candidates, real = true_first(in_center.any(dim=1))  # (B, K)
    if candidates.shape[1] == 0:
        # No boxes, or every box off the anchor grid (centre outside the input): nothing to learn.
        return nothing
    candidate_counts = real.sum(dim=1)  # (B,)
    in_center = in_center.gather(2, candidates[:, None].expand(-1, in_center.shape[1], -1))

    def per_candidate(values: torch.Tensor) -> torch.Tensor:
        index = candidates[..., None].expand(-1, -1, values.shape[-1])
        return values.float().gather(1, index)

    boxes = per_candidate(pred_boxes)  # (B, K, 4)
    ious = iou_cxcywh(gt_boxes.float()[:, :, None], boxes[:, None])  # (B, G, K)
    probs = (
        per_candidate(cls_logits).sigmoid() * per_candidate(obj_logits[..., None]).sigmoid()
    ).sqrt()  # (B, K, C)
    # Summed in the reference's order, so that the costs are the same to the last bit.
    cost = (
        _class_cost(probs, gt_classes, num_classes)
        + IOU_COST_WEIGHT * -torch.log(ious + 1e-8)
        + OUTSIDE_COST * (~in_center).float()
    )
    pairable = gt_valid[:, :, None] & real[:, None]  # (B, G, K)
    cost.masked_fill_(~pairable, torch.inf)
    ious.masked_fill_(~pairable, 0.0)

    matching = _dynamic_k_matching(cost, ious, candidate_counts, gt_valid)
    taken = matching.any(dim=1)  # (B, K)
    gt_of_candidate = matching.to(torch.uint8).argmax(dim=1)  # (B, K)
    iou_of_candidate = ious.gather(1, gt_of_candidate[:, None]).squeeze(1)
    foreground.scatter_(1, candidates, taken)
    matched_gt.scatter_(1, candidates, gt_of_candidate)
    matched_iou.scatter_(1, candidates, iou_of_candidate.to(matched_iou.dtype))
    return Assignment(foreground, matched_gt, matched_iou)


def _class_cost(probs: torch.Tensor, gt_classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, G, K): BCE of each candidate's ``probs`` (B, K, C) against each gt's one-hot class."""
    batch, width, _ = probs.shape
    num_gt = gt_classes.shape[1]
    one_hot = F.one_hot(gt_classes.long().clamp(min=0), num_classes).float()  # (B, G, C)
    step = max(1, CLASS_COST_CHUNK // max(num_gt * width * num_classes, 1))
    parts = []
    for first in range(0, batch, step):
        chunk = slice(first, first + step)
        shape = (-1, num_gt, width, num_classes)
        parts.append(
            F.binary_cross_entropy(
                probs[chunk, None].expand(shape),
                one_hot[chunk, :, None].expand(shape),
                reduction="none",
            ).sum(dim=-1)
        )
    return torch.cat(parts)


def _dynamic_k_matching(
    cost: torch.Tensor, ious: torch.Tensor, candidate_counts: torch.Tensor, gt_valid: torch.Tensor
) -> torch.Tensor:
    """(B, G, K) bool: each gt's ``k`` cheapest anchors; a contested anchor goes to its cheapest gt.

    Padding is priced out: ``cost`` is infinite and ``ious`` zero wherever a gt or a
    candidate column is padding.
    """
    top_count = min(TOP_IOUS_FOR_K, ious.shape[2])
    top_ious, _ = torch.topk(ious, top_count, dim=2)
    # A box may have fewer candidates than its k (a box mostly off the grid).
    dynamic_ks = torch.minimum(
        top_ious.sum(dim=2).int().clamp(min=1), candidate_counts[:, None].int()
    )
    dynamic_ks = dynamic_ks * gt_valid  # padding gts take nothing
    most = int(dynamic_ks.max())
    _, cheapest = torch.topk(cost, most, dim=2, largest=False)  # (B, G, most)
    chosen = torch.arange(most, device=cost.device) < dynamic_ks[..., None]
    matching = torch.zeros_like(cost, dtype=torch.bool)
    matching.scatter_(2, cheapest, chosen)
    contested = matching.sum(dim=1, keepdim=True) > 1  # (B, 1, K)
    cheapest_gt = cost.argmin(dim=1, keepdim=True)  # (B, 1, K)
    owner = torch.arange(cost.shape[1], device=cost.device)[None, :, None] == cheapest_gt
    return torch.where(contested, owner, matching)
