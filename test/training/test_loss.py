"""The YOLOX loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from yolox_ros.training.loss import yolox_loss


def _single_level_output(iou: float, num_classes: int = 3) -> torch.Tensor:
    """A 2x2 stride-8 output where anchor (0, 0) predicts a box concentric with the gt below."""
    output = torch.zeros(1, 5 + num_classes, 2, 2)
    output[0, 0:2] = 0.0
    output[0, 2:4] = -6.0  # other anchors: tiny boxes, IoU 0
    output[0, 0:2, 0, 0] = 0.5  # centre (4, 4)
    output[0, 2:4, 0, 0] = math.log(math.sqrt(iou))  # 8 * sqrt(iou) wide: IoU = iou
    output[0, 4] = torch.tensor([[1.0, -2.0], [-1.0, 0.5]])
    output[0, 5:, 0, 0] = torch.tensor([0.3, -0.2, 1.0])
    return output


def test_loss_on_a_hand_checked_case():
    iou = 0.64
    output = _single_level_output(iou).requires_grad_()
    targets = torch.zeros(1, 4, 5)
    targets[0, 0] = torch.tensor([1.0, 4.0, 4.0, 8.0, 8.0])  # class 1, box (0, 0, 8, 8)
    terms = yolox_loss([output], targets, strides=(8,), use_l1=True)

    assert terms.num_fg == 1 and terms.num_gt == 1
    obj_logits = torch.tensor([1.0, -2.0, -1.0, 0.5])
    obj_target = torch.tensor([1.0, 0.0, 0.0, 0.0])
    expected_obj = F.binary_cross_entropy_with_logits(obj_logits, obj_target, reduction="sum")
    expected_cls = F.binary_cross_entropy_with_logits(
        torch.tensor([0.3, -0.2, 1.0]), torch.tensor([0.0, iou, 0.0]), reduction="sum"
    )
    values = terms.values()
    assert values["iou"] == pytest.approx(5 * (1 - iou**2), rel=1e-5)
    assert values["obj"] == pytest.approx(float(expected_obj), rel=1e-5)
    assert values["cls"] == pytest.approx(float(expected_cls), rel=1e-5)
    # Raw (0.5, 0.5, log 0.8, log 0.8) against (4/8 - 0, 4/8 - 0, log 1, log 1).
    assert values["l1"] == pytest.approx(2 * abs(math.log(0.8)), rel=1e-5)
    assert values["total"] == pytest.approx(
        values["iou"] + values["obj"] + values["cls"] + values["l1"], rel=1e-6
    )
    terms.total.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0


def test_loss_without_objects_only_pushes_objectness_down():
    output = _single_level_output(0.5).requires_grad_()
    terms = yolox_loss([output], torch.zeros(1, 4, 5), strides=(8,), use_l1=False)
    assert terms.num_fg == 0
    values = terms.values()
    assert values["iou"] == 0 and values["cls"] == 0 and values["l1"] == 0
    terms.total.backward()
    assert torch.all(output.grad[0, 4] > 0)  # every objectness logit is pushed down


def test_loss_reads_boxes_wherever_the_padding_rows_are():
    output = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[1.0, 8.0, 8.0, 10.0, 12.0], [2.0, 20.0, 16.0, 8.0, 8.0]])
    packed = torch.zeros(2, 5, 5)
    packed[0, :2] = boxes
    packed[1, :1] = boxes[1]
    scattered = torch.zeros(2, 5, 5)
    scattered[0, 1], scattered[0, 4] = boxes
    scattered[1, 3] = boxes[1]
    first = yolox_loss([output], packed, strides=(8,), use_l1=True)
    second = yolox_loss([output], scattered, strides=(8,), use_l1=True)
    assert first.num_gt == second.num_gt == 3 and first.num_fg > 0
    assert first.values() == second.values()
