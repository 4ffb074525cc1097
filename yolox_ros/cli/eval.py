"""Measure a model on a labelled dataset: the COCO metrics and recall by object size.

    python -m yolox_ros eval models/track_sign_nano.onnx DATASET
    python -m yolox_ros eval runs/nano/best.pt DATASET --val-fraction 0.1

The model runs through the same Detector the node uses (an ONNX file on ONNX
Runtime by default; a .pt/.pth checkpoint on the torch backend), so the figures
are those of the deployed model. DATASET is any dataset ``train`` reads; with
--val-fraction only the frames the trainer would hold out are measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from yolox_ros.cli import comma_names
from yolox_ros.core.settings import CONF_THRESHOLD
from yolox_ros.datasets import FORMATS
from yolox_ros.errors import YoloxRosError

TORCH_SUFFIXES = (".pt", ".pth")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, help=".onnx (or another engine's model) or .pt/.pth")
    parser.add_argument("data", help="dataset: COCO JSON, VOC folder, YOLO data.yaml")
    parser.add_argument("--format", choices=FORMATS, help="dataset format")
    parser.add_argument(
        "--split",
        help="split to read where there are several (default: val; train with --val-fraction, "
        "which holds frames out of the training data as `train` does)",
    )
    parser.add_argument(
        "--classes",
        type=comma_names,
        help="the classes the model was trained on, as train's --classes (NAME or OLD=NEW); "
        "default: the model's own names",
    )
    parser.add_argument(
        "--images", type=Path, help="folder of the images, where the layout does not say"
    )
    parser.add_argument(
        "--val-fraction", type=float, help="measure only the frames held out by this fraction"
    )
    parser.add_argument("--group-pattern", help="regex whose group 1 names a frame")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    parser.add_argument("--backend", help="default: onnxruntime, or torch for .pt/.pth")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--recall-at",
        type=float,
        default=CONF_THRESHOLD.default,
        help=f"score threshold of the recall-by-size table and of the F1 line: the node's "
        f"conf_threshold (default: the node's default {CONF_THRESHOLD.default:g}; a params "
        "file may run the node at another)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from yolox_ros.core.detector import Detector, DetectorConfig
    from yolox_ros.datasets import class_selection, open_dataset, select_classes, split_by_group
    from yolox_ros.datasets.metrics import (
        EVAL_SETTINGS,
        best_operating_point,
        evaluate_predictions,
        operating_point,
        recall_by_size,
    )

    backend = args.backend or ("torch" if args.model.suffix in TORCH_SUFFIXES else "onnxruntime")
    try:
        split = args.split or ("train" if args.val_fraction is not None else "val")
        dataset = open_dataset(args.data, args.format, split=split, images=args.images)
        if args.val_fraction is not None:
            _, dataset = split_by_group(dataset, args.val_fraction, args.group_pattern, args.seed)
        detector = Detector(
            DetectorConfig(
                args.model,
                backend=backend,
                device=args.device,
                conf_threshold=EVAL_SETTINGS.conf_threshold,
                nms_threshold=EVAL_SETTINGS.nms_threshold,
                max_detections=EVAL_SETTINGS.max_detections,
            )
        )
        if args.classes:  # as the model was trained: --classes of train
            dataset = select_classes(dataset, *class_selection(args.classes))
        elif set(detector.class_names) < set(dataset.class_names):  # trained on a subset
            dataset = select_classes(dataset, list(detector.class_names))
        if tuple(detector.class_names) != dataset.class_names:
            print(
                f"error: the model's classes {list(detector.class_names)} are not the "
                f"dataset's {list(dataset.class_names)}: give the model's --classes "
                "(NAME or OLD=NEW, as it was trained)",
                file=sys.stderr,
            )
            return 2
        detections = []
        for index in range(len(dataset)):
            found = detector.detect(dataset.load(index)[0])
            detections.append(found)
        metrics = evaluate_predictions(dataset, detections)
        recalls = recall_by_size(dataset, detections, args.recall_at)
        at_threshold = operating_point(dataset, detections, args.recall_at)
        best = best_operating_point(dataset, detections)
    except (YoloxRosError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.model} on {dataset.source}: {len(dataset)} images")
    print(metrics.table(dataset.class_names))
    print(f"  recall at score >= {args.recall_at:g} (IoU 0.5), by longer side:")
    for bin_recall in recalls:
        print(
            f"  {bin_recall.label():<12} {bin_recall.found:>5} of {bin_recall.boxes:<5} "
            f"{bin_recall.recall:.3f}"
        )
    for label, point in (("F1", at_threshold), ("best F1", best)):
        print(
            f"  {label} {point.f1:.3f} at score >= {point.threshold:g} "
            f"(precision {point.precision:.3f}, recall {point.recall:.3f}, IoU 0.5)"
        )
    if args.json:
        figures = {
            "model": str(args.model),
            "data": dataset.source,
            "images": len(dataset),
            **metrics.as_dict(dataset.class_names),
            "recall_at": args.recall_at,
            "recall_by_size": {r.label(): r.recall for r in recalls},
            **{
                key: {
                    "threshold": point.threshold,
                    "precision": point.precision,
                    "recall": point.recall,
                    "f1": point.f1,
                }
                for key, point in (("f1_at", at_threshold), ("best_f1", best))
            },
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0
