"""SimOTA label assignment."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from yolox_ros.training.simota import simota_assign


def _assign(anchor_centers, pred_boxes, gt_boxes, gt_classes, cls_logits=None, num_classes=2):
    """One image's assignment, with a padding ground truth after the real ones."""
    anchors = torch.tensor(anchor_centers, dtype=torch.float32)
    if cls_logits is None:
        cls_logits = torch.zeros(len(anchors), num_classes)
    gt_boxes = torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    padding = torch.tensor([[50.0, 50.0, 0.0, 0.0]])  # would be a candidate if it counted
    result = simota_assign(
        pred_boxes=torch.tensor(pred_boxes, dtype=torch.float32)[None],
        cls_logits=torch.as_tensor(cls_logits, dtype=torch.float32)[None],
        obj_logits=torch.zeros(1, len(anchors)),
        anchor_centers=anchors,
        anchor_strides=torch.full((len(anchors),), 8.0),
        gt_boxes=torch.cat((gt_boxes, padding))[None],
        gt_classes=torch.tensor([*gt_classes, 0])[None],
        gt_valid=torch.tensor([True] * len(gt_classes) + [False])[None],
    )
    foreground = result.foreground[0]
    return SimpleNamespace(
        foreground=foreground,
        matched_gt=result.matched_gt[0][foreground],
        matched_iou=result.matched_iou[0][foreground],
    )


def _concentric(box, iou):
    """A box with the same centre whose IoU with ``box`` is ``iou`` (sides scaled by sqrt)."""
    scale = math.sqrt(iou)
    return [box[0], box[1], box[2] * scale, box[3] * scale]


GT = [50.0, 50.0, 20.0, 20.0]
FAR_TINY = [400.0, 400.0, 1.0, 1.0]  # a prediction overlapping nothing


def test_simota_candidates_dynamic_k_and_cheapest_anchors():
    # Anchors 0..2 lie within 1.5 * stride = 12 px of the gt centre, 3 and 4 do not,
    # though anchor 3 predicts the gt perfectly.
    centers = [[44, 44], [52, 52], [60, 60], [68, 50], [50, 30]]
    preds = [_concentric(GT, 0.5), GT, _concentric(GT, 0.9), GT, GT]
    result = _assign(centers, preds, [GT], [1])
    # k = int(1.0 + 0.9 + 0.5) = 2: the two best candidates.
    assert result.foreground.tolist() == [False, True, True, False, False]
    assert result.matched_gt.tolist() == [0, 0]
    np.testing.assert_allclose(result.matched_iou.numpy(), [1.0, 0.9], atol=1e-5)


def test_simota_takes_at_least_one_anchor():
    centers = [[44, 44], [52, 52]]
    result = _assign(centers, [_concentric(GT, 0.3), _concentric(GT, 0.2)], [GT], [0])
    assert result.foreground.tolist() == [True, False]


def test_simota_prefers_the_anchor_predicting_the_right_class():
    centers = [[44, 44], [52, 52]]
    preds = [_concentric(GT, 0.95), _concentric(GT, 0.95)]
    cls_logits = [[-4.0, 4.0], [4.0, -4.0]]  # anchor 0 says class 1, anchor 1 says class 0
    result = _assign(centers, preds, [GT], [0], cls_logits=cls_logits)
    assert result.foreground.tolist() == [False, True]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_simota_contested_anchor_goes_to_the_cheapest_gt(order):
    gt_a, gt_b = GT, [54.0, 50.0, 20.0, 20.0]
    gts = [[gt_a, gt_b][i] for i in order]
    # Anchor 0 predicts gt_a exactly (IoU 0.67 with gt_b); anchor 1 predicts nothing useful.
    # Both gts get k = 1 and want anchor 0; it stays with gt_a.
    result = _assign([[52, 52], [50, 48]], [gt_a, FAR_TINY], gts, [0, 0])
    assert result.foreground.tolist() == [True, False]
    assert result.matched_gt.tolist() == [order.index(0)]
    np.testing.assert_allclose(result.matched_iou.numpy(), [1.0], atol=1e-6)


def test_simota_outside_penalty_keeps_a_gt_off_other_gts_anchors():
    # Anchor 1 is inside gt_b's square only; it predicts gt_a perfectly, but gt_a must
    # use its own candidate (anchor 0) because anchor 1 is outside gt_a's square.
    gt_a, gt_b = [20.0, 20.0, 16.0, 16.0], [60.0, 20.0, 16.0, 16.0]
    result = _assign([[20, 20], [60, 20]], [_concentric(gt_a, 0.4), gt_a], [gt_a, gt_b], [0, 1])
    assert result.foreground.tolist() == [True, True]
    assert result.matched_gt.tolist() == [0, 1]


def test_simota_without_ground_truth_assigns_nothing():
    result = _assign([[4, 4]], [GT], torch.zeros(0, 4).tolist(), [])
    assert not result.foreground.any() and len(result.matched_gt) == 0


def test_simota_assigns_each_image_of_a_batch_as_it_would_alone():
    # Images with different numbers of boxes and of candidate anchors share padded tables.
    generator = torch.Generator().manual_seed(0)
    side, stride, classes = 16, 8.0, 3
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    centers = (torch.stack((xs, ys), dim=-1).reshape(-1, 2).float() + 0.5) * stride
    anchors = centers.shape[0]
    pred = torch.cat((centers, torch.rand(anchors, 2, generator=generator) * 30 + 4), dim=1)
    gt_counts = (3, 0, 1, 5)
    batch = len(gt_counts)
    gts = torch.zeros(batch, max(gt_counts), 4)
    classes_of = torch.zeros(batch, max(gt_counts), dtype=torch.long)
    valid = torch.zeros(batch, max(gt_counts), dtype=torch.bool)
    for image, count in enumerate(gt_counts):
        gts[image, :count, :2] = torch.rand(count, 2, generator=generator) * side * stride
        gts[image, :count, 2:] = torch.rand(count, 2, generator=generator) * 40 + 8
        classes_of[image, :count] = torch.randint(0, classes, (count,), generator=generator)
        valid[image, :count] = True
    preds = pred[None].repeat(batch, 1, 1) + torch.randn(batch, anchors, 4, generator=generator)
    cls_logits = torch.randn(batch, anchors, classes, generator=generator)
    obj_logits = torch.randn(batch, anchors, generator=generator)
    strides = torch.full((anchors,), stride)

    together = simota_assign(
        preds, cls_logits, obj_logits, centers, strides, gts, classes_of, valid
    )
    assert together.foreground.sum() > 0
    for image, count in enumerate(gt_counts):
        alone = simota_assign(
            preds[image : image + 1],
            cls_logits[image : image + 1],
            obj_logits[image : image + 1],
            centers,
            strides,
            gts[image : image + 1, :count],
            classes_of[image : image + 1, :count],
            valid[image : image + 1, :count],
        )
        foreground = alone.foreground[0]
        assert torch.equal(together.foreground[image], foreground)
        assert torch.equal(together.matched_gt[image][foreground], alone.matched_gt[0][foreground])
        assert torch.equal(
            together.matched_iou[image][foreground], alone.matched_iou[0][foreground]
        )
