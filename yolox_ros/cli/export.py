"""Export a YOLOX checkpoint to ONNX, with class names and input size in the file's metadata,
or to ncnn (``.param`` + ``.bin`` + ``.json`` metadata sidecar).

    python -m yolox_ros export --checkpoint CKPT --model nano --num-classes 7 \
        --class-names a,b,c,... --output model.onnx
    python -m yolox_ros export --checkpoint CKPT ... --format ncnn --output model.param
    python -m yolox_ros export --onnx model.onnx --format ncnn --output model.param
    python -m yolox_ros export --onnx model.onnx --format onnx-int8 \
        --calibration-images DIR --output model_int8.onnx

Input ``images`` [B, 3, H, W] float32 BGR 0..255; output ``output`` [B, N, 5+C]
with sigmoid obj/cls and, by default as in the official export, boxes NOT decoded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx

from yolox_ros.cli import comma_names
from yolox_ros.core.preprocess import LetterboxBuffers
from yolox_ros.errors import ConfigError, YoloxRosError
from yolox_ros.model import (
    build_model,
    canonical_name,
    load_weights,
    read_checkpoint,
    resolve_size,
)
from yolox_ros.model.export import (
    DEFAULT_OPSET,
    export_ncnn,
    export_onnx,
    ncnn_paths,
    quantize_int8,
)

FORMATS = ("onnx", "ncnn", "onnx-int8")
DEFAULT_CALIBRATION_COUNT = 64


def _read_class_names_file(path: str) -> tuple[str, ...]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read class names file {path}: {exc.strerror}") from exc
    return tuple(line.strip() for line in lines if line.strip())


def _check_class_names(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names or any(not name for name in names):
        raise ConfigError(f"class names must be non-empty, got {list(names)}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"class names must be unique, repeated: {', '.join(duplicates)}")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros export",
        description="Export a YOLOX checkpoint (.pth with 'model' state dict, plain state dict, "
        "or .npz) to ONNX or ncnn, or convert an exported ONNX file to ncnn. Defaults come "
        "from the checkpoint's 'meta' when it has one.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="checkpoint file")
    source.add_argument(
        "--onnx",
        help="ONNX file written by this command (convert it with --format ncnn; its metadata "
        "is kept and the model options below are not used)",
    )
    parser.add_argument(
        "--output", required=True, help="file to write: model.onnx, or model.param for ncnn"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="onnx",
        help="onnx (default); ncnn: model.param + model.bin + model.json (metadata), "
        "float32, converted with pnnx; onnx-int8: statically quantised ONNX (needs "
        "--calibration-images; pays off on some models and machines only: see README)",
    )
    parser.add_argument(
        "--calibration-images",
        type=Path,
        help="folder of training images for onnx-int8 (the first --calibration-count, by name)",
    )
    parser.add_argument(
        "--calibration-count",
        type=int,
        default=DEFAULT_CALIBRATION_COUNT,
        help=f"images used for onnx-int8 calibration (default {DEFAULT_CALIBRATION_COUNT})",
    )
    parser.add_argument("--model", help="model size: nano, tiny, s, m, l, x (or custom name)")
    parser.add_argument(
        "--num-classes", type=int, help="class count (default: the checkpoint's class count)"
    )
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        "--class-names", type=comma_names, help="comma-separated class names, in class-id order"
    )
    names.add_argument("--class-names-file", help="text file with one class name per line")
    parser.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="network input size (default: the model's standard size, 416 nano/tiny, else 640)",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (11..20)")
    parser.add_argument("--dynamic-batch", action="store_true", help="make the batch axis dynamic")
    parser.add_argument(
        "--decode-in-inference",
        action="store_true",
        help="output (cx, cy, w, h) in input pixels instead of the raw regression",
    )
    custom = parser.add_argument_group("custom model sizes (override the --model defaults)")
    custom.add_argument("--depth", type=float, help="depth multiplier")
    custom.add_argument("--width", type=float, help="width multiplier")
    custom.add_argument(
        "--depthwise", action=argparse.BooleanOptionalAction, help="depthwise convs (as nano)"
    )
    return parser


def _calibration_tensors(
    folder: Path, input_size: tuple[int, int], count: int
) -> Iterator[np.ndarray]:
    """Up to ``count`` images of ``folder`` (sorted by name), letterboxed as the detector does."""
    buffers = LetterboxBuffers(input_size)
    used = 0
    for path in sorted(folder.iterdir()):
        image = cv2.imread(str(path)) if path.is_file() and used < count else None
        if image is None:  # not an image (or enough of them)
            continue
        used += 1
        tensor, _ = buffers.fill([image], 1)
        yield tensor.copy()  # the buffers are reused by the next fill


def _quantize(onnx_path: Path, args: argparse.Namespace) -> Path:
    folder = args.calibration_images
    if folder is None or not folder.is_dir():
        raise ConfigError("--format onnx-int8 needs --calibration-images FOLDER (of images)")
    if args.calibration_count < 1:
        raise ConfigError(f"--calibration-count must be >= 1, got {args.calibration_count}")
    dims = onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.shape.dim
    tensors = list(
        _calibration_tensors(folder, (dims[2].dim_value, dims[3].dim_value), args.calibration_count)
    )
    if not tensors:
        raise ConfigError(f"no readable images in {folder}")
    return quantize_int8(onnx_path, args.output, tensors)


def run(args: argparse.Namespace) -> Path:
    """Export as the command line asks; raises ``YoloxRosError`` on bad input."""
    if args.format == "ncnn":
        ncnn_paths(args.output)  # a wrong file name fails before the ONNX export
    if args.onnx is not None:
        if args.format == "onnx":
            raise ConfigError(
                "--onnx converts an ONNX file: use it with --format ncnn or onnx-int8"
            )
        source = Path(args.onnx)
        return (
            export_ncnn(source, args.output) if args.format == "ncnn" else _quantize(source, args)
        )
    if args.format == "onnx":
        return _export_checkpoint(args, Path(args.output))
    with tempfile.TemporaryDirectory(prefix="yolox_export_") as work:
        source = _export_checkpoint(args, Path(work) / "model.onnx")
        return (
            export_ncnn(source, args.output) if args.format == "ncnn" else _quantize(source, args)
        )


def _export_checkpoint(args: argparse.Namespace, output: Path) -> Path:
    checkpoint = read_checkpoint(args.checkpoint)
    meta = checkpoint.meta

    model_name = args.model or meta.model_name
    if model_name is None:
        raise ConfigError("model size unknown: pass --model (nano, tiny, s, m, l, x)")
    size = resolve_size(
        model_name,
        depth=args.depth,
        width=args.width,
        depthwise=args.depthwise,
        input_size=args.input_size or meta.input_size,
    )

    checkpoint_classes = checkpoint.num_classes
    num_classes = args.num_classes if args.num_classes is not None else checkpoint_classes
    if checkpoint_classes is not None and num_classes != checkpoint_classes:
        raise ConfigError(
            f"--num-classes {num_classes} but checkpoint {args.checkpoint} has "
            f"{checkpoint_classes} classes"
        )

    if args.class_names is not None:
        class_names = args.class_names
    elif args.class_names_file is not None:
        class_names = _read_class_names_file(args.class_names_file)
    elif meta.class_names is not None:
        class_names = meta.class_names
    else:
        raise ConfigError("class names unknown: pass --class-names or --class-names-file")
    class_names = _check_class_names(class_names)
    num_classes = num_classes or len(class_names)

    model = build_model(
        model_name,
        num_classes,
        depth=size.depth,
        width=size.width,
        depthwise=size.depthwise,
    )
    load_weights(model, checkpoint.state_dict)
    return export_onnx(
        model,
        output,
        class_names=class_names,
        input_size=size.input_size,
        model_name=canonical_name(model_name),
        decode_in_inference=args.decode_in_inference,
        dynamic_batch=args.dynamic_batch,
        opset=args.opset,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        path = run(args)
    except YoloxRosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
