"""Recordings from frame numbers, and the far (zoomed-out) view of a dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.datasets.recordings import held_out_frames, recordings
from yolox_ros.datasets.records import DetectionDataset, ImageRecord
from yolox_ros.datasets.zoom_out import zoom_out_dataset
from yolox_ros.errors import ConfigError


def test_frames_split_into_recordings_at_gaps():
    runs = recordings([30, 4, 7, 9, 7, 60, 61, 100], max_gap=20)
    assert runs == [[4, 7, 9], [30], [60, 61], [100]]
    assert held_out_frames(runs, [4, 60]) == {4, 7, 9, 60, 61}


def test_a_held_out_recording_must_start_at_a_known_frame():
    with pytest.raises(ConfigError, match="no recording starts at frame 5"):
        held_out_frames(recordings([4, 7, 9], 20), [5])


def test_the_far_view_shrinks_boxes_with_the_pixels(tmp_path: Path):
    image = np.full((180, 240, 3), 90, np.uint8)
    image[60:100, 0:40] = (0, 0, 255)  # a red 40x40 "sign" at the left edge
    cv2.imwrite(str(tmp_path / "a.png"), image)
    record = ImageRecord(tmp_path / "a.png", 240, 180, 1, [[0, 60, 40, 100]], [0])
    far = zoom_out_dataset(
        DetectionDataset("t", ("sign",), [record]), 0.5, (0.5, 0.5), tmp_path / "far"
    )
    (far_record,) = far.records
    x1, y1, x2, y2 = far_record.boxes[0]
    assert (x2 - x1, y2 - y1) == pytest.approx((20, 20))
    shrunk = cv2.imread(str(far_record.path))
    assert shrunk.shape == image.shape
    red = (shrunk[..., 2] > 200) & (shrunk[..., 1] < 60)
    inside = red[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2]
    assert inside.all()
    # Mirrored into the surround (left, above, below and the corners): ignored regions there,
    # and every red pixel outside the box lies in one.
    assert len(far_record.ignored) == 5
    rows, cols = np.nonzero(red)
    for row, col in zip(rows, cols, strict=True):
        regions = np.vstack([far_record.boxes, far_record.ignored])
        assert any(b[0] - 2 <= col <= b[2] + 2 and b[1] - 2 <= row <= b[3] + 2 for b in regions)
