"""COCO metrics of detections against a dataset, and recall by object size."""

from __future__ import annotations

import pytest
from support import make_detections, needs

from yolox_ros.core.detections import Detections
from yolox_ros.datasets.metrics import (
    best_operating_point,
    evaluate_predictions,
    operating_point,
    recall_by_size,
)
from yolox_ros.datasets.records import DetectionDataset, ImageRecord

# COCO evaluation is pycocotools (a training extra: absent where only the node is installed).
with_pycocotools = needs("pycocotools")


def _dataset() -> DetectionDataset:
    records = [
        ImageRecord("a.jpg", 200, 100, 7, [[10, 10, 30, 30], [100, 20, 160, 80]], [0, 1]),
        ImageRecord("b.jpg", 200, 100, 9, [[50, 50, 58, 58]], [0], ignored=[[150, 0, 200, 40]]),
    ]
    return DetectionDataset("fixture", ("stop", "left"), records)


def _perfect() -> list[Detections]:
    return [
        make_detections([[10, 10, 30, 30], [100, 20, 160, 80]], [0.9, 0.8], [0, 1]),
        make_detections([[50, 50, 58, 58]], [0.7], [0]),
    ]


@with_pycocotools
def test_perfect_detections_score_one_for_every_class():
    metrics = evaluate_predictions(_dataset(), _perfect())
    assert metrics.ap == pytest.approx(1.0) and metrics.ap50 == pytest.approx(1.0)
    assert metrics.class_ap == pytest.approx((1.0, 1.0))
    assert len(metrics.stats) == 12


@with_pycocotools
def test_half_the_boxes_of_a_class_found_is_the_coco_interpolated_value():
    # "stop": one of two boxes found at precision 1 -> 51 of the 101 recall points.
    found = [
        make_detections([[10, 10, 30, 30], [100, 20, 160, 80]], [0.9, 0.8], [0, 1]),
        make_detections([], [], []),
    ]
    metrics = evaluate_predictions(_dataset(), found)
    assert metrics.class_ap[0] == pytest.approx(51 / 101, abs=1e-6)
    assert metrics.class_ap[1] == pytest.approx(1.0)
    assert metrics.ap == pytest.approx((51 / 101 + 1.0) / 2, abs=1e-6)


@with_pycocotools
def test_detections_in_an_ignored_region_cost_nothing():
    found = _perfect()
    found[1] = make_detections([[50, 50, 58, 58], [152, 2, 198, 38]], [0.7, 0.95], [0, 1])
    assert evaluate_predictions(_dataset(), found).ap == pytest.approx(1.0)


@with_pycocotools
def test_no_detections_at_all_is_zero_not_an_error():
    empty = [make_detections([], [], []), make_detections([], [], [])]
    assert evaluate_predictions(_dataset(), empty).ap == 0.0
    with pytest.raises(ValueError, match="1 detection lists for 2 images"):
        evaluate_predictions(_dataset(), empty[:1])


def test_recall_by_size_counts_boxes_found_above_the_threshold():
    found = _perfect()
    bins = recall_by_size(_dataset(), found, conf_threshold=0.75)
    # The 8-px box was found at 0.7 only: under the threshold.
    assert [(b.label(), b.boxes, b.found) for b in bins] == [
        ("< 16 px", 1, 0),
        ("16-32 px", 1, 1),
        (">= 32 px", 1, 1),
    ]
    wrong_class = [make_detections([[10, 10, 30, 30]], [0.9], [1]), make_detections([], [], [])]
    assert [b.found for b in recall_by_size(_dataset(), wrong_class, 0.3)] == [0, 0, 0]


def test_operating_point_is_what_a_node_at_that_threshold_publishes():
    found = _perfect()
    found[0] = make_detections(
        [[10, 10, 30, 30], [100, 20, 160, 80], [0, 60, 20, 90]], [0.9, 0.8, 0.6], [0, 1, 0]
    )
    at_half = operating_point(_dataset(), found, 0.5)  # 3 of 3 boxes in 4 detections
    assert (at_half.precision, at_half.recall) == (0.75, 1.0)
    at_three_quarters = operating_point(_dataset(), found, 0.75)  # the 8-px one (0.7) dropped
    assert (at_three_quarters.precision, at_three_quarters.recall) == (1.0, pytest.approx(2 / 3))
    best = best_operating_point(_dataset(), found, thresholds=(0.5, 0.65, 0.75))
    assert best.threshold == 0.65 and best.f1 == 1.0  # every box, the stray one left out
