"""Sign events: tracks seen N of their last M frames, big enough, in the region, and only those."""

from __future__ import annotations

import numpy as np
import pytest
from test_layers import ROS_MODULES, assert_imports_none_of

from yolox_ros.core.detections import Detections
from yolox_ros.core.sign_events import SignEvents, SignEventSettings
from yolox_ros.core.tracking import Tracker, TrackerSettings
from yolox_ros.errors import ConfigError

FPS = 30.0
IMAGE_SIZE = (640, 480)  # width, height
SIGN = [300.0, 200.0, 340.0, 240.0]


def detections(*boxes: list[float]) -> Detections:
    return Detections(
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.full(len(boxes), 0.9, np.float32),
        class_ids=np.zeros(len(boxes), np.int64),
        class_names=("stop",) * len(boxes),
    )


def run(frames: list[list[list[float]]], settings: SignEventSettings | None = None):
    """The sign events of each frame, given each frame's boxes, at 30 frames/s."""
    tracker = Tracker(TrackerSettings(max_lost_s=0.5))
    signs = SignEvents(settings)
    reported = []
    for frame, boxes in enumerate(frames):
        tracks = tracker.update(detections(*boxes), frame / FPS)
        reported.append(signs.update(tracks, tracker.live_track_ids, IMAGE_SIZE, frame / FPS))
    return reported


def test_imports_neither_ros_nor_torch():
    assert_imports_none_of(("torch", *ROS_MODULES), ["yolox_ros.core.sign_events"])


def test_a_one_frame_flicker_is_never_reported():
    # seen every third frame: at most 2 of any 5 frames, a new flicker each time
    frames = [[SIGN] if frame % 3 == 0 else [] for frame in range(60)]
    assert all(events == [] for events in run(frames))


def test_a_sign_seen_3_of_5_frames_is_reported_from_the_third():
    seen = [True, False, True, True, True, False, False, True]
    reported = run([[SIGN] if hit else [] for hit in seen])
    assert [len(events) for events in reported] == [0, 0, 0, 1, 1, 1, 1, 1]
    confirmed = reported[3][0]
    assert (confirmed.track_id, confirmed.class_name, confirmed.matched) == (1, "stop", True)
    assert confirmed.confirmed_s == confirmed.seen_s == pytest.approx(3 / FPS)
    assert confirmed.box.tolist() == SIGN
    # lost: held with the box of its last frame; seen again: matched
    held = reported[6][0]
    assert (held.matched, held.seen_s, held.box.tolist()) == (False, reported[4][0].seen_s, SIGN)
    assert reported[7][0].matched and reported[7][0].confirmed_s == confirmed.confirmed_s


def test_a_confirmed_sign_is_reported_until_the_tracker_drops_it():
    frames = [[SIGN]] * 3 + [[]] * 20  # max_lost_s 0.5 s: 15 frames
    reported = run(frames)
    held_frames = [frame for frame, events in enumerate(reported) if events]
    assert held_frames == list(range(2, 3 + 15))
    assert all(not events[0].matched for events in reported[3:18])


def test_the_window_counts_lost_frames_as_misses():
    seen = [True, True, False, False, True, True, True]
    frames = [[SIGN] if hit else [] for hit in seen]
    # 3 of the last 5 frames at frame 4; 3 of the last 4 only at frame 6
    assert [len(events) for events in run(frames)][:5] == [0, 0, 0, 0, 1]
    settings = SignEventSettings(confirm_hits=3, confirm_window=4)
    assert [len(events) for events in run(frames, settings)] == [0] * 6 + [1]


def square(size: float, cx: float = 320.0, cy: float = 240.0) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def test_boxes_under_min_box_px_do_not_count():
    settings = SignEventSettings(min_box_px=20)
    small = [[square(19)]] * 10
    assert all(events == [] for events in run(small, settings))
    growing = [[square(16 + frame)] for frame in range(10)]  # 20 px from frame 4 on
    reported = run(growing, settings)
    assert [len(events) for events in reported] == [0] * 6 + [1] * 4


def test_only_boxes_centred_in_the_region_of_interest_count():
    settings = SignEventSettings(region_of_interest=(0.5, 0.0, 1.0, 0.5))  # top right
    outside = [[square(40, cx=300, cy=100)]] * 10
    assert all(events == [] for events in run(outside, settings))
    inside = [[square(40, cx=340, cy=100)]] * 10
    assert [len(events) for events in run(inside, settings)] == [0, 0] + [1] * 8
    leaving = [[square(40, cx=340 - 10 * frame, cy=100)] for frame in range(6)]  # 320: edge
    assert [len(events) for events in run(leaving, settings)] == [0, 0, 1, 0, 0, 0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("confirm_hits", 1),  # a single frame would be reported
        ("confirm_hits", 3.0),
        ("confirm_window", 2),  # under confirm_hits
        ("min_box_px", -1),
        ("region_of_interest", (0.0, 0.0, 1.0)),
        ("region_of_interest", (0.0, 0.0, 1.5, 1.0)),
        ("region_of_interest", (0.6, 0.0, 0.4, 1.0)),
    ],
)
def test_invalid_settings_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        SignEventSettings(**{field: value})


def test_a_region_given_as_a_list_is_kept_as_a_tuple():
    settings = SignEventSettings(region_of_interest=[0, 0.25, 1, 0.75])
    assert settings.region_of_interest == (0.0, 0.25, 1.0, 0.75)
    hash(settings)
