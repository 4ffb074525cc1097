"""Latest-frame slots: newest frame wins, overwritten frames are reported, cameras take turns."""

from yolox_ros.ros.latest_frame import LatestFrames


def test_a_newer_frame_replaces_the_unprocessed_one_and_says_so() -> None:
    frames: LatestFrames[str] = LatestFrames(1)
    assert frames.put(0, "first") is False
    assert frames.put(0, "second") is True
    assert frames.take() == (0, "second")
    assert frames.take() is None and frames.empty()
    assert frames.put(0, "third") is False  # the slot was emptied by take


def test_a_busy_camera_cannot_starve_another() -> None:
    frames: LatestFrames[str] = LatestFrames(3)
    taken = []
    for step in range(4):
        frames.put(0, f"front {step}")  # camera 0 always has a new frame
        if step == 0:
            frames.put(2, "rear 0")
        taken.append(frames.take())
    assert taken == [(0, "front 0"), (2, "rear 0"), (0, "front 2"), (0, "front 3")]
