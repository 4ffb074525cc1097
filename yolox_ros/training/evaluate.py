"""Detection accuracy: COCO-style mean average precision, computed in numpy.

AP of a class at one IoU threshold: detections sorted by score, each matched
to the unmatched ground truth it overlaps most if that IoU >= threshold,
precision made monotone, then averaged at 101 recall points (as COCO).
``mAP50`` averages over classes with ground truths at IoU 0.5, ``mAP50_95`` also
over the thresholds 0.50:0.05:0.95.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from yolox_ros.core.postprocess import PostprocessSettings, select_detections, to_image_pixels
from yolox_ros.core.preprocess import LetterboxBuffers

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0, 1, 101)
# As the official evaluator: keep almost everything, class-aware NMS at 0.65.
EVAL_SETTINGS = PostprocessSettings(conf_threshold=0.01, nms_threshold=0.65, max_detections=300)


@dataclass(frozen=True)
class ImageResult:
    """Boxes x1, y1, x2, y2 (pixels) with class ids, and scores for predictions."""

    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray | None = None


@dataclass(frozen=True)
class MeanAP:
    map50: float
    map50_95: float
    ap50_per_class: tuple[float, ...]  # NaN for classes without ground truth


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU [len(a), len(b)] of x1, y1, x2, y2 boxes."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return intersection / np.maximum(area_a[:, None] + area_b[None, :] - intersection, 1e-12)


def average_precision(is_true: np.ndarray, scores: np.ndarray, num_gt: int) -> float:
    """101-point interpolated AP of detections flagged true/false positive."""
    if is_true.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    true_positives = np.cumsum(is_true[order])
    false_positives = np.cumsum(~is_true[order])
    recall = true_positives / num_gt
    precision = true_positives / np.maximum(true_positives + false_positives, 1e-12)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    positions = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(
        positions < precision.size, precision[np.minimum(positions, precision.size - 1)], 0.0
    )
    return float(sampled.mean())


def _match(
    predictions: Sequence[ImageResult],
    truths: Sequence[ImageResult],
    class_id: int,
    threshold: float,
):
    flags, scores, num_gt = [], [], 0
    for pred, truth in zip(predictions, truths, strict=True):
        gt_boxes = truth.boxes[truth.class_ids == class_id]
        num_gt += len(gt_boxes)
        selected = pred.class_ids == class_id
        boxes, image_scores = pred.boxes[selected], pred.scores[selected]
        order = np.argsort(-image_scores, kind="stable")
        taken = np.zeros(len(gt_boxes), bool)
        ious = box_iou(boxes[order], gt_boxes) if len(gt_boxes) else np.zeros((len(order), 0))
        for row in range(len(order)):
            candidates = np.where(taken, -1.0, ious[row]) if len(gt_boxes) else ious[row]
            best = int(candidates.argmax()) if candidates.size else -1
            hit = best >= 0 and candidates[best] >= threshold
            if hit:
                taken[best] = True
            flags.append(hit)
        scores.append(image_scores[order])
    scores_all = np.concatenate(scores) if scores else np.zeros(0)
    return np.asarray(flags, bool), scores_all, num_gt


def mean_average_precision(
    predictions: Sequence[ImageResult], truths: Sequence[ImageResult], num_classes: int
) -> MeanAP:
    """mAP@0.5 and mAP@0.5:0.95 over the classes that have ground truth."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} images")
    table = np.full((num_classes, len(IOU_THRESHOLDS)), np.nan)
    for class_id in range(num_classes):
        for column, threshold in enumerate(IOU_THRESHOLDS):
            flags, scores, num_gt = _match(predictions, truths, class_id, threshold)
            if num_gt:
                table[class_id, column] = average_precision(flags, scores, num_gt)
    present = ~np.isnan(table[:, 0])
    if not present.any():
        return MeanAP(float("nan"), float("nan"), tuple(table[:, 0]))
    return MeanAP(
        map50=float(table[present, 0].mean()),
        map50_95=float(table[present].mean()),
        ap50_per_class=tuple(float(v) for v in table[:, 0]),
    )


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    settings: PostprocessSettings = EVAL_SETTINGS,
    batch_size: int = 8,
) -> list[ImageResult]:
    """Detections of a PyTorch YOLOX on BGR images, boxes in the images' pixels."""
    was_training = model.training
    decoded = model.head.decode_in_inference
    model.eval()
    model.head.decode_in_inference = True
    letterbox = LetterboxBuffers(input_hw)
    results = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            tensor, ratios = letterbox.fill(chunk)
            outputs = model(torch.from_numpy(tensor)).numpy()
            for output, ratio, image in zip(outputs, ratios, chunk, strict=True):
                boxes, scores, class_ids = select_detections(
                    output, input_hw, True, settings, model.head.strides
                )
                results.append(
                    ImageResult(to_image_pixels(boxes, ratio, image.shape[:2]), class_ids, scores)
                )
    finally:
        model.train(was_training)
        model.head.decode_in_inference = decoded
    return results
