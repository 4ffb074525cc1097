"""SimOTA label assignment, as in the official YOLOX head since 2023 (reference section 7).

Candidates of a ground truth are the anchors whose centre ``((x + 0.5) s,
(y + 0.5) s)`` lies strictly inside a square of half-size ``1.5 s`` around the
ground-truth centre. The cost of pairing a ground truth with an anchor is
``BCE(sqrt(p_cls * p_obj), one_hot) + 3 (-log IoU) + 1e6 [anchor outside that
ground truth's square]``; each ground truth takes its ``k`` cheapest anchors
with ``k = max(1, int(sum of its top-min(10, n) IoUs))``, and an anchor taken
by several ground truths stays with the cheapest one.
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


@dataclass(frozen=True)
class Assignment:
    """Which anchors are foreground and what they are matched to.

    ``matched_gt`` and ``matched_iou`` list the foreground anchors in anchor order.
    """

    foreground: torch.Tensor  # (A,) bool
    matched_gt: torch.Tensor  # (F,) int64 index into the ground truths
    matched_iou: torch.Tensor  # (F,) IoU of the anchor's predicted box with its ground truth


@torch.no_grad()
def simota_assign(
    pred_boxes: torch.Tensor,
    cls_logits: torch.Tensor,
    obj_logits: torch.Tensor,
    anchor_centers: torch.Tensor,
    anchor_strides: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_classes: torch.Tensor,
) -> Assignment:
    """Assign anchors of one image to its ground truths.

    Args:
        pred_boxes: (A, 4) predicted cx, cy, w, h in input pixels.
        cls_logits: (A, C) class logits.
        obj_logits: (A,) or (A, 1) objectness logits.
        anchor_centers: (A, 2) anchor centres ``((x + 0.5) s, (y + 0.5) s)``.
        anchor_strides: (A,) stride of each anchor.
        gt_boxes: (G, 4) ground truths cx, cy, w, h.
        gt_classes: (G,) class ids.
    """
    num_anchors, num_classes = cls_logits.shape
    num_gt = gt_boxes.shape[0]
    nothing = Assignment(
        foreground=torch.zeros(num_anchors, dtype=torch.bool, device=pred_boxes.device),
        matched_gt=torch.zeros(0, dtype=torch.int64, device=pred_boxes.device),
        matched_iou=torch.zeros(0, dtype=pred_boxes.dtype, device=pred_boxes.device),
    )
    if num_gt == 0:
        return nothing
    half_size = CENTER_RADIUS * anchor_strides.float()[None, :]
    offsets = (anchor_centers.float()[None, :, :] - gt_boxes.float()[:, None, :2]).abs()
    in_center = (offsets[..., 0] < half_size) & (offsets[..., 1] < half_size)  # (G, A)
    candidates = in_center.any(dim=0).nonzero().squeeze(1)  # (K,)
    if candidates.numel() == 0:
        # Every box lies off the anchor grid (centre outside the input): nothing to learn.
        return nothing
    in_center = in_center[:, candidates]

    ious = iou_cxcywh(gt_boxes.float()[:, None, :], pred_boxes.float()[candidates][None, :, :])
    probs = (
        cls_logits.float()[candidates].sigmoid()
        * obj_logits.float().reshape(-1, 1)[candidates].sigmoid()
    ).sqrt()
    one_hot = F.one_hot(gt_classes.long(), num_classes).float()
    cls_cost = F.binary_cross_entropy(
        probs[None].expand(num_gt, -1, -1),
        one_hot[:, None].expand(-1, probs.shape[0], -1),
        reduction="none",
    ).sum(dim=-1)
    cost = (
        cls_cost + IOU_COST_WEIGHT * -torch.log(ious + 1e-8) + OUTSIDE_COST * (~in_center).float()
    )

    matching = _dynamic_k_matching(cost, ious)
    taken = matching.any(dim=0)
    foreground = torch.zeros(num_anchors, dtype=torch.bool, device=pred_boxes.device)
    foreground[candidates[taken]] = True
    matched_gt = matching[:, taken].float().argmax(dim=0)
    matched_iou = ious[:, taken].gather(0, matched_gt[None]).squeeze(0)
    return Assignment(
        foreground=foreground, matched_gt=matched_gt, matched_iou=matched_iou.to(pred_boxes.dtype)
    )


def _dynamic_k_matching(cost: torch.Tensor, ious: torch.Tensor) -> torch.Tensor:
    """(G, K) bool: each gt's ``k`` cheapest anchors; a contested anchor goes to its cheapest gt."""
    top_count = min(TOP_IOUS_FOR_K, ious.shape[1])
    top_ious, _ = torch.topk(ious, top_count, dim=1)
    # A box may have fewer candidates than its k (a box mostly off the grid).
    dynamic_ks = top_ious.sum(dim=1).int().clamp(min=1, max=cost.shape[1])
    matching = torch.zeros_like(cost, dtype=torch.bool)
    for gt, k in enumerate(dynamic_ks.tolist()):
        _, cheapest = torch.topk(cost[gt], k, largest=False)
        matching[gt, cheapest] = True
    contested = matching.sum(dim=0) > 1
    if contested.any():
        cheapest_gt = cost[:, contested].argmin(dim=0)
        matching[:, contested] = False
        matching[cheapest_gt, contested.nonzero().squeeze(1)] = True
    return matching
