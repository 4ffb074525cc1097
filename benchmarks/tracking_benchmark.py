"""Per-frame cost of the tracker, sign events and 3-D positions; tracking quality on a drive.

Cost: a 1280x720 scene of 0, 10 or 50 boxes moving at constant speeds and bouncing
off the image's edges, detected with a little jitter and scores on both sides of
the tracker's high threshold. Prints the median and 95th percentile, over
``--frames`` frames after warm-up, of ``Tracker.update`` alone, followed by
``SignEvents.update``, and by ``pinhole.locate`` of every detection (a distorted
camera). The target is under 0.3 ms for 50 detections.

Quality: a drive past signs on both sides of the road, seen by a simulated detector
that misses small signs more often, jitters, mistakes classes, adds clutter, and
loses a frame now and then. Prints ID switches, MOTA and IDF1 against the signs'
true identities: of the tracks, of the sign events (held ones included) and of the
matched sign events alone. motmetrics computes them; it is not a dependency of the
package (``pip install motmetrics``), and without it the quality part is skipped.

usage (from the repository root):
    python -m benchmarks.tracking_benchmark [--frames 3000] [--drive-s 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator

import numpy as np

from yolox_ros.core.detections import Detections
from yolox_ros.core.pinhole import CameraModel, class_heights, locate
from yolox_ros.core.sign_events import SignEvents
from yolox_ros.core.tracking import Tracker, iou_matrix

IMAGE_SIZE = (1280, 720)  # width, height
FPS = 30.0
CLASS_NAMES = ("stop", "yield", "speed_limit")
DETECTION_COUNTS = (0, 10, 50)
MATCH_IOU = 0.5  # a hypothesis further from its true box than this is a miss and a false positive


def detections_of(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray) -> Detections:
    """Detections as the detector returns them: sorted by decreasing score."""
    order = np.argsort(-scores, kind="stable")
    class_ids = class_ids[order].astype(np.int64)
    return Detections(
        boxes=boxes[order].astype(np.float32),
        scores=scores[order].astype(np.float32),
        class_ids=class_ids,
        class_names=tuple(CLASS_NAMES[c] for c in class_ids.tolist()),
    )


# --- cost ----------------------------------------------------------------------------------


def moving_scene(count: int, frames: int, rng: np.random.Generator) -> list[Detections]:
    """``frames`` frames of ``count`` boxes moving at constant speeds, bouncing off the edges."""
    limits = np.array(IMAGE_SIZE, float)
    sizes = rng.uniform(30, 80, (count, 1))
    centres = rng.uniform(sizes / 2, limits - sizes / 2, (count, 2))
    velocities = rng.uniform(30, 150, (count, 2)) * rng.choice([-1, 1], (count, 2))  # px/s
    class_ids = rng.integers(0, len(CLASS_NAMES), count)
    scene = []
    for _ in range(frames):
        centres = centres + velocities / FPS
        # Reflect off the edges, so the scene keeps its boxes in view and at its density.
        low, high = sizes / 2, limits - sizes / 2
        outside = (centres < low) | (centres > high)
        velocities[outside] *= -1
        centres = np.clip(centres, low, high)
        jittered = centres + rng.normal(0, 1.0, centres.shape)
        boxes = np.concatenate((jittered - sizes / 2, jittered + sizes / 2), axis=1)
        scene.append(detections_of(boxes, rng.uniform(0.3, 0.95, count), class_ids))
    return scene


# A calibrated 1280x720 camera with lens distortion, and every class's height known.
CAMERA = CameraModel(
    *IMAGE_SIZE, k=[900.0, 0, 639.5, 0, 900.0, 359.5, 0, 0, 1], d=[-0.3, 0.1, 0.001, 0.001, 0],
    distortion_model="plumb_bob",
)  # fmt: skip
HEIGHTS = class_heights(CLASS_NAMES, dict.fromkeys(CLASS_NAMES, 0.6))


def time_frames(scene: list[Detections], warmup: int) -> dict[str, np.ndarray]:
    """Seconds per frame of the tracker alone, then with the sign events, then with the
    3-D positions of the frame's detections too (what the node does per frame)."""
    tracker, signs = Tracker(), SignEvents()
    tracker_s, signs_s, all_s = [], [], []
    for frame, detections in enumerate(scene):
        stamp_s = frame / FPS
        start = time.perf_counter()
        tracks = tracker.update(detections, stamp_s)
        tracked = time.perf_counter()
        signs.update(tracks, tracker.live_track_ids, IMAGE_SIZE, stamp_s)
        confirmed = time.perf_counter()
        locate(detections.boxes, HEIGHTS[detections.class_ids], CAMERA, image_size=IMAGE_SIZE)
        done = time.perf_counter()
        if frame >= warmup:
            tracker_s.append(tracked - start)
            signs_s.append(confirmed - start)
            all_s.append(done - start)
    return {
        "tracker": np.array(tracker_s),
        "+ signs": np.array(signs_s),
        "+ signs + 3-D": np.array(all_s),
    }


def print_costs(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    print(
        f"cost per frame, median and p95 of {args.frames} frames after {args.warmup} warm-up"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    header = f"{'detections':>10} {'part':>16} {'median ms':>10} {'p95 ms':>8}"
    print(header)
    print("-" * len(header))
    for count in DETECTION_COUNTS:
        scene = moving_scene(count, args.warmup + args.frames, rng)
        for part, seconds in time_frames(scene, args.warmup).items():
            median, p95 = np.percentile(seconds, [50, 95]) * 1e3
            print(f"{count:>10} {part:>16} {median:>10.3f} {p95:>8.3f}")


# --- quality -------------------------------------------------------------------------------

FOCAL_PX = 1000.0
SPEED_M_S = 15.0
SIGN_SIZE_M = 0.8
VISIBLE_M = (4.0, 120.0)  # nearest and farthest distance at which a sign is in view
MIN_TRUE_SIZE_PX = 16.0  # smaller signs are not expected to be tracked


def drive(
    duration_s: float, rng: np.random.Generator
) -> Iterator[tuple[float, np.ndarray, np.ndarray, Detections]]:
    """Frames of a drive past signs: (stamp, true ids, true boxes, simulated detections).

    Frames the camera dropped (about 3 %) are not yielded: neither tracked nor scored.
    """
    travel_m = SPEED_M_S * duration_s + VISIBLE_M[1]
    distances = np.cumsum(rng.uniform(15, 45, int(travel_m / 15)))  # along the road
    count = len(distances)
    lateral = rng.choice([-1, 1], count) * rng.uniform(3, 8, count)
    height = -rng.uniform(1, 3, count)  # above the camera: up in the image
    classes = rng.integers(0, len(CLASS_NAMES), count)
    centre_x, centre_y = IMAGE_SIZE[0] / 2, IMAGE_SIZE[1] / 2
    for frame in range(int(duration_s * FPS)):
        stamp_s = frame / FPS
        ahead = distances - SPEED_M_S * stamp_s
        in_view = (ahead >= VISIBLE_M[0]) & (ahead <= VISIBLE_M[1])
        scale = FOCAL_PX / ahead[in_view]
        centres = np.stack(
            (centre_x + lateral[in_view] * scale, centre_y + height[in_view] * scale), axis=1
        )
        sizes = (SIGN_SIZE_M * scale)[:, None]
        boxes = np.concatenate((centres - sizes / 2, centres + sizes / 2), axis=1)
        inside = (
            (boxes[:, 0] >= 0)
            & (boxes[:, 1] >= 0)
            & (boxes[:, 2] <= IMAGE_SIZE[0])
            & (boxes[:, 3] <= IMAGE_SIZE[1])
        )
        true_ids, boxes, sizes = np.flatnonzero(in_view)[inside], boxes[inside], sizes[inside, 0]
        if rng.random() < 0.03:
            continue
        # The simulated detector: small signs are missed more often and scored lower.
        visibility = np.clip((sizes - 10) / 30, 0.0, 1.0)
        detected = rng.random(len(sizes)) < 0.3 + 0.67 * visibility
        scores = np.clip(0.3 + 0.55 * visibility + rng.normal(0, 0.1, len(sizes)), 0.1, 0.99)
        jitter = rng.normal(0, 1, boxes.shape) * (0.5 + 0.03 * sizes[:, None])
        detected_classes = np.where(
            rng.random(len(sizes)) < 0.1,
            rng.integers(0, len(CLASS_NAMES), len(sizes)),
            classes[true_ids],
        )
        clutter_count = rng.poisson(0.5)
        clutter_centres = rng.uniform((0, 0), IMAGE_SIZE, (clutter_count, 2))
        clutter_sizes = rng.uniform(10, 60, (clutter_count, 1))
        clutter = np.concatenate(
            (clutter_centres - clutter_sizes / 2, clutter_centres + clutter_sizes / 2), axis=1
        )
        detections = detections_of(
            np.concatenate((boxes[detected] + jitter[detected], clutter)),
            np.concatenate((scores[detected], rng.uniform(0.1, 0.7, clutter_count))),
            np.concatenate(
                (detected_classes[detected], rng.integers(0, len(CLASS_NAMES), clutter_count))
            ),
        )
        scored = sizes >= MIN_TRUE_SIZE_PX
        yield stamp_s, true_ids[scored], boxes[scored], detections


def distances(true_boxes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """motmetrics' distances: 1 - IoU, NaN (no match allowed) under MATCH_IOU."""
    if not len(true_boxes) or not len(boxes):
        return np.zeros((len(true_boxes), len(boxes)))
    iou = iou_matrix(true_boxes, boxes)
    return np.where(iou >= MATCH_IOU, 1 - iou, np.nan)


def print_quality(args: argparse.Namespace) -> None:
    try:
        import motmetrics
    except ImportError:
        print("\nquality skipped: motmetrics is not installed (pip install motmetrics)")
        return
    tracker, signs = Tracker(), SignEvents()
    # Held sign events (matched false) are scored too: a planner sees them.
    accumulators = {
        name: motmetrics.MOTAccumulator(auto_id=True)
        for name in ("tracks", "sign events", "matched signs")
    }
    frames = true_count = detected_count = 0
    for stamp_s, true_ids, true_boxes, detections in drive(
        args.drive_s, np.random.default_rng(args.seed)
    ):
        frames += 1
        # The ceiling of any tracker's recall: the true boxes that a usable detection matches.
        usable = detections.scores >= tracker.settings.low_threshold
        true_count += len(true_boxes)
        detected_count += int(
            (np.nan_to_num(distances(true_boxes, detections.boxes[usable]), nan=1) < 1)
            .any(axis=1)
            .sum()
        )
        tracks = tracker.update(detections, stamp_s)
        events = signs.update(tracks, tracker.live_track_ids, IMAGE_SIZE, stamp_s)
        matched_events = [event for event in events if event.matched]
        for name, found in (
            ("tracks", tracks),
            ("sign events", events),
            ("matched signs", matched_events),
        ):
            boxes = np.array([item.box for item in found]).reshape(-1, 4)
            accumulators[name].update(
                true_ids.tolist(),
                [item.track_id for item in found],
                distances(true_boxes, boxes),
            )
    metrics = ["num_objects", "num_switches", "mota", "idf1", "precision", "recall"]
    summary = motmetrics.metrics.create().compute_many(
        list(accumulators.values()), metrics=metrics, names=list(accumulators)
    )
    print(
        f"\nquality on a {args.drive_s:g} s drive ({frames} frames kept, IoU >= {MATCH_IOU:g}"
        f" to match; true signs of at least {MIN_TRUE_SIZE_PX:g} px); the simulated detector"
        f" finds {detected_count / max(true_count, 1):.3f} of the true boxes"
    )
    header = (
        f"{'scored':>13} {'true boxes':>10} {'ID sw':>6} {'MOTA':>6} {'IDF1':>6} "
        f"{'prec':>6} {'recall':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, row in summary.iterrows():
        print(
            f"{name:>13} {int(row['num_objects']):>10} {int(row['num_switches']):>6} "
            f"{row['mota']:>6.3f} {row['idf1']:>6.3f} {row['precision']:>6.3f} "
            f"{row['recall']:>6.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000, help="timed frames per scene")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--drive-s", type=float, default=60.0, help="length of the drive")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print_costs(args)
    print_quality(args)


if __name__ == "__main__":
    main()
