"""How much time the detector adds to raw inference, compared with the official demo pipeline.

For each frame size it measures, interleaved frame by frame so that load
changes on the machine affect all alike:

- raw:      the detector's backend alone on an already letterboxed tensor,
- detector: ``Detector.detect`` on the BGR frame (letterbox, inference, decode, NMS, map back),
- official: (onnxruntime only) a reimplementation of the official ONNX Runtime demo pipeline
            (demo/ONNXRuntime/onnx_inference.py): fresh arrays per frame in preprocessing,
            grids rebuilt and every anchor decoded, scores for every anchor and class,
            then per-class NMS in Python loops.

and prints medians (after warm-up), the ratios to raw and images/s. The
target is detector <= 1.10 x raw.

usage (from the repository root):
    python -m benchmarks.detector_benchmark [--model M.onnx] [--frames 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.core.preprocess import LetterboxBuffers

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "test" / "data" / "yolox_nano_c7.onnx"
SAMPLE = REPO_ROOT / "test" / "data" / "yolox_nano_c7_bncal_io.npz"
FRAME_SIZES = ((480, 640), (720, 1280))  # (height, width)
STRIDES = (8, 16, 32)


# --- the official demo pipeline, rewritten from its description --------------------------


def official_preprocess(image: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Letterbox with a new canvas, resized copy and float copy on every call."""
    canvas = np.ones((input_hw[0], input_hw[1], 3), np.uint8) * 114
    ratio = min(input_hw[0] / image.shape[0], input_hw[1] / image.shape[1])
    size = (int(image.shape[1] * ratio), int(image.shape[0] * ratio))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32), ratio


def official_decode(outputs: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
    """Rebuild the grids and decode all anchors, as the demo's numpy postprocess does."""
    grids, strides = [], []
    for stride in STRIDES:
        rows, cols = input_hw[0] // stride, input_hw[1] // stride
        xs, ys = np.meshgrid(np.arange(cols), np.arange(rows))
        grids.append(np.stack((xs, ys), 2).reshape(1, -1, 2))
        strides.append(np.full((1, rows * cols, 1), stride))
    grid = np.concatenate(grids, 1)
    stride_column = np.concatenate(strides, 1)
    outputs[..., :2] = (outputs[..., :2] + grid) * stride_column
    outputs[..., 2:4] = np.exp(outputs[..., 2:4]) * stride_column
    return outputs


def official_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy single-class NMS with the demo's "+1" area convention."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        best = order[0]
        keep.append(best)
        inter_w = np.maximum(
            0.0, np.minimum(x2[best], x2[order[1:]]) - np.maximum(x1[best], x1[order[1:]]) + 1
        )
        inter_h = np.maximum(
            0.0, np.minimum(y2[best], y2[order[1:]]) - np.maximum(y1[best], y1[order[1:]]) + 1
        )
        inter = inter_w * inter_h
        iou = inter / (areas[best] + areas[order[1:]] - inter)
        order = order[np.where(iou <= iou_threshold)[0] + 1]
    return keep


def official_multiclass_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, score_threshold: float
) -> np.ndarray | None:
    """Class-aware: one NMS per class in a Python loop; rows (x1, y1, x2, y2, score, class)."""
    results = []
    for class_index in range(scores.shape[1]):
        class_scores = scores[:, class_index]
        passed = class_scores > score_threshold
        if not passed.any():
            continue
        kept = official_nms(boxes[passed], class_scores[passed], iou_threshold)
        if kept:
            labels = np.full((len(kept), 1), class_index)
            results.append(
                np.concatenate((boxes[passed][kept], class_scores[passed][kept, None], labels), 1)
            )
    return np.concatenate(results, 0) if results else None


class OfficialPipeline:
    """The demo's steps around its own ONNX Runtime session."""

    def __init__(
        self, model: Path, input_hw: tuple[int, int], threads: int, conf: float, nms: float
    ):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input_hw, self.conf, self.nms = input_hw, conf, nms

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        tensor, ratio = official_preprocess(image, self.input_hw)
        name = self.session.get_inputs()[0].name
        outputs = self.session.run(None, {name: tensor[None]})[0]
        predictions = official_decode(outputs, self.input_hw)[0]
        boxes = predictions[:, :4]
        scores = predictions[:, 4:5] * predictions[:, 5:]
        corners = np.empty_like(boxes)
        corners[:, 0] = boxes[:, 0] - boxes[:, 2] / 2
        corners[:, 1] = boxes[:, 1] - boxes[:, 3] / 2
        corners[:, 2] = boxes[:, 0] + boxes[:, 2] / 2
        corners[:, 3] = boxes[:, 1] + boxes[:, 3] / 2
        corners /= ratio
        return official_multiclass_nms(corners, scores, self.nms, self.conf)


# --- measurement ---------------------------------------------------------------------------


def sample_frame(height: int, width: int) -> np.ndarray:
    with np.load(SAMPLE) as arrays:
        return cv2.resize(arrays["image_bgr"], (width, height), interpolation=cv2.INTER_LINEAR)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def measure(args: argparse.Namespace, height: int, width: int, conf: float) -> dict[str, float]:
    detector = Detector(
        DetectorConfig(
            args.model,
            backend=args.backend,
            num_threads=args.threads,
            conf_threshold=conf,
            nms_threshold=args.nms,
        )
    )
    frame = sample_frame(height, width)
    tensor, _ = LetterboxBuffers(detector.input_size).fill([frame])
    steps = {
        "raw": lambda: detector.backend.run(tensor),
        "detector": lambda: detector.detect(frame),
    }
    if args.backend == "onnxruntime":  # the official pipeline is ONNX Runtime's
        official = OfficialPipeline(args.model, detector.input_size, args.threads, conf, args.nms)
        steps["official"] = lambda: official(frame)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for iteration in range(args.warmup + args.frames):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if iteration >= args.warmup:
                times[name].append(time.perf_counter() - start)
    result = {name: median_ms(samples) for name, samples in times.items()}
    result["detections"] = len(detector.detect(frame))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument(
        "--threads", type=int, default=1, help="inference threads (0: runtime default)"
    )
    parser.add_argument("--frames", type=int, default=200, help="timed frames per measurement")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--conf", type=float, nargs="+", default=[0.3, 0.001])
    parser.add_argument("--nms", type=float, default=0.45)
    args = parser.parse_args()
    cv2.setNumThreads(1)

    print(
        f"model {args.model.name}, backend {args.backend}, threads {args.threads}, "
        f"median of {args.frames} frames after {args.warmup} warm-up"
    )
    header = (
        f"{'frame':>9} {'conf':>6} {'dets':>4} {'raw ms':>7} {'det ms':>7} {'det/raw':>7} "
        f"{'det img/s':>9} {'off ms':>7} {'off/raw':>7} {'off img/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for conf in args.conf:
        for height, width in FRAME_SIZES:
            r = measure(args, height, width, conf)
            official = f"{'-':>7} {'-':>7} {'-':>9}"
            if "official" in r:
                ratio = r["official"] / r["raw"]
                official = f"{r['official']:>7.2f} {ratio:>7.3f} {1e3 / r['official']:>9.1f}"
            print(
                f"{width:>4}x{height:<4} {conf:>6g} {r['detections']:>4} {r['raw']:>7.2f} "
                f"{r['detector']:>7.2f} {r['detector'] / r['raw']:>7.3f} "
                f"{1e3 / r['detector']:>9.1f} {official}"
            )


if __name__ == "__main__":
    main()
