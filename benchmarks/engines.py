"""One table: raw and pipeline time of every backend, device and precision, for nano and tiny.

Models (written to --work-dir):

- nano: the shipped ``models/street_sign_nano.onnx``; its ncnn conversion and
  INT8 version (``yolox_ros.convert.int8.quantize_int8``, calibrated on 64 synthetic
  training scenes, seed 0); for torch, the golden test weights (same
  architecture, other weights: no AP for that row).
- tiny: random weights (``torch.manual_seed(0)``), 7 classes, 416x416, exported with
  ``yolox_ros.model.export``: speed only, its AP means nothing.

For each model and thread count every row is loaded, then timed interleaved
frame by frame (load changes on the machine hit all rows alike):
raw = the backend alone on a letterboxed tensor, pipeline = ``Detector.detect``
on a 640x480 synthetic scene at conf 0.3. AP@[.5:.95] / AP@.5 (nano rows with
the shipped weights) on the 200 held-out validation scenes of models/README.md,
at conf 0.01, NMS 0.65. Then the start-up cost of ``backend: auto``.

usage (from the repository root):
    python -m benchmarks.engines [--threads 1 2] [--frames 100] [--ap-images 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from yolox_ros.convert.int8 import quantize_int8
from yolox_ros.convert.ncnn import export_ncnn
from yolox_ros.core.backends.auto import cache_file
from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.core.preprocess import LetterboxBuffers
from yolox_ros.model import build_model, read_checkpoint
from yolox_ros.model.export import export_onnx
from yolox_ros.synthetic import CLASS_NAMES, render_scene, scene_rng

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = REPO_ROOT / "models" / "street_sign_nano.onnx"
GOLDEN_WEIGHTS = REPO_ROOT / "test" / "data" / "yolox_nano_c7_bncal_state_dict.npz"
VALIDATION_SEED = 1000003  # models/README.md: the trainer's validation scenes for --seed 0
TRAINING_SEED = 0
CALIBRATION_IMAGES = 64
INPUT_SIZE = (416, 416)
PIPELINE_CONF = 0.3
AP_CONF, AP_NMS = 0.01, 0.65  # the official evaluation settings


@dataclass(frozen=True)
class Row:
    model: str
    backend: str
    precision: str
    path: Path
    options: tuple[tuple[str, Any], ...] = ()  # backend options (a tuple: rows are dict keys)
    scored: bool = True  # the weights are the shipped ones, so AP means something
    device: str = "cpu"

    @property
    def label(self) -> str:
        return f"{self.model} {self.backend} {self.device} {self.precision}"


def calibration_tensors(count: int) -> list[np.ndarray]:
    """Letterboxed training scenes (never the validation ones) for INT8 calibration."""
    buffers = LetterboxBuffers(INPUT_SIZE)
    tensors = []
    for index in range(count):
        image, _, _ = render_scene(scene_rng(TRAINING_SEED, index))
        tensors.append(buffers.fill([image], 1)[0].copy())
    return tensors


def prepare(work: Path) -> list[Row]:
    """Write the model files every row needs and return the rows, nano first."""
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    tiny = build_model("tiny", len(CLASS_NAMES)).eval()
    tiny_onnx = export_onnx(
        tiny, work / "tiny.onnx", class_names=CLASS_NAMES, input_size=INPUT_SIZE, model_name="tiny"
    )
    tiny_checkpoint = work / "tiny.pth"
    meta = {"model_name": "tiny", "class_names": list(CLASS_NAMES), "input_size": INPUT_SIZE}
    torch.save({"model": tiny.state_dict(), "meta": meta}, tiny_checkpoint)
    nano_checkpoint = work / "nano_golden.pth"
    meta = {**meta, "model_name": "nano"}
    torch.save({"model": read_checkpoint(GOLDEN_WEIGHTS).state_dict, "meta": meta}, nano_checkpoint)

    calibration = calibration_tensors(CALIBRATION_IMAGES)
    rows = []
    for name, onnx_path, checkpoint, scored in (
        ("nano", SHIPPED, nano_checkpoint, True),
        ("tiny", tiny_onnx, tiny_checkpoint, False),
    ):
        int8 = quantize_int8(onnx_path, work / f"{name}_int8.onnx", calibration)
        param = export_ncnn(onnx_path, work / f"{name}.param")
        rows += [
            Row(name, "onnxruntime", "fp32", onnx_path, scored=scored),
            Row(name, "onnxruntime", "int8", int8, scored=scored),
            Row(name, "openvino", "fp32", onnx_path, scored=scored),
            Row(name, "openvino", "bf16", onnx_path, (("inference_precision", "bf16"),), scored),
            Row(name, "openvino", "int8", int8, scored=scored),
            Row(name, "ncnn", "fp32", param, scored=scored),
            Row(name, "ncnn", "fp16", param, (("fp16", True),), scored),
            Row(name, "torch", "fp32", checkpoint, scored=False),
        ]
    return rows


def load(row: Row, threads: int, conf: float = PIPELINE_CONF, nms: float = 0.45) -> Detector:
    return Detector(
        DetectorConfig(
            row.path,
            backend=row.backend,
            device=row.device,
            num_threads=threads,
            conf_threshold=conf,
            nms_threshold=nms,
            backend_options=dict(row.options),
        )
    )


def timed_ms(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return (time.perf_counter() - start) * 1e3


def measure_speed(
    rows: list[Row], threads: int, frames: int, warmup: int
) -> dict[Row, tuple[float, float] | str]:
    """Median (raw ms, pipeline ms) per row, or why the row could not run."""
    frame, _, _ = render_scene(scene_rng(VALIDATION_SEED, 0))
    loaded: dict[Row, tuple[Detector, np.ndarray]] = {}
    results: dict[Row, tuple[float, float] | str] = {}
    for row in rows:
        try:
            detector = load(row, threads)
        except Exception as exc:  # noqa: BLE001 - a row that cannot run is reported, not fatal
            results[row] = f"not run: {exc}".splitlines()[0][:120]
            continue
        tensor, _ = LetterboxBuffers(detector.input_size).fill([frame])
        loaded[row] = (detector, tensor.copy())
    samples: dict[Row, tuple[list[float], list[float]]] = {row: ([], []) for row in loaded}
    for iteration in range(warmup + frames):
        for row, (detector, tensor) in loaded.items():
            raw = timed_ms(lambda d=detector, t=tensor: d.backend.run(t))
            pipeline = timed_ms(lambda d=detector: d.detect(frame))
            if iteration >= warmup:
                samples[row][0].append(raw)
                samples[row][1].append(pipeline)
    for row, (raw, pipeline) in samples.items():
        results[row] = (statistics.median(raw), statistics.median(pipeline))
    return {row: results[row] for row in rows}


def validation_scenes(count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [render_scene(scene_rng(VALIDATION_SEED, index)) for index in range(count)]


def coco_ap(detector: Detector, scenes: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> str:
    """AP@[.5:.95] / AP@.5 with pycocotools, as ``AP / AP50``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, truths, found = [], [], []
    for image_id, (image, boxes, class_ids) in enumerate(scenes, start=1):
        images.append({"id": image_id, "height": image.shape[0], "width": image.shape[1]})
        for box, class_id in zip(boxes, class_ids, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            truths.append(
                {
                    "id": len(truths) + 1,
                    "image_id": image_id,
                    "category_id": int(class_id) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        detections = detector.detect(image)
        for box, score, class_id in zip(
            detections.boxes, detections.scores, detections.class_ids, strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in box)
            found.append(
                {
                    "image_id": image_id,
                    "category_id": int(class_id) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASS_NAMES)]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = {"images": images, "annotations": truths, "categories": categories}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(found), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return f"{evaluation.stats[0]:.3f} / {evaluation.stats[1]:.3f}"


def auto_start_up(rows: list[Row], threads: int) -> list[str]:
    """Detector start-up time: named backend, auto with an empty cache, auto cached."""
    lines = []
    for model in ("nano", "tiny"):
        onnx_row = next(r for r in rows if r.model == model and r.backend == "onnxruntime")
        with tempfile.TemporaryDirectory() as cache:
            previous = os.environ.get("XDG_CACHE_HOME")
            os.environ["XDG_CACHE_HOME"] = cache
            try:
                named = timed_ms(lambda r=onnx_row: load(r, threads))
                probed = Row(model, "auto", "fp32", onnx_row.path, device="auto")
                first = timed_ms(lambda r=probed: load(r, threads))
                chosen = load(probed, threads).backend
                cached = timed_ms(lambda r=probed: load(r, threads))
                assert cache_file().is_file()
            finally:
                if previous is None:
                    del os.environ["XDG_CACHE_HOME"]
                else:
                    os.environ["XDG_CACHE_HOME"] = previous
        lines.append(
            f"| {model} | {named:.0f} | {first:.0f} | {cached:.0f} | {first - named:.0f} | "
            f"{chosen.name}/{chosen.device} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--frames", type=int, default=100, help="timed frames per row")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--ap-images", type=int, default=200, help="validation scenes for AP")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "out" / "engines")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

    started = time.perf_counter()
    rows = prepare(args.work_dir)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; median of "
        f"{args.frames} frames after {args.warmup} warm-up; pipeline = Detector.detect on "
        f"640x480 at conf {PIPELINE_CONF}; AP on {args.ap_images} validation scenes\n"
    )
    scenes = validation_scenes(args.ap_images) if args.ap_images else []
    accuracy: dict[Row, str] = {}
    for row in (r for r in rows if r.scored and scenes):
        try:
            accuracy[row] = coco_ap(load(row, 0, AP_CONF, AP_NMS), scenes)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            accuracy[row] = f"failed: {exc}".splitlines()[0][:80]
    print("| model | backend | device | precision | threads | raw ms | pipeline ms | AP / AP50 |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        for model in ("nano", "tiny"):
            model_rows = [r for r in rows if r.model == model]
            for row, result in measure_speed(model_rows, threads, args.frames, args.warmup).items():
                times = (
                    f"{result[0]:.2f} | {result[1]:.2f}"
                    if isinstance(result, tuple)
                    else f"{result} | -"
                )
                print(
                    f"| {row.model} | {row.backend} | {row.device} | {row.precision} | "
                    f"{threads} | {times} | {accuracy.get(row, '-')} |"
                )
    print("\nStart-up (ms) of Detector: named onnxruntime, auto probing, auto cached")
    print("| model | onnxruntime | auto, first start | auto, cached | probe cost | chosen |")
    print("|---|---|---|---|---|---|")
    for line in auto_start_up(rows, args.threads[0]):
        print(line)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
