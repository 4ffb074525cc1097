"""The tracker: stable ids over a drive, across misses, dropped frames and crossings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from test_layers import ROS_MODULES, assert_imports_none_of

from yolox_ros.core.detections import Detections
from yolox_ros.core.tracking import Tracker, TrackerSettings, _assign, iou_matrix
from yolox_ros.errors import ConfigError

FPS = 30.0
NAMES = ("stop", "yield")


def detections(boxes: list[list[float]], scores: list[float] | None = None, classes=None):
    """Detections of the given x1y1x2y2 boxes; score 0.9 and class 0 unless given."""
    scores = [0.9] * len(boxes) if scores is None else scores
    classes = [0] * len(boxes) if classes is None else classes
    return Detections(
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.array(scores, np.float32),
        class_ids=np.array(classes, np.int64),
        class_names=tuple(NAMES[c] for c in classes),
    )


def square(cx: float, cy: float, size: float) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def ids(tracks) -> list[int]:
    return [track.track_id for track in tracks]


def test_imports_neither_ros_nor_torch():
    assert_imports_none_of(("torch", *ROS_MODULES), ["yolox_ros.core.tracking"])


def test_ids_stay_stable_along_a_drive():
    # Four signs beside the road, approached at 15 m/s and seen by a 1280x720 camera
    # (focal length 1000 px): they grow and move outwards faster and faster.
    signs = [(4.0, -1.5, 45.0), (-5.0, -2.0, 60.0), (6.0, -1.0, 75.0), (3.0, -3.0, 90.0)]
    rng = np.random.default_rng(0)
    tracker = Tracker()
    seen: dict[int, set[int]] = {index: set() for index in range(len(signs))}
    for frame in range(60):
        travelled = 15.0 * frame / FPS
        boxes = [
            square(
                640 + 1000 * x / (z - travelled),
                360 + 1000 * y / (z - travelled),
                1000 * 0.8 / (z - travelled),
            )
            for x, y, z in signs
        ]
        jittered = (np.array(boxes) + rng.normal(0, 0.7, (len(boxes), 4))).tolist()
        scores = rng.uniform(0.6, 0.95, len(boxes)).tolist()
        tracks = tracker.update(detections(jittered, scores), frame / FPS)
        assert len(tracks) == len(signs)
        for sign, track in enumerate(tracks):  # in the order of the detections
            seen[sign].add(track.track_id)
    assert [sorted(track_ids) for track_ids in seen.values()] == [[1], [2], [3], [4]]


@pytest.mark.parametrize(
    ("gap", "missed"),
    [("frames without the detection", 1), ("dropped frames", 1), ("dropped frames", 3)],
)
def test_an_id_survives_missed_frames(gap, missed):
    tracker = Tracker()
    speed = 12.0  # px per frame, on a 30 px box: two frames apart, boxes overlap little
    for frame in range(10):
        (track,) = tracker.update(detections([square(100 + speed * frame, 200, 30)]), frame / FPS)
    if gap == "frames without the detection":
        for frame in range(10, 10 + missed):
            assert tracker.update(detections([]), frame / FPS) == []
    back = 10 + missed
    after_gap = square(100 + speed * back, 200, 30)
    assert iou_matrix(np.array([track.box]), np.array([after_gap]))[0, 0] < 0.3  # needs motion
    assert ids(tracker.update(detections([after_gap]), back / FPS)) == [track.track_id]


def test_crossing_signs_keep_their_ids():
    tracker = Tracker()
    speed, size = 6.0, 40.0

    def boxes(frame: int) -> list[list[float]]:
        offset = speed * (frame - 14.5)  # they meet between frames 14 and 15
        return [square(300 + offset, 200, size), square(300 - offset, 202, size)]

    for frame in range(30):
        tracks = tracker.update(detections(boxes(frame)), frame / FPS)
        assert {track.track_id: np.round(track.box).tolist() for track in tracks} == {
            1: np.round(boxes(frame)[0]).tolist(),
            2: np.round(boxes(frame)[1]).tolist(),
        }
    # Without motion the last boxes would have swapped at the crossing.
    iou = iou_matrix(np.array(boxes(14)), np.array(boxes(15)))
    assert iou[0, 1] > iou[0, 0] and iou[1, 0] > iou[1, 1]


def test_a_low_score_detection_continues_a_track_but_never_starts_one():
    tracker = Tracker(TrackerSettings(high_threshold=0.5, low_threshold=0.1))
    sign, clutter, doubtful = square(100, 100, 40), square(400, 100, 40), square(700, 100, 40)
    for frame in range(3):
        (track,) = tracker.update(detections([sign]), frame / FPS)
    for frame in range(3, 10):
        # the sign weakly; clutter under high_threshold; a box too weak to start a track
        tracks = tracker.update(
            detections([sign, clutter, doubtful], [0.2, 0.3, 0.55]), frame / FPS
        )
        assert [(t.track_id, round(t.score, 2)) for t in tracks] == [(track.track_id, 0.2)]
    assert tracker.live_track_ids == {track.track_id}


def test_a_low_score_detection_does_not_continue_a_lost_track():
    tracker = Tracker()
    sign = square(100, 100, 40)
    (track,) = tracker.update(detections([sign]), 0.0)
    tracker.update(detections([]), 1 / FPS)
    assert tracker.update(detections([sign], [0.3]), 2 / FPS) == []
    assert ids(tracker.update(detections([sign]), 3 / FPS)) == [track.track_id]


def test_the_class_is_the_vote_of_the_tracks_frames():
    tracker = Tracker()
    sign = square(100, 100, 40)
    frames = [(0, 0.7)] * 10 + [(1, 0.9)] * 7
    for frame, (class_id, score) in enumerate(frames):
        (track,) = tracker.update(detections([sign], [score], [class_id]), frame / FPS)
        assert (track.class_id, track.class_name) == (0, "stop")  # 7 x 0.9 < 10 x 0.7
        assert track.score == pytest.approx(score)
    (track,) = tracker.update(detections([sign], [0.9], [1]), len(frames) / FPS)
    assert (track.class_id, track.class_name, track.hits) == (1, "yield", 18)  # 8 x 0.9 > 7


def test_a_lost_track_expires_after_max_lost_s_and_ids_are_never_reused():
    tracker = Tracker(TrackerSettings(max_lost_s=1.0))
    sign = square(100, 100, 40)
    (first,) = tracker.update(detections([sign]), 10.0)
    assert ids(tracker.update(detections([sign]), 10.9)) == [first.track_id]  # lost 0.9 s
    assert tracker.update(detections([]), 12.0) == [] and tracker.live_track_ids == set()
    (second,) = tracker.update(detections([sign]), 12.1)
    tracker.reset()
    (third,) = tracker.update(detections([sign]), 12.2)
    (fourth,) = tracker.update(detections([sign]), 1.0)  # time went back: a new drive
    assert [first.track_id, second.track_id, third.track_id, fourth.track_id] == [1, 2, 3, 4]


def test_matched_tracks_come_in_the_order_of_their_detections():
    tracker = Tracker()
    boxes = [square(100 * k, 100, 40) for k in range(1, 4)]
    tracker.update(detections(boxes, [0.9, 0.8, 0.7]), 0.0)
    tracks = tracker.update(detections(boxes[::-1], [0.9, 0.8, 0.7]), 1 / FPS)
    assert ids(tracks) == [3, 2, 1]
    assert not tracks[0].box.flags.writeable


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("high_threshold", 1.5),
        ("low_threshold", -0.1),
        ("low_threshold", 0.6),  # above high_threshold
        ("new_track_threshold", 0.4),  # under high_threshold
        ("new_track_threshold", "0.7"),
        ("match_iou", 0.0),
        ("low_match_iou", float("nan")),
        ("max_lost_s", -1.0),
        ("max_lost_s", True),
    ],
)
def test_invalid_settings_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field) as raised:
        TrackerSettings(**{field: value})
    assert isinstance(raised.value, ValueError)


def test_iou_of_boxes_without_area_is_zero_without_dividing_by_zero():
    boxes = np.array([[5, 5, 5, 5], [0, 0, 10, 10]], np.float32)
    others = np.array([[5, 5, 5, 5], [0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    with np.errstate(all="raise"):
        np.testing.assert_allclose(iou_matrix(boxes, others), [[0, 0, 0], [0, 1, 1 / 3]])


def test_the_assignment_matches_the_most_pairs_at_the_least_cost():
    # Crowded scenes, so that many tracks compete for the same detections.
    rng = np.random.default_rng(1)
    for _ in range(50):
        centres = rng.uniform(0, 200, (30, 2))
        tracks = np.concatenate((centres - 20, centres + 20), axis=1)
        moved = centres[:25] + rng.normal(0, 8, (25, 2))
        found = np.concatenate((moved - 20, moved + 20), axis=1)
        iou = iou_matrix(tracks, found)
        # the reference: the solver on the whole matrix, refused pairs made very costly
        cost = np.where(iou >= 0.3, 1 - iou, 1e6)
        rows, cols = linear_sum_assignment(cost)
        best = cost[rows, cols][cost[rows, cols] < 1e6]
        matched_tracks, matched = _assign(iou, iou >= 0.3)
        assert (iou[matched_tracks, matched] >= 0.3).all()
        assert len(set(matched_tracks.tolist())) == len(set(matched.tolist())) == len(best)
        assert (1 - iou[matched_tracks, matched]).sum() == pytest.approx(best.sum())


def test_each_track_names_the_row_of_its_detection():
    tracker = Tracker()
    boxes = np.array([[10, 10, 30, 30], [100, 100, 140, 140], [200, 50, 220, 70]], np.float32)
    detections = Detections(
        boxes=boxes, scores=np.array([0.9, 0.8, 0.05], np.float32),
        class_ids=np.array([0, 1, 0]), class_names=("a", "b", "a"),
    )  # fmt: skip
    tracks = tracker.update(detections, 0.0)
    assert [track.detection for track in tracks] == [0, 1]
    assert all((track.box == boxes[track.detection]).all() for track in tracks)
