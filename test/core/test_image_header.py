"""Image files: declared sizes read from JPEG, PNG and BMP headers without decoding, and file
sizes as OpenCV decodes them (EXIF rotation included)."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from yolox_ros.core.image_header import (
    IMAGE_SUFFIXES,
    declared_size,
    image_file_size,
    is_image_file,
    jpeg_orientation,
)


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


WIDTH, HEIGHT = 37, 21


def noisy(ext: str, *params: int) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok
    return data.tobytes()


def with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with one more marker segment right after SOI."""
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def exif_orientation_segment(orientation: int) -> bytes:
    """APP1 payload: a big-endian TIFF whose IFD0 holds only the orientation tag."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + b"\0\0\0\0"
    return b"Exif\x00\x00" + tiff


def test_file_size_matches_opencv_for_header_and_decoded_formats(tmp_path):
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tiff"):
        path = tmp_path / f"image{ext}"
        path.write_bytes(noisy(ext))
        assert image_file_size(path) == (WIDTH, HEIGHT), ext


@pytest.mark.parametrize(("orientation", "swapped"), [(1, False), (3, False), (6, True), (8, True)])
def test_exif_rotation_swaps_size_as_opencv_does(tmp_path, orientation, swapped):
    path = tmp_path / "rotated.jpg"
    path.write_bytes(with_segment(noisy(".jpg"), 0xE1, exif_orientation_segment(orientation)))
    data = path.read_bytes()
    assert jpeg_orientation(data) == orientation
    assert declared_size(data) == (WIDTH, HEIGHT)  # stored pixels, unrotated
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    expected = (HEIGHT, WIDTH) if swapped else (WIDTH, HEIGHT)
    assert (decoded.shape[1], decoded.shape[0]) == expected
    assert image_file_size(path) == expected


def test_frame_header_after_large_metadata_is_found(tmp_path):
    data = noisy(".jpg")
    for _ in range(2):
        data = with_segment(data, 0xE2, bytes(60000))
    path = tmp_path / "big_icc.jpg"
    path.write_bytes(data)
    assert image_file_size(path) == (WIDTH, HEIGHT)


def test_file_that_is_no_image_raises(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not an image"):
        image_file_size(path)
    with pytest.raises(OSError):
        image_file_size(tmp_path / "missing.jpg")


def test_image_files_are_known_by_suffix_whatever_the_case(tmp_path):
    assert is_image_file(tmp_path / "a.JPG") and is_image_file(tmp_path / "b.png")
    assert not is_image_file(tmp_path / "labels.txt")
    assert ".webp" in IMAGE_SUFFIXES
