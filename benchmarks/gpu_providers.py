"""GPU engines proven, not assumed: speed and agreement with the CPU per provider / backend.

Rows: ONNX Runtime on CPU (reference), CUDA and TensorRT (fp16; fp32 with
--tensorrt-fp32) execution providers when ``onnxruntime.get_available_providers()``
lists them, and the torch backend on CPU (reference) and CUDA. Each row runs
with ``strict_device`` so a silent fallback to the CPU cannot pass for a GPU
result; an absent provider is a row saying so, and the script still exits 0.

For each row: median raw (backend alone) and pipeline (``Detector.detect``) time
over --frames frames, and how its detections on the demo frames compare with
its CPU reference: detections are matched by class and IoU >= 0.5, and a row
agrees when every detection above the threshold margin has a partner within
the box and score tolerances (looser for fp16). Exit code 1 only when a GPU
row ran and disagrees with the CPU; absent or failing providers are reported.

Needs only numpy, opencv-python-headless, onnxruntime(-gpu) and torch, with the
repository on PYTHONPATH; about a minute on one GPU (a TensorRT engine build
is most of it; engines are cached in --trt-cache between runs).

usage (from the repository root):
    PYTHONPATH=$PWD python benchmarks/gpu_providers.py [--frames 100] [--tensorrt-fp32]
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import torch

from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.core.preprocess import LetterboxBuffers
from yolox_ros.metadata import ModelMetadata

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = REPO_ROOT / "models" / "track_sign_nano.onnx"  # the default model
GOLDEN_WEIGHTS = REPO_ROOT / "test" / "data" / "yolox_nano_c7_bncal_state_dict.npz"
DEMO_FRAMES = REPO_ROOT / "data" / "demo_sequence"
CLASS_NAMES = ["stop", "yield", "speed_limit", "no_entry", "pedestrian_crossing"]
CLASS_NAMES += ["traffic_light", "parking"]
# The golden weights are random: their scores are low, so they are compared at a low threshold.
CONF = {"onnx": 0.3, "torch": 0.02}
# (box px, score). ONNX Runtime's CUDA provider multiplies in TF32 by default (its use_tf32
# option), which moves scores by a few 1e-3: that row is held to the "tf32" tolerance.
TOLERANCE = {"fp32": (0.5, 2e-3), "tf32": (0.5, 5e-3), "fp16": (2.0, 2e-2)}
TIME_BUDGET_S = 100.0  # rows after this are skipped, so the whole run stays under 2 minutes


@dataclass(frozen=True)
class Row:
    backend: str
    device: str
    precision: str
    model: str  # "onnx" or "torch"
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    missing: str = ""  # why this row cannot run here

    @property
    def reference(self) -> tuple[str, str]:
        return ("onnxruntime", "cpu") if self.model == "onnx" else ("torch", "cpu")


def rows(tensorrt_fp32: bool, trt_cache: Path) -> list[Row]:
    providers = ort.get_available_providers()
    absent = f"not in this onnxruntime build (providers: {', '.join(providers)})"
    trt = {"tensorrt_cache_dir": str(trt_cache)}
    table = [
        Row("onnxruntime", "cpu", "fp32", "onnx"),
        Row(
            "onnxruntime",
            "cuda",
            "tf32",
            "onnx",
            missing="" if "CUDAExecutionProvider" in providers else absent,
        ),
    ]
    has_trt = "TensorrtExecutionProvider" in providers
    precisions = ("fp16", "fp32") if tensorrt_fp32 else ("fp16",)
    for precision in precisions:
        options = {**trt, "tensorrt_fp16": precision == "fp16"}
        table.append(
            Row("onnxruntime", "tensorrt", precision, "onnx", options, "" if has_trt else absent)
        )
    cuda = "" if torch.cuda.is_available() else "torch.cuda.is_available() is False"
    table += [Row("torch", "cpu", "fp32", "torch"), Row("torch", "cuda", "fp32", "torch", {}, cuda)]
    return table


def torch_checkpoint(folder: Path) -> Path:
    with np.load(GOLDEN_WEIGHTS) as arrays:
        state_dict = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
    path = folder / "nano_golden.pth"
    meta = ModelMetadata(class_names=tuple(CLASS_NAMES), input_size=(416, 416), model_name="nano")
    torch.save({"model": state_dict, "meta": meta.to_values()}, path)
    return path


def load(row: Row, model: Path) -> Detector:
    return Detector(
        DetectorConfig(
            model,
            backend=row.backend,
            device=row.device,
            strict_device=True,
            conf_threshold=CONF[row.model],
            backend_options=row.options,
        )
    )


def timed(detector: Detector, frame: np.ndarray, frames: int) -> tuple[float, float]:
    tensor, _ = LetterboxBuffers(detector.input_size).fill([frame])
    tensor = tensor.copy()
    raw, pipeline = [], []
    for iteration in range(10 + frames):
        start = time.perf_counter()
        detector.backend.run(tensor)
        middle = time.perf_counter()
        detector.detect(frame)
        end = time.perf_counter()
        if iteration >= 10:
            raw.append(middle - start)
            pipeline.append(end - middle)
    return statistics.median(raw) * 1e3, statistics.median(pipeline) * 1e3


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def compare(expected: list, actual: list, conf: float, precision: str) -> tuple[bool, str]:
    """Whether ``actual`` matches ``expected`` (lists of Detections per frame), and the figures."""
    box_tol, score_tol = TOLERANCE[precision]
    worst_box = worst_score = 0.0
    unmatched = 0
    for want, got in zip(expected, actual, strict=True):
        for first, second in ((want, got), (got, want)):
            for box, score, cls in zip(first.boxes, first.scores, first.class_ids, strict=True):
                same = second.class_ids == cls
                overlaps = iou(box, second.boxes[same]) if same.any() else np.zeros(0)
                if overlaps.size == 0 or overlaps.max() < 0.5:
                    # A score this close to the threshold may fall either side of it.
                    unmatched += score > conf + score_tol
                    continue
                partner = int(np.flatnonzero(same)[overlaps.argmax()])
                worst_box = max(worst_box, float(np.abs(box - second.boxes[partner]).max()))
                worst_score = max(worst_score, float(abs(score - second.scores[partner])))
    count = sum(len(d) for d in expected)
    ok = unmatched == 0 and worst_box <= box_tol and worst_score <= score_tol
    return ok, f"{count} dets, max box {worst_box:.3f} px, max score {worst_score:.1e}, " + (
        f"{unmatched} unmatched"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--tensorrt-fp32", action="store_true", help="also TensorRT fp32")
    parser.add_argument("--trt-cache", type=Path, default=REPO_ROOT / "out" / "trt_cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(1)
    # TF32 would move torch's CUDA results by ~1e-3: compare fp32 with fp32.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    args.trt_cache.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    frames = [cv2.imread(str(p)) for p in sorted(DEMO_FRAMES.glob("*.jpg"))]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"{platform.node()}: {gpu}; onnxruntime {ort.__version__}, torch {torch.__version__}")
    print(f"providers: {', '.join(ort.get_available_providers())}\n")
    print("| backend | device | precision | raw ms | pipeline ms | vs CPU | agreement |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    references: dict[tuple[str, str], list] = {}
    with tempfile.TemporaryDirectory() as work:
        models = {"onnx": SHIPPED, "torch": torch_checkpoint(Path(work))}
        for row in rows(args.tensorrt_fp32, args.trt_cache):
            head = f"| {row.backend} | {row.device} | {row.precision} |"
            if row.missing:
                print(f"{head} - | - | - | absent: {row.missing} |")
                continue
            if time.perf_counter() - started > TIME_BUDGET_S:
                print(f"{head} - | - | - | skipped: over the {TIME_BUDGET_S:.0f} s budget |")
                continue
            try:
                detector = load(row, models[row.model])
                raw, pipeline = timed(detector, frames[0], args.frames)
                found = detector.detect_batch(frames)
            except Exception as exc:  # noqa: BLE001 - a failing provider is a row, not a crash
                # onnxruntime-gpu lists TensorRT even without the TensorRT libraries.
                reason = " ".join(str(exc).split())  # its end names the missing library
                print(f"{head} - | - | - | did not start: ...{reason[-160:]} |")
                continue
            if (row.backend, row.device) == row.reference:
                references[row.reference] = found
                print(f"{head} {raw:.2f} | {pipeline:.2f} | reference | - |")
                continue
            ok, figures = compare(references[row.reference], found, CONF[row.model], row.precision)
            failed = failed or not ok
            verdict = "equal within tolerance" if ok else "DIFFERENT"
            if not any(len(d) for d in references[row.reference] + found):
                verdict = "nothing compared: no detections on either side"
            print(f"{head} {raw:.2f} | {pipeline:.2f} | {verdict} | {figures} |")
    print(f"\n{len(frames)} demo frames compared; total {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
