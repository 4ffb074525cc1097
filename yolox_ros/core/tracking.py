"""Multi-object tracking of detections from frame to frame, after ByteTrack.

Typical use, once per image::

    tracker = Tracker(TrackerSettings(max_lost_s=1.0))
    tracks = tracker.update(detector.detect(image), stamp_s)

ByteTrack (Zhang et al., 2022) associates in two rounds. Confident detections
are matched first, against every live track. Then the less confident ones may
continue the tracks still unmatched that were seen in the previous frame: a
sign whose score dips for a few frames (motion blur, partial occlusion) keeps
its track, yet low-score clutter never starts one. Each round is an assignment
problem on the IoU between the tracks' motion-predicted boxes and the
detections, solved optimally (Hungarian method), pairs under a least IoU
refused.

Time is the image stamp, not a frame count: prediction runs over the elapsed
time and a track expires after a time without a match, so the tracker behaves
alike at any frame rate and across dropped frames.

Association ignores the class: a sign whose class flickers between two
similar classes keeps its track, and the track's class is the vote of its
frames (the sum of its detections' scores per class).

No ROS and no PyTorch: numpy and scipy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from yolox_ros.core.detections import Detections
from yolox_ros.core.settings import SettingSpec, SpecSettings, fraction_setting
from yolox_ros.errors import ConfigError

__all__ = ["TRACKER_SETTINGS", "Track", "Tracker", "TrackerSettings", "iou_matrix"]


# fmt: off
TRACKER_SETTINGS = (
    fraction_setting(
        "high_threshold", 0.5,
        "detections scoring at least this are matched first, against every live track",
    ),
    fraction_setting(
        "low_threshold", 0.1,
        "detections scoring at least this but under high_threshold only continue a track "
        "matched in the previous frame (a sign whose score dips keeps its id); weaker ones "
        "are ignored",
    ),
    fraction_setting(
        "new_track_threshold", 0.6,
        "an unmatched confident detection scoring at least this (at least high_threshold) "
        "starts a track: a new track asks for more evidence than continuing one",
    ),
    SettingSpec(
        "match_iou", "float", 0.3,
        "least IoU between a track's predicted box and a confident detection to match them",
        minimum=0.01, maximum=1.0,
    ),
    SettingSpec(
        "low_match_iou", "float", 0.5,
        "least IoU to match a low-score detection: stricter, weak detections are more often "
        "clutter beside the object",
        minimum=0.01, maximum=1.0,
    ),
    SettingSpec(
        "max_lost_s", "float", 1.0,
        "seconds a track lives on without a match, its box predicted onward, before it is "
        "dropped; a detection matching it meanwhile continues it with the same id",
        minimum=0.0,
    ),
)
# fmt: on


class TrackerSettings(SpecSettings, specs=TRACKER_SETTINGS):
    """How detections are associated into tracks (a field per ``TRACKER_SETTINGS`` entry)."""

    def check_together(self) -> None:
        if self.low_threshold > self.high_threshold:
            raise ConfigError(
                f"low_threshold must be at most high_threshold ({self.high_threshold:g}), "
                f"got {self.low_threshold:g}"
            )
        if self.new_track_threshold < self.high_threshold:
            raise ConfigError(
                f"new_track_threshold must be at least high_threshold ({self.high_threshold:g}),"
                f" got {self.new_track_threshold:g}"
            )


class Track(NamedTuple):
    """A track as matched in the latest frame: where its detection is, and what it is.

    A named tuple rather than a frozen dataclass: one is built per track and frame, and a
    frozen dataclass costs four times as much to build.
    """

    track_id: int
    """Unique over the tracker's life, counting from 1; never reused, not even after reset()."""
    box: np.ndarray
    """x1, y1, x2, y2 in pixels (float32, read-only): the box of this frame's detection."""
    score: float
    """The score of this frame's detection."""
    class_id: int
    """The class of the highest sum of scores over the track's detections."""
    class_name: str
    """The name of class_id."""
    hits: int
    """Frames in which the track was matched, this one included."""
    detection: int
    """The row of this frame's detection in the Detections given to update()."""


# The motion model's noises: ByteTrack's per-frame ones at 30 frames/s turned into rates
# per second. Each is in units of the box's extent along the coordinate's axis (its width
# for cx and w, its height for cy and h), so that it scales with the box. A variance that
# grows linearly with the elapsed time makes a dropped frame widen the prediction as two
# frames would.
REFERENCE_FPS = 30.0
MEASUREMENT_STD = 1 / 20  # a detection's error
POSITION_NOISE_RATE = REFERENCE_FPS * (1 / 20) ** 2  # variance added per second
VELOCITY_NOISE_RATE = REFERENCE_FPS * (REFERENCE_FPS / 160) ** 2  # of velocity, per second
INITIAL_POSITION_STD = 2 * MEASUREMENT_STD
INITIAL_VELOCITY_STD = 10 * REFERENCE_FPS / 160  # extents per second
MIN_EXTENT_PX = 1.0  # a floor on widths and heights: noises scale with them, boxes need area
TINY_AREA = 1e-12  # a union to divide by where both boxes have none
UNMATCHABLE = 1e6  # cost of a refused pair: above any sum of allowed costs (each at most 1)

# The filters' state: (quantity, track, axis, coordinate). Quantities: position, velocity
# (pixels per second), their variances and covariance; axes x and y; coordinates the
# centre and the extent along the axis (cx, w on x; cy, h on y). The quantity comes first
# so that each one is a contiguous block, where numpy's elementwise operations are fastest.
POSITION, VELOCITY, POSITION_VARIANCE, COVARIANCE, VELOCITY_VARIANCE = range(5)
MEANS = slice(POSITION, VELOCITY + 1)
SHRUNK_BY_A_MATCH = slice(POSITION_VARIANCE, COVARIANCE + 1)  # by 1 - position gain
CENTRE, EXTENT = 0, 1


class _BoxFilters:
    """Constant-velocity Kalman filters of many boxes at once, on cx, cy, w, h.

    A Kalman filter rather than an alpha-beta filter: its gain follows its uncertainty, so a
    new track learns its velocity from its first two or three detections (which a crossing
    of two signs needs), and a prediction over a longer gap weighs the next detection more.

    With noises independent per coordinate, the model never correlates two coordinates:
    each track's 8x8 covariance (ByteTrack's) is four independent 2x2 blocks of position and
    velocity. Keeping those blocks' three values beside the means in one array makes predict
    and correct a few numpy operations over all tracks at once, with no per-track Python.
    """

    def __init__(self) -> None:
        self.state = np.zeros((5, 0, 2, 2))

    def predict(self, dt: float) -> None:
        """Move every box ``dt`` seconds on, widening its uncertainty."""
        extent_squared = _extent_squared(self.state[POSITION])
        # Means and covariance blocks move on linearly: position += dt velocity, and
        # P = F P F' with F = [[1, dt], [0, 1]] written for the three values of each block.
        transition = np.array(
            [
                [1, dt, 0, 0, 0],
                [0, 1, 0, 0, 0],
                [0, 0, 1, 2 * dt, dt * dt],
                [0, 0, 0, 1, dt],
                [0, 0, 0, 0, 1],
            ]
        )
        noise = np.array([0, 0, POSITION_NOISE_RATE * dt, 0, VELOCITY_NOISE_RATE * dt])
        moved = (transition @ self.state.reshape(5, -1)).reshape(self.state.shape)
        self.state = moved + noise[:, None, None, None] * extent_squared

    def correct(self, rows: np.ndarray, boxes: np.ndarray) -> None:
        """Correct the filters at ``rows`` with detected x1y1x2y2 ``boxes``, one per row."""
        corrected = self.state[:, rows]
        position, _, position_variance, covariance, _ = corrected
        innovation_variance = position_variance + MEASUREMENT_STD**2 * _extent_squared(position)
        # The gains of position and velocity, from the variance and covariance before.
        gains = corrected[SHRUNK_BY_A_MATCH] / innovation_variance
        corrected[MEANS] += gains * (_centre_extent(boxes) - position)
        corrected[VELOCITY_VARIANCE] -= gains[1] * covariance
        corrected[SHRUNK_BY_A_MATCH] *= 1 - gains[0]
        self.state[:, rows] = corrected

    def add(self, boxes: np.ndarray) -> None:
        """Start one filter per x1y1x2y2 box, at rest."""
        added = np.zeros((5, len(boxes), 2, 2))
        added[POSITION] = _centre_extent(boxes)
        extent_squared = _extent_squared(added[POSITION])
        added[POSITION_VARIANCE] = INITIAL_POSITION_STD**2 * extent_squared
        added[VELOCITY_VARIANCE] = INITIAL_VELOCITY_STD**2 * extent_squared
        self.state = np.concatenate((self.state, added), axis=1)

    def keep(self, kept: np.ndarray) -> None:
        """Drop the filters where the boolean ``kept`` is false."""
        self.state = self.state[:, kept]

    def boxes(self) -> np.ndarray:
        """Every filter's box as x1, y1, x2, y2 (float32, as detections are)."""
        position = np.maximum(self.state[POSITION], EXTENT_FLOOR).reshape(-1, 4)
        return (position @ FROM_CENTRE_EXTENT).astype(np.float32)


# cx, w, cy, h from x1, y1, x2, y2 (row vectors times the matrix), and back.
TO_CENTRE_EXTENT = np.array(
    [[0.5, -1, 0, 0], [0, 0, 0.5, -1], [0.5, 1, 0, 0], [0, 0, 0.5, 1]], np.float64
)
FROM_CENTRE_EXTENT = np.linalg.inv(TO_CENTRE_EXTENT)
EXTENT_FLOOR = np.array([-np.inf, MIN_EXTENT_PX])  # per coordinate: centre, extent


def _extent_squared(position: np.ndarray) -> np.ndarray:
    """(tracks, axis, 1): the squared extent along each axis, to scale that axis' noises."""
    return np.square(np.maximum(position[:, :, EXTENT:], MIN_EXTENT_PX))


def _centre_extent(boxes: np.ndarray) -> np.ndarray:
    """x1y1x2y2 boxes as (boxes, axis, coordinate) positions: ((cx, w), (cy, h))."""
    return (boxes @ TO_CENTRE_EXTENT).reshape(-1, 2, 2)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every x1y1x2y2 box of ``boxes_a`` (N, 4) with every one of ``boxes_b`` (M, 4).

    (N, M); boxes without area overlap nothing (IoU 0).
    """
    a_x1, a_y1, a_x2, a_y2 = (boxes_a[:, k, None] for k in range(4))
    b_x1, b_y1, b_x2, b_y2 = boxes_b.T
    width = np.minimum(a_x2, b_x2) - np.maximum(a_x1, b_x1)
    height = np.minimum(a_y2, b_y2) - np.maximum(a_y1, b_y1)
    intersection = np.maximum(width, 0) * np.maximum(height, 0)
    extent_a = np.maximum(boxes_a[:, 2:] - boxes_a[:, :2], 0)
    extent_b = np.maximum(boxes_b[:, 2:] - boxes_b[:, :2], 0)
    # A union is at least the area of its box of boxes_a: flooring those areas keeps every
    # union above zero at the cost of N values rather than N x M.
    area_a = np.maximum(extent_a[:, 0:1] * extent_a[:, 1:2], TINY_AREA)
    union = (area_a + extent_b[:, 0] * extent_b[:, 1]) - intersection
    return intersection / union


def _assign(iou: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matched (track rows, detection rows) among the ``allowed`` pairs of the (tracks,
    detections) ``iou``: the most pairs, then the least total 1 - IoU among them."""
    tracks, detections = np.nonzero(allowed)
    # A pair that is both its track's and its detection's only candidate is in every best
    # assignment: the solver is needed only for the others, mostly none.
    alone = (np.bincount(tracks, minlength=iou.shape[0])[tracks] == 1) & (
        np.bincount(detections, minlength=iou.shape[1])[detections] == 1
    )
    if alone.all():
        return tracks, detections
    contested_tracks = _distinct(tracks[~alone], iou.shape[0])
    contested_detections = _distinct(detections[~alone], iou.shape[1])
    contested = np.ix_(contested_tracks, contested_detections)
    cost = np.where(allowed[contested], 1 - iou[contested], UNMATCHABLE)
    solved_tracks, solved_detections = linear_sum_assignment(cost)
    solved = cost[solved_tracks, solved_detections] < UNMATCHABLE
    return (
        np.concatenate((tracks[alone], contested_tracks[solved_tracks[solved]])),
        np.concatenate((detections[alone], contested_detections[solved_detections[solved]])),
    )


def _distinct(indices: np.ndarray, size: int) -> np.ndarray:
    """The distinct values of ``indices`` (all in ``range(size)``), sorted; np.unique's
    sorting costs more at these sizes."""
    marked = np.zeros(size, bool)
    marked[indices] = True
    return np.flatnonzero(marked)


class Tracker:
    """Tracks of one camera's detections; feed it every image's detections in stamp order.

    A stamp earlier than the previous one (a bag replayed from its start) starts afresh, as
    ``reset()`` does. Not thread-safe: one tracker per image stream.
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids go on counting, so that an id never names two tracks."""
        self._last_stamp: float | None = None
        self._filters = _BoxFilters()
        self._ids = np.zeros(0, np.int64)
        self._hits = np.zeros(0, np.int64)
        self._last_matched_s = np.zeros(0)
        self._votes = np.zeros((0, 0))  # (tracks, classes): sums of scores
        self._class_names: dict[int, str] = {}

    @property
    def live_track_ids(self) -> frozenset[int]:
        """Ids of the tracks alive after the latest update: matched, or lost for at most
        ``max_lost_s``."""
        return frozenset(self._ids.tolist())

    def update(self, detections: Detections, stamp_s: float) -> list[Track]:
        """Associate one image's detections, stamped ``stamp_s`` seconds, to the tracks.

        Returns the tracks matched in this image, new ones included, in the order of their
        detections (decreasing score).
        """
        settings = self.settings
        previous_s = self._last_stamp
        if previous_s is not None and stamp_s < previous_s:
            self.reset()
        self._last_stamp = stamp_s
        if len(self._ids):
            self._keep(stamp_s - self._last_matched_s <= settings.max_lost_s)
        if len(self._ids) and stamp_s > previous_s:
            self._filters.predict(stamp_s - previous_s)
        if not len(detections):
            return []

        scores = detections.scores
        track_of_detection = np.full(len(scores), -1)
        if len(self._ids):
            self._associate(detections, previous_s, track_of_detection)
        starting = np.flatnonzero(
            (scores >= settings.new_track_threshold) & (track_of_detection < 0)
        )
        if len(starting):
            track_of_detection[starting] = np.arange(len(self._ids), len(self._ids) + len(starting))
            self._start(detections.boxes[starting])
        matched = np.flatnonzero(track_of_detection >= 0)
        tracks = track_of_detection[matched]
        self._hits[tracks] += 1
        self._last_matched_s[tracks] = stamp_s
        return self._describe(detections, tracks, matched)

    def _associate(
        self, detections: Detections, previous_s: float, track_of_detection: np.ndarray
    ) -> None:
        """ByteTrack's two rounds: write each matched detection's track row, correct the
        tracks' filters."""
        settings = self.settings
        scores = detections.scores
        is_confident = scores >= settings.high_threshold
        iou = iou_matrix(self._filters.boxes(), detections.boxes)
        tracks, matched = _assign(iou, (iou >= settings.match_iou) & is_confident)
        track_of_detection[matched] = tracks
        # Weak detections may continue only the tracks matched in the previous frame.
        is_weak = ~is_confident & (scores >= settings.low_threshold)
        continued = self._last_matched_s == previous_s
        continued[tracks] = False
        if is_weak.any() and continued.any():
            weak_tracks, weak_matched = _assign(
                iou, (iou >= settings.low_match_iou) & is_weak & continued[:, None]
            )
            track_of_detection[weak_matched] = weak_tracks
            tracks = np.concatenate((tracks, weak_tracks))
            matched = np.concatenate((matched, weak_matched))
        self._filters.correct(tracks, detections.boxes[matched])

    def _keep(self, kept: np.ndarray) -> None:
        """Drop the tracks where the boolean ``kept`` is false."""
        if kept.all():
            return
        self._filters.keep(kept)
        self._ids = self._ids[kept]
        self._hits = self._hits[kept]
        self._last_matched_s = self._last_matched_s[kept]
        self._votes = self._votes[kept]

    def _start(self, boxes: np.ndarray) -> None:
        """New tracks, one per box, not yet counted as matched."""
        count = len(boxes)
        self._filters.add(boxes)
        self._ids = np.concatenate((self._ids, np.arange(self._next_id, self._next_id + count)))
        self._next_id += count
        self._hits = np.concatenate((self._hits, np.zeros(count, np.int64)))
        self._last_matched_s = np.concatenate((self._last_matched_s, np.zeros(count)))
        self._votes = np.concatenate((self._votes, np.zeros((count, self._votes.shape[1]))))

    def _describe(
        self, detections: Detections, track_rows: np.ndarray, detection_rows: np.ndarray
    ) -> list[Track]:
        """Count the matched detections' votes and describe their tracks."""
        if not len(detection_rows):
            return []
        class_ids = detections.class_ids[detection_rows]
        scores = detections.scores[detection_rows]
        class_count = int(class_ids.max()) + 1
        if class_count > self._votes.shape[1]:
            self._votes = np.pad(self._votes, ((0, 0), (0, class_count - self._votes.shape[1])))
        self._votes[track_rows, class_ids] += scores
        self._class_names.update(
            zip(detections.class_ids.tolist(), detections.class_names, strict=True)
        )
        voted = self._votes[track_rows].argmax(axis=1).tolist()
        boxes = detections.boxes[detection_rows]
        boxes.flags.writeable = False
        class_names = self._class_names
        return list(
            map(
                Track._make,
                zip(
                    self._ids[track_rows].tolist(),
                    boxes,
                    scores.tolist(),
                    voted,
                    [class_names[class_id] for class_id in voted],
                    self._hits[track_rows].tolist(),
                    detection_rows.tolist(),
                    strict=True,
                ),
            )
        )
