"""Image sizes from file headers: equal to what OpenCV decodes, None for anything malformed."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from yolox_ros.datasets.image_header import declared_size, image_file_size, jpeg_orientation

WIDTH, HEIGHT = 37, 21


def encoded(ext: str, *params: int) -> bytes:
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


@pytest.mark.parametrize(
    ("ext", "params"),
    [
        (".jpg", ()),
        (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
        (".png", ()),
        (".bmp", ()),
    ],
    ids=["baseline-jpeg", "progressive-jpeg", "png", "bmp"],
)
def test_declared_size_reads_the_header(ext, params):
    assert declared_size(encoded(ext, *params)) == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage bytes that are no image at all",
        encoded(".jpg")[:20],
        encoded(".png")[:20],
        encoded(".bmp")[:20],
        b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10" + bytes(20),  # zero height
        b"\xff\xd8\xff\xe0\xff\xff" + bytes(10),  # segment length past the end
    ],
    ids=["empty", "garbage", "jpeg-cut", "png-cut", "bmp-cut", "jpeg-zero-height", "jpeg-bad-len"],
)
def test_truncated_or_garbage_bytes_give_none(data):
    assert declared_size(data) is None


def test_file_size_matches_opencv_for_header_and_decoded_formats(tmp_path):
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tiff"):
        path = tmp_path / f"image{ext}"
        path.write_bytes(encoded(ext))
        assert image_file_size(path) == (WIDTH, HEIGHT), ext


@pytest.mark.parametrize(("orientation", "swapped"), [(1, False), (3, False), (6, True), (8, True)])
def test_exif_rotation_swaps_size_as_opencv_does(tmp_path, orientation, swapped):
    path = tmp_path / "rotated.jpg"
    path.write_bytes(with_segment(encoded(".jpg"), 0xE1, exif_orientation_segment(orientation)))
    data = path.read_bytes()
    assert jpeg_orientation(data) == orientation
    assert declared_size(data) == (WIDTH, HEIGHT)  # stored pixels, unrotated
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    expected = (HEIGHT, WIDTH) if swapped else (WIDTH, HEIGHT)
    assert (decoded.shape[1], decoded.shape[0]) == expected
    assert image_file_size(path) == expected


def test_frame_header_after_large_metadata_is_found(tmp_path):
    data = encoded(".jpg")
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
