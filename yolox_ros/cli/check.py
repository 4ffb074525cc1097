"""Check a labelled dataset before training on it: what is there, and what is broken.

usage: python -m yolox_ros check DATA [--format coco|voc|yolo] [--split train] [--images DIR]
                                       [--val-fraction F [--group-pattern RE] [--seed N]]

Reads the annotations (COCO JSON, Pascal VOC XML or YOLO txt, detected from
the layout unless --format is given), decodes every image, and prints the
images, boxes per class and box sizes, then every problem with its file and
entry. With --val-fraction it also shows the validation split that training
would hold out, grouped so copies of one frame stay on one side.

Exit status: 0 when nothing is wrong, 1 when some image is unreadable or not
its annotated size, 2 when the dataset cannot be read at all (one ``error:``
line says where) or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from yolox_ros.cli import OneLineParser
from yolox_ros.datasets import (
    FORMATS,
    DatasetSummary,
    DetectionDataset,
    group_names,
    open_dataset,
    split_by_group,
    summarize,
)
from yolox_ros.errors import ConfigError

PROG = "python -m yolox_ros check"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Summarise a detection dataset and list its problems.",
        epilog="exit status: 0 no problems, 1 problems found, 2 dataset unreadable",
    )
    parser.add_argument(
        "data", type=Path, help="annotations file or dataset folder (COCO, VOC or YOLO)"
    )
    parser.add_argument("--format", choices=FORMATS, help="dataset format (default: detected)")
    parser.add_argument("--split", default="train", help="split to read (default: train)")
    parser.add_argument(
        "--images", type=Path, help="folder of the images, where the layout does not say"
    )
    parser.add_argument(
        "--val-fraction", type=float, help="also show the held-out split of this fraction of groups"
    )
    parser.add_argument(
        "--group-pattern",
        help="regex whose first group names an image's group (default: Roboflow copies of a frame)",
    )
    parser.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.group_pattern is not None and args.val_fraction is None:
        parser.error("--group-pattern needs --val-fraction")
    try:
        dataset = open_dataset(args.data, args.format, args.split, images=args.images)
        split = None
        if args.val_fraction is not None:
            split = split_by_group(dataset, args.val_fraction, args.group_pattern, args.seed)
    except ConfigError as exc:  # DatasetError included
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    summary = summarize(dataset)
    print(format_summary(summary), end="\n\n")
    if split is not None:
        print(format_split(*split, args.group_pattern, args.val_fraction, args.seed), end="\n\n")
    print(format_problems(summary.problems))
    return 1 if summary.problems else 0


def format_summary(summary: DatasetSummary) -> str:
    """The summary as an aligned table: counts first, then boxes per class and box sizes."""
    total = sum(summary.boxes_per_class)
    width = max([len("class"), *(len(name) for name in summary.class_names)])
    lines = [
        f"dataset   {summary.source}",
        f"images    {summary.images} ({summary.negatives} without boxes)",
        f"ignored   {summary.ignored} regions (crowd / difficult)",
        "",
        f"  {'class':<{width}}  {'boxes':>7}",
    ]
    for name, count in zip(summary.class_names, summary.boxes_per_class, strict=True):
        note = "  <- no boxes: the model cannot learn this class" if count == 0 else ""
        lines.append(f"  {name:<{width}}  {count:>7}{note}")
    lines.append(f"  {'total':<{width}}  {total:>7}")
    if summary.longer_side is not None:
        p5, p50, p95 = summary.longer_side
        lines.append(f"\nbox longer side   p5 {p5:.1f} px   p50 {p50:.1f} px   p95 {p95:.1f} px")
    return "\n".join(lines)


def format_split(
    train: DetectionDataset,
    val: DetectionDataset,
    group_pattern: str | None,
    val_fraction: float,
    seed: int,
) -> str:
    """Images, groups and boxes on each side of the held-out split, as a small table."""
    lines = [f"split     {val_fraction:g} of the groups held out (seed {seed})"]
    for name, part in (("train", train), ("val", val)):
        groups = len(set(group_names(part, group_pattern)))
        boxes = sum(len(r.boxes) for r in part.records)
        lines.append(f"  {name:<5}  {len(part):>7} images  {groups:>7} groups  {boxes:>7} boxes")
    return "\n".join(lines)


def format_problems(problems: Sequence[str]) -> str:
    if not problems:
        return "problems  none"
    return "\n".join([f"problems  {len(problems)}", *(f"  {problem}" for problem in problems)])
