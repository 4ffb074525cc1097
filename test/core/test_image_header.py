"""Declared image sizes read from JPEG, PNG and BMP headers without decoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from yolox_ros.core.image_header import declared_size


def encoded(suffix: str, width: int, height: int, *params: int) -> bytes:
    ok, data = cv2.imencode(suffix, np.zeros((height, width, 3), np.uint8), list(params))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("suffix", "params"),
    [
        (".jpg", ()),
        (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
        (".png", ()),
        (".bmp", ()),
    ],
    ids=["baseline_jpeg", "progressive_jpeg", "png", "bmp"],
)
@pytest.mark.parametrize(("width", "height"), [(1, 1), (640, 480), (37, 1031)])
def test_the_encoded_size_is_read_back(suffix: str, params: tuple, width: int, height: int) -> None:
    assert declared_size(encoded(suffix, width, height, *params)) == (width, height)


def test_fill_bytes_before_a_marker_are_skipped() -> None:
    data = encoded(".jpg", 20, 10)
    assert declared_size(data[:2] + b"\xff\xff" + data[2:]) == (20, 10)


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a....", b"\xff\xd8", b"\x89PNG\r\n\x1a\n\x00\x00", b"\xff\xd8\x00\x10garbage"],
    ids=["empty", "gif", "jpeg_start_only", "truncated_png", "jpeg_without_markers"],
)
def test_no_readable_header_gives_none(data: bytes) -> None:
    assert declared_size(data) is None


def test_a_jpeg_cut_before_its_frame_header_gives_none() -> None:
    data = encoded(".jpg", 64, 48)
    assert declared_size(data[: data.index(b"\xff\xc0")]) is None
