"""Detection accuracy as every detection paper reports it: the COCO metrics of pycocotools.

``evaluate_predictions`` scores boxes (in each image's pixels) against a
dataset's ground truth and gives the standard 12 numbers plus AP per class;
``recall_by_size`` says how many of the boxes a detector finds at its
operating threshold, by object size; ``confusion_matrix`` and
``precision_recall_curves`` give the end-of-training plots their numbers. No
torch: the ``eval`` command scores deployed models (ONNX and the other
engines) with it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from yolox_ros.core.detections import Detections
from yolox_ros.core.postprocess import PostprocessSettings, iou_above, pairwise_iou
from yolox_ros.datasets.coco import to_coco_dict
from yolox_ros.datasets.records import DetectionDataset, ImageRecord

# As the official evaluator: keep almost everything, class-aware NMS at 0.65.
EVAL_SETTINGS = PostprocessSettings(conf_threshold=0.01, nms_threshold=0.65, max_detections=300)
STAT_NAMES = (
    "AP @[.50:.95] all",
    "AP @.50 all",
    "AP @.75 all",
    "AP @[.50:.95] small",
    "AP @[.50:.95] medium",
    "AP @[.50:.95] large",
    "AR @[.50:.95] all, 1 det",
    "AR @[.50:.95] all, 10 dets",
    "AR @[.50:.95] all, 100 dets",
    "AR @[.50:.95] small",
    "AR @[.50:.95] medium",
    "AR @[.50:.95] large",
)


@dataclass(frozen=True)
class CocoMetrics:
    """The 12 COCO numbers (``stats``, order of ``STAT_NAMES``) and AP per class (NaN: no box)."""

    stats: tuple[float, ...]
    class_ap: tuple[float, ...]  # AP@[.5:.95]
    class_ap50: tuple[float, ...]

    @property
    def ap(self) -> float:
        return self.stats[0]

    @property
    def ap50(self) -> float:
        return self.stats[1]

    def table(self, class_names: Sequence[str]) -> str:
        """The COCO summary and a per-class table, as plain text."""
        lines = [
            f"  {name:<28} {value:.4f}" for name, value in zip(STAT_NAMES, self.stats, strict=True)
        ]
        lines.append(f"  {'class':<20} {'AP@[.5:.95]':>12} {'AP@.5':>8}")
        for name, ap, ap50 in zip(class_names, self.class_ap, self.class_ap50, strict=True):
            lines.append(f"  {name:<20} {ap:>12.4f} {ap50:>8.4f}")
        return "\n".join(lines)

    def as_dict(self, class_names: Sequence[str]) -> dict[str, object]:
        return {
            "ap": self.ap,
            "ap50": self.ap50,
            "stats": list(self.stats),
            "class_ap": dict(zip(class_names, self.class_ap, strict=True)),
            "class_ap50": dict(zip(class_names, self.class_ap50, strict=True)),
        }


def _coco_results(
    dataset: DetectionDataset, detections: Iterable[Detections]
) -> list[dict[str, object]]:
    results = []
    for record, found in zip(dataset.records, detections, strict=True):
        for box, score, class_id in zip(found.boxes, found.scores, found.class_ids, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append(
                {
                    "image_id": record.image_id,
                    "category_id": int(class_id) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    return results


def evaluate_predictions(
    dataset: DetectionDataset, detections: Sequence[Detections]
) -> CocoMetrics:
    """COCO metrics of ``detections`` (one per image of ``dataset``, in order)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(detections) != len(dataset):
        raise ValueError(f"{len(detections)} detection lists for {len(dataset)} images")
    num_classes = len(dataset.class_names)
    results = _coco_results(dataset, detections)
    if not results:
        zeros = (0.0,) * num_classes
        return CocoMetrics((0.0,) * len(STAT_NAMES), zeros, zeros)
    # pycocotools prints its progress and tables; the caller decides what to show.
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = to_coco_dict(dataset)
        truth.createIndex()
        found = truth.loadRes(results)
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # precision[iou threshold, recall point, category, area range, max detections]
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    class_ap, class_ap50 = [], []
    for category in range(num_classes):
        values = precision[:, :, category]
        class_ap.append(float(values[values > -1].mean()) if (values > -1).any() else float("nan"))
        at50 = values[0]
        class_ap50.append(float(at50[at50 > -1].mean()) if (at50 > -1).any() else float("nan"))
    return CocoMetrics(
        tuple(float(v) for v in evaluation.stats), tuple(class_ap), tuple(class_ap50)
    )


# Longer-side limits in pixels of the size bins of ``recall_by_size``: under 16, 16-32, over 32.
SIZE_BINS = (16.0, 32.0)


@dataclass(frozen=True)
class SizeRecall:
    """Recall at IoU 0.5 of the boxes whose longer side is in ``[low, high)`` pixels."""

    low: float
    high: float
    boxes: int
    found: int

    @property
    def recall(self) -> float:
        return self.found / self.boxes if self.boxes else float("nan")

    def label(self) -> str:
        if self.low == 0:
            return f"< {self.high:g} px"
        return (
            f">= {self.low:g} px" if self.high == float("inf") else f"{self.low:g}-{self.high:g} px"
        )


def _found_boxes(
    record: ImageRecord, result: Detections, conf_threshold: float
) -> tuple[np.ndarray, int]:
    """Which boxes of ``record`` a detection at or above the threshold finds, and how many
    detections are at or above it.

    A box is found by a detection of its class with IoU > 0.5; each detection finds at
    most one box, the best-scored detections first. Detections inside ignored regions
    do not count as detections.
    """
    kept = result.scores >= conf_threshold
    boxes, class_ids = result.boxes[kept], result.class_ids[kept]
    order = np.argsort(-result.scores[kept], kind="stable")
    hits = iou_above(boxes[order], record.boxes, 0.5)
    hits &= class_ids[order][:, None] == record.class_ids[None, :]
    taken = np.zeros(len(record.boxes), bool)
    matched = np.zeros(len(order), bool)
    for row, candidates in enumerate(hits):
        free = np.flatnonzero(candidates & ~taken)
        if free.size:
            taken[free[0]] = True
            matched[row] = True
    in_ignored = iou_above(boxes[order], record.ignored, 0.0).any(axis=1)
    return taken, int(np.count_nonzero(matched | ~in_ignored))


def recall_by_size(
    dataset: DetectionDataset,
    detections: Sequence[Detections],
    conf_threshold: float,
    bins: Sequence[float] = SIZE_BINS,
) -> list[SizeRecall]:
    """Share of ground-truth boxes found at ``conf_threshold``, by longer side in pixels."""
    edges = [0.0, *bins, float("inf")]
    totals, found = np.zeros(len(edges) - 1, int), np.zeros(len(edges) - 1, int)
    for record, result in zip(dataset.records, detections, strict=True):
        taken, _ = _found_boxes(record, result, conf_threshold)
        sides = np.maximum(
            record.boxes[:, 2] - record.boxes[:, 0], record.boxes[:, 3] - record.boxes[:, 1]
        )
        bin_of = np.searchsorted(edges, sides, side="right") - 1
        np.add.at(totals, bin_of, 1)
        np.add.at(found, bin_of[taken], 1)
    return [
        SizeRecall(edges[i], edges[i + 1], int(totals[i]), int(found[i]))
        for i in range(len(edges) - 1)
    ]


@dataclass(frozen=True)
class OperatingPoint:
    """Precision, recall and F1 (IoU 0.5) of the detections at or above ``threshold``."""

    threshold: float
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def operating_point(
    dataset: DetectionDataset, detections: Sequence[Detections], threshold: float
) -> OperatingPoint:
    """Precision and recall of what a node publishing at ``threshold`` would send."""
    boxes = sum(len(record.boxes) for record in dataset.records)
    found = published = 0
    for record, result in zip(dataset.records, detections, strict=True):
        taken, kept = _found_boxes(record, result, threshold)
        found += int(taken.sum())
        published += kept
    precision = found / published if published else 0.0
    return OperatingPoint(float(threshold), precision, found / boxes if boxes else 0.0)


def best_operating_point(
    dataset: DetectionDataset,
    detections: Sequence[Detections],
    thresholds: Sequence[float] = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2)),
) -> OperatingPoint:
    """The score threshold with the best F1: where a node should publish detections."""
    points = [operating_point(dataset, detections, threshold) for threshold in thresholds]
    return max(points, key=lambda point: point.f1)


def confusion_matrix(
    predictions: Sequence[Detections],
    dataset: DetectionDataset,
    score_threshold: float,
    iou: float = 0.5,
) -> np.ndarray:
    """``(C + 1, C + 1)`` counts: row the true class, column the predicted class; index ``C``
    is background.

    Of each image, the predictions at or above ``score_threshold`` are matched to the boxes
    whatever their classes, as ultralytics does: the pairs with IoU > ``iou``, highest IoU
    first (higher score on a tie), each prediction and each box used once. A matched pair
    counts at ``[box class, predicted class]`` (off the diagonal: a wrong class); a box no
    prediction matches at ``[box class, C]`` (missed); a prediction matching no box at
    ``[C, predicted class]`` (a false positive), unless it touches an ignored region.
    """
    if len(predictions) != len(dataset):
        raise ValueError(f"{len(predictions)} detection lists for {len(dataset)} images")
    background = len(dataset.class_names)
    matrix = np.zeros((background + 1, background + 1), np.int64)
    for record, found in zip(dataset.records, predictions, strict=True):
        kept = np.asarray(found.scores) >= score_threshold
        boxes = np.asarray(found.boxes, np.float32).reshape(-1, 4)[kept]
        scores = np.asarray(found.scores)[kept]
        classes = np.asarray(found.class_ids, np.int64)[kept]
        overlaps = pairwise_iou(boxes, record.boxes)
        rows, columns = np.nonzero(overlaps > iou)
        # np.lexsort sorts by its last key first.
        order = np.lexsort((-scores[rows], -overlaps[rows, columns]))
        predicted = np.zeros(len(boxes), bool)
        found_box = np.zeros(len(record.boxes), bool)
        for row, column in zip(rows[order], columns[order], strict=True):
            if predicted[row] or found_box[column]:
                continue
            predicted[row] = found_box[column] = True
            matrix[record.class_ids[column], classes[row]] += 1
        np.add.at(matrix, (record.class_ids[~found_box], background), 1)
        spurious = ~predicted
        if len(record.ignored):
            spurious &= ~iou_above(boxes, record.ignored, 0.0).any(axis=1)
        np.add.at(matrix, (background, classes[spurious]), 1)
    return matrix


@dataclass(frozen=True)
class PrecisionRecallCurves:
    """Precision at COCO's 101 recall points (IoU 0.5, all sizes, 100 detections) per class.

    pycocotools' interpolated precision: at each recall, the best precision at that recall
    or more, so each curve only falls; 0 past the highest recall reached. A class without
    boxes has a row of NaN. The mean of a row is the class's AP@.5 of ``CocoMetrics``.
    """

    recall: np.ndarray  # (101,) 0, 0.01, ..., 1
    precision: np.ndarray  # (classes, 101)

    @property
    def class_ap50(self) -> np.ndarray:
        return self.precision.mean(axis=1)

    @property
    def mean_precision(self) -> np.ndarray:
        """The curve of all classes: the mean over the classes with boxes at each recall."""
        valid = ~np.isnan(self.precision[:, 0])
        if not valid.any():
            return np.zeros_like(self.recall)
        return self.precision[valid].mean(axis=0)

    @property
    def ap50(self) -> float:
        """The mean AP@.5 over the classes with boxes (``CocoMetrics.ap50``)."""
        return float(self.mean_precision.mean())


def precision_recall_curves(
    predictions: Sequence[Detections], dataset: DetectionDataset
) -> PrecisionRecallCurves:
    """Precision-recall curve per class at IoU 0.5, from pycocotools' accumulated precision
    (the same evaluation as ``evaluate_predictions``)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(predictions) != len(dataset):
        raise ValueError(f"{len(predictions)} detection lists for {len(dataset)} images")
    num_classes = len(dataset.class_names)
    recall = np.linspace(0.0, 1.0, 101)
    has_boxes = np.zeros(num_classes, bool)
    for record in dataset.records:
        has_boxes[record.class_ids] = True
    precision = np.where(has_boxes[:, None], 0.0, np.nan) * np.ones((1, len(recall)))
    results = _coco_results(dataset, predictions)
    if not results:
        return PrecisionRecallCurves(recall, precision)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = to_coco_dict(dataset)
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
    at50 = int(np.argmin(np.abs(evaluation.params.iouThrs - 0.5)))
    # precision[iou threshold, recall point, category, area range, max detections]
    accumulated = evaluation.eval["precision"][at50, :, :, 0, -1].T.astype(np.float64)
    recall = np.asarray(evaluation.params.recThrs, np.float64)
    return PrecisionRecallCurves(recall, np.where(accumulated > -1, accumulated, np.nan))
