"""Run the detector on an image, a directory of images or a video, without ROS.

usage: python -m yolox_ros detect SOURCE --model MODEL [options]

Prints each frame's detections (or JSON lines with ``--json``) and, with
``--save-dir``, writes annotated copies: images under their own names,
videos as ``<name>_annotated.mp4``. Exit status: 0 on success, 1 if some
input could not be read or an annotated copy could not be written, 2 for bad
arguments or a model that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from yolox_ros.cli import OneLineParser, comma_names, stdout_closed
from yolox_ros.core import settings
from yolox_ros.core.annotate import draw_detections
from yolox_ros.core.detections import Detections
from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.core.image_header import IMAGE_SUFFIXES, is_image_file
from yolox_ros.core.settings import help_text
from yolox_ros.errors import YoloxRosError

PROG = "python -m yolox_ros detect"
SETTING_OPTIONS = (
    ("--backend", settings.BACKEND),
    ("--device", settings.DEVICE),
    ("--threads", settings.NUM_THREADS),
    ("--conf", settings.CONF_THRESHOLD),
    ("--nms", settings.NMS_THRESHOLD),
    ("--class-agnostic", settings.CLASS_AGNOSTIC),
    ("--max-det", settings.MAX_DETECTIONS),
)
VIDEO_FOURCC = "mp4v"
DEFAULT_FPS = 30.0


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG, description="YOLOX detection on images, a directory or a video."
    )
    parser.add_argument("source", type=Path, help="image file, directory of images, or video file")
    parser.add_argument(
        "--model", required=True, type=Path, help="model file (.onnx, or .pth for --backend torch)"
    )
    # Defaults and meanings come from the one declaration of each setting.
    for flag, spec in SETTING_OPTIONS:
        if spec.kind == "bool":
            parser.add_argument(flag, dest=spec.name, action="store_true", help=spec.description)
        else:
            kind = {"int": int, "float": float, "str": str}[spec.kind]
            parser.add_argument(
                flag, dest=spec.name, type=kind, default=spec.default, help=help_text(spec)
            )
    parser.add_argument(
        "--classes",
        type=comma_names,
        help=f"comma-separated; {settings.CLASS_FILTER.description} (default: every class)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per frame")
    parser.add_argument("--save-dir", type=Path, help="write annotated images / videos here")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log model and backend details"
    )
    return parser


def _image_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and is_image_file(p))


def _report(
    source: Path, frame: int | None, image: np.ndarray, detections: Detections, as_json: bool
) -> None:
    """Print one frame's detections; ``frame`` is None for a still image (0 in JSON)."""
    if as_json:
        record = {
            "source": str(source),
            "frame": frame or 0,
            "width": image.shape[1],
            "height": image.shape[0],
            "detections": detections.to_dicts(),
        }
        print(json.dumps(record), flush=True)
        return
    where = str(source) if frame is None else f"{source} frame {frame}"
    print(f"{where}: {len(detections)} detection{'s' if len(detections) != 1 else ''}")
    for item in detections.to_dicts():
        box = ", ".join(f"{item[k]:.1f}" for k in ("x1", "y1", "x2", "y2"))
        print(f"  {item['class_name']} {item['score']:.3f} [{box}]")


def _detect_images(detector: Detector, paths: Sequence[Path], args: argparse.Namespace) -> bool:
    """Detect in each image; False if one could not be read or its annotated copy written."""
    all_read = True
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            print(f"{PROG}: cannot read image {path}", file=sys.stderr)
            all_read = False
            continue
        detections = detector.detect(image)
        _report(path, None, image, detections, args.json)
        if args.save_dir is not None:
            output = args.save_dir / path.name
            if not cv2.imwrite(str(output), draw_detections(image, detections)):
                print(f"{PROG}: cannot write annotated image {output}", file=sys.stderr)
                all_read = False
    return all_read


def _detect_video(detector: Detector, path: Path, args: argparse.Namespace) -> bool:
    """Detect in every frame (numbered from 0); False if the video could not be read or written."""
    capture = cv2.VideoCapture(str(path))
    writer = None
    frames = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            detections = detector.detect(frame)
            _report(path, frames, frame, detections, args.json)
            frames += 1
            if args.save_dir is None:
                continue
            if writer is None:
                output = args.save_dir / f"{path.stem}_annotated.mp4"
                writer = cv2.VideoWriter(
                    str(output),
                    cv2.VideoWriter_fourcc(*VIDEO_FOURCC),
                    capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS,
                    (frame.shape[1], frame.shape[0]),
                )
                if not writer.isOpened():
                    print(f"{PROG}: cannot write annotated video {output}", file=sys.stderr)
                    return False
            writer.write(draw_detections(frame, detections))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        print(f"{PROG}: cannot read {path} as an image or a video", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )

    def fail(message: str) -> int:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2

    source: Path = args.source
    if not source.exists():
        return fail(f"source not found: {source}")
    if source.is_dir():
        images = _image_files(source)
        if not images:
            return fail(f"no images ({', '.join(IMAGE_SUFFIXES)}) in directory {source}")
    if args.save_dir is not None:
        if args.save_dir.exists() and not args.save_dir.is_dir():
            return fail(f"--save-dir {args.save_dir} exists and is not a directory")
        args.save_dir.mkdir(parents=True, exist_ok=True)
    classes = list(args.classes) if args.classes else None

    try:
        detector = Detector(
            DetectorConfig(
                model_path=args.model,
                class_filter=classes,
                **{spec.name: getattr(args, spec.name) for _, spec in SETTING_OPTIONS},
            )
        )
    except YoloxRosError as exc:
        return fail(str(exc))

    try:
        if source.is_dir():
            all_read = _detect_images(detector, images, args)
        elif is_image_file(source):
            all_read = _detect_images(detector, [source], args)
        else:
            all_read = _detect_video(detector, source, args)
        sys.stdout.flush()
    except BrokenPipeError:
        return stdout_closed()
    return 0 if all_read else 1


if __name__ == "__main__":
    sys.exit(main())
