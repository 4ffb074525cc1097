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
Only exporting a checkpoint imports torch; converting an ONNX file does not need it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from yolox_ros.cli import comma_names
from yolox_ros.convert.int8 import quantize_int8_from_images
from yolox_ros.convert.ncnn import export_ncnn, ncnn_paths
from yolox_ros.convert.onnx_layout import DEFAULT_OPSET, MAX_OPSET
from yolox_ros.errors import ConfigError, YoloxRosError

FORMATS = ("onnx", "ncnn", "onnx-int8")
DEFAULT_CALIBRATION_COUNT = 64


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
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset ({DEFAULT_OPSET}..{MAX_OPSET})",
    )
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


def _quantize(onnx_path: Path, args: argparse.Namespace) -> Path:
    folder = args.calibration_images
    if folder is None or not folder.is_dir():
        raise ConfigError("--format onnx-int8 needs --calibration-images FOLDER (of images)")
    if args.calibration_count < 1:
        raise ConfigError(f"--calibration-count must be >= 1, got {args.calibration_count}")
    return quantize_int8_from_images(onnx_path, args.output, folder, args.calibration_count)


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
    # Imported here: only a checkpoint needs torch, converting an ONNX file does not.
    from yolox_ros.model.export import export_checkpoint

    return export_checkpoint(
        args.checkpoint,
        output,
        model_name=args.model,
        num_classes=args.num_classes,
        class_names=args.class_names,
        class_names_file=args.class_names_file,
        input_size=tuple(args.input_size) if args.input_size else None,
        depth=args.depth,
        width=args.width,
        depthwise=args.depthwise,
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
