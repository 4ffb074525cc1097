"""Write synthetic sign scenes (random scenes or a drive sequence) as JPEGs plus COCO JSON.

python -m yolox_ros synthetic --out runs/data/train --count 4000 --seed 0
python -m yolox_ros synthetic --theme track --out runs/data/track --count 4000 --seed 0
python -m yolox_ros synthetic --theme track --drive --out runs/track_drive --count 30 --seed 4

Writes DIR/images/*.jpg + DIR/annotations.json, or with --drive DIR/frame_NNNN.jpg +
DIR/annotations.json (see yolox_ros.synthetic.writer).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from yolox_ros.synthetic import THEMES, write_dataset


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from exc
    if width < 32 or height < 32:
        raise argparse.ArgumentTypeError(f"size must be at least 32x32, got {text!r}")
    return width, height


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros synthetic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, required=True, help="number of images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--theme",
        choices=THEMES,
        default="street",
        help="street: city road signs; track: model-car track signs (default street)",
    )
    parser.add_argument(
        "--size",
        type=_parse_size,
        default=(None, None),
        help="WxH (default 640x480 for street, 320x240 for track)",
    )
    parser.add_argument(
        "--drive", action="store_true", help="write a drive sequence instead of random scenes"
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be >= 1, got {args.count}")
    write_dataset(args.out, args.count, args.seed, *args.size, theme=args.theme, drive=args.drive)
    return 0
