"""Decoding, score filtering, NMS and mapping back, against the official behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from yolox_ros.core.postprocess import (
    PostprocessSettings,
    anchor_count,
    anchor_grid,
    batched_nms,
    decode_outputs,
    looks_decoded,
    nms,
    select_detections,
    to_image_pixels,
    visible_in_image,
)


def test_decode_matches_the_official_decode(golden_io):
    decoded = decode_outputs(golden_io["raw_output"], (416, 416))
    np.testing.assert_allclose(decoded, golden_io["decoded_output"], rtol=1e-6, atol=1e-4)


def test_anchor_order_is_level_then_row_major():
    grid, strides = anchor_grid((416, 416))
    assert anchor_count((416, 416)) == grid.shape[0] == 3549
    assert anchor_count((640, 640)) == 8400
    assert grid[0].tolist() == [0, 0] and strides[0, 0] == 8
    assert grid[1].tolist() == [1, 0]  # x varies fastest
    assert grid[52].tolist() == [0, 1]  # 52 cells per row at stride 8
    assert grid[52 * 52].tolist() == [0, 0] and strides[52 * 52, 0] == 16
    assert grid[-1].tolist() == [12, 12] and strides[-1, 0] == 32


def test_anchor_grid_of_a_non_square_input():
    grid, strides = anchor_grid((384, 640))
    assert grid.shape[0] == anchor_count((384, 640)) == 48 * 80 + 24 * 40 + 12 * 20
    assert grid[80].tolist() == [0, 1]
    assert grid[-1].tolist() == [19, 11] and strides[-1, 0] == 32


def test_hand_decoded_anchor():
    row = 52 * 52 + 3 * 26 + 5  # stride 16, cell x=5, y=3
    raw = np.zeros((1, 3549, 6), np.float32)
    raw[0, row, :4] = [0.5, 0.25, np.log(2.0), 0.0]
    decoded = decode_outputs(raw, (416, 416))
    np.testing.assert_allclose(
        decoded[0, row, :4], [(5 + 0.5) * 16, (3 + 0.25) * 16, 32, 16], rtol=1e-6
    )


def test_decoded_or_raw_output_is_told_apart(golden_io):
    assert not looks_decoded(golden_io["raw_output"], (416, 416))
    assert looks_decoded(golden_io["decoded_output"], (416, 416))


def test_nms_keeps_the_best_of_overlapping_boxes_and_disjoint_ones():
    boxes = np.array(
        [[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32
    )
    scores = np.array([0.8, 0.9, 0.7, 0.3], np.float32)
    # IoU(0,1) = 90/110 = 0.82; IoU(1,3) = 90/115 = 0.78.
    assert nms(boxes, scores, 0.5, 100).tolist() == [1, 2]
    assert nms(boxes, scores, 0.85, 100).tolist() == [1, 0, 2]
    assert nms(boxes, scores, 0.85, 2).tolist() == [1, 0]


def test_nms_suppresses_only_above_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU exactly 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 1 / 3 + 1e-6, 100).tolist() == [0, 1]
    assert nms(boxes, scores, 0.3, 100).tolist() == [0]


def test_nms_of_degenerate_boxes_does_not_divide_by_zero():
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 1, 1]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    with np.errstate(all="raise"):
        assert nms(boxes, scores, 0.45, 100).tolist() == [0, 1, 2]


def test_class_aware_nms_keeps_overlapping_boxes_of_different_classes():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    class_ids = np.array([0, 1, 0])
    assert batched_nms(boxes, scores, class_ids, 0.45, 100).tolist() == [0, 1]
    assert nms(boxes, scores, 0.45, 100).tolist() == [0]


def _output(rows: list[tuple[list[float], float, list[float]]]) -> np.ndarray:
    """A decoded [N, 5+C] output at 416x416 with the given (cxcywh, obj, class probs) first rows."""
    output = np.zeros((3549, 5 + len(rows[0][2])), np.float32)
    for index, (box, objectness, classes) in enumerate(rows):
        output[index] = [*box, objectness, *classes]
    return output


def test_score_is_objectness_times_best_class_and_threshold_is_inclusive():
    output = _output(
        [
            ([50, 50, 20, 20], 0.5, [0.2, 0.6, 0.1]),  # 0.3 -> kept at conf 0.3
            ([150, 50, 20, 20], 0.9, [0.3, 0.1, 0.2]),  # 0.27 -> dropped
            ([250, 50, 20, 20], 0.2, [1.0, 0.0, 0.0]),  # 0.2 -> dropped
        ]
    )
    settings = PostprocessSettings(conf_threshold=0.5 * np.float32(0.6))
    boxes, scores, class_ids = select_detections(output, (416, 416), True, settings)
    np.testing.assert_allclose(boxes, [[40, 40, 60, 60]])
    np.testing.assert_allclose(scores, [0.3], rtol=1e-6)
    assert class_ids.tolist() == [1]


def test_one_class_per_anchor_and_class_filter_applies_after_the_choice():
    output = _output([([50, 50, 20, 20], 1.0, [0.9, 0.8, 0.0])])
    keep_class_1 = PostprocessSettings(
        conf_threshold=0.1, class_mask=np.array([False, True, False])
    )
    boxes, _, _ = select_detections(output, (416, 416), True, keep_class_1)
    assert boxes.shape == (0, 4)  # the anchor is class 0; it is not relabelled as class 1
    all_classes = PostprocessSettings(conf_threshold=0.1)
    _, _, class_ids = select_detections(output, (416, 416), True, all_classes)
    assert class_ids.tolist() == [0]


def test_filtered_out_classes_do_not_suppress_wanted_ones():
    output = _output(
        [
            ([50, 50, 20, 20], 1.0, [0.9, 0.0]),
            ([51, 50, 20, 20], 1.0, [0.0, 0.5]),
        ]
    )
    settings = PostprocessSettings(
        conf_threshold=0.1, class_agnostic=True, class_mask=np.array([False, True])
    )
    _, scores, class_ids = select_detections(output, (416, 416), True, settings)
    assert class_ids.tolist() == [1] and scores.tolist() == [0.5]


def test_agnostic_and_class_aware_nms_and_max_detections():
    output = _output(
        [
            ([50, 50, 20, 20], 1.0, [0.9, 0.0]),
            ([51, 50, 20, 20], 1.0, [0.0, 0.8]),
            ([200, 200, 20, 20], 1.0, [0.7, 0.0]),
        ]
    )
    aware = select_detections(output, (416, 416), True, PostprocessSettings(conf_threshold=0.1))
    assert aware[2].tolist() == [0, 1, 0]
    agnostic = PostprocessSettings(conf_threshold=0.1, class_agnostic=True)
    assert select_detections(output, (416, 416), True, agnostic)[2].tolist() == [0, 0]
    capped = PostprocessSettings(conf_threshold=0.1, max_detections=1)
    _, scores, _ = select_detections(output, (416, 416), True, capped)
    np.testing.assert_allclose(scores, [0.9])


def test_raw_output_is_decoded_before_selection(golden_io):
    settings = PostprocessSettings(conf_threshold=0.001, nms_threshold=0.45)
    from_raw = select_detections(golden_io["raw_output"][0], (416, 416), False, settings)
    from_decoded = select_detections(golden_io["decoded_output"][0], (416, 416), True, settings)
    assert from_raw[0].shape[0] > 10
    np.testing.assert_allclose(from_raw[0], from_decoded[0], atol=1e-3)
    np.testing.assert_array_equal(from_raw[2], from_decoded[2])


def test_mapping_back_divides_by_the_ratio_and_clips_to_the_image():
    boxes = np.array([[-5, 10, 100, 50], [300, 200, 420, 416]], np.float32)
    mapped = to_image_pixels(boxes, 0.65, (480, 640))
    np.testing.assert_allclose(
        mapped,
        [[0, 10 / 0.65, 100 / 0.65, 50 / 0.65], [300 / 0.65, 200 / 0.65, 640, 480]],
        rtol=1e-6,
    )
    assert mapped.dtype == np.float32


def greedy_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Plain per-pair greedy NMS, the definition the vectorised one must match."""

    def iou(a, b):
        inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = inter_w * inter_h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    kept: list[int] = []
    for index in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if all(iou(boxes[index], boxes[k]) <= iou_threshold for k in kept):
            kept.append(index)
    return kept


@pytest.mark.parametrize("count", [5, 64, 65, 300])
def test_nms_matches_plain_greedy_nms_on_many_boxes(count):
    rng = np.random.default_rng(count)
    corners = rng.uniform(0, 200, (count, 2))
    boxes = np.concatenate((corners, corners + rng.uniform(5, 60, (count, 2))), axis=1)
    scores = rng.permutation(count).astype(np.float32) / count  # distinct: one right order
    expected = greedy_reference(boxes, scores, 0.45)
    assert nms(boxes.astype(np.float32), scores, 0.45, 1000).tolist() == expected
    assert nms(boxes.astype(np.float32), scores, 0.45, 7).tolist() == expected[:7]


def test_non_finite_boxes_are_not_detections():
    output = np.zeros((3, 7), np.float32)
    output[:, 4] = 0.9  # objectness
    output[:, 5] = 0.9  # class 0
    output[0, :4] = [50, 50, 20, 20]
    output[1, :4] = [np.inf, 50, 20, 20]
    output[2, :4] = [60, 60, np.nan, 10]
    settings = PostprocessSettings(conf_threshold=0.1)
    boxes, scores, class_ids = select_detections(output, (416, 416), True, settings)
    np.testing.assert_allclose(boxes, [[40, 40, 60, 60]])
    assert np.isfinite(scores).all() and class_ids.tolist() == [0]


def test_boxes_with_no_visible_area_are_dropped_once_mapped_to_the_image():
    # Input 416x416, image 320x240 (ratio 1.3): the second box lies in the bottom padding.
    boxes = np.array([[13, 13, 130, 130], [13, 320, 130, 400]], np.float32)
    kept, scores, class_ids = visible_in_image(
        boxes, np.array([0.9, 0.8], np.float32), np.array([1, 2]), 1.3, (240, 320)
    )
    np.testing.assert_allclose(kept, [[10, 10, 100, 100]], rtol=1e-6)
    assert scores.tolist() == pytest.approx([0.9]) and class_ids.tolist() == [1]
