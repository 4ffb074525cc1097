"""sensor_msgs Image / CompressedImage <-> BGR arrays, without a ROS graph."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg")

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from support.ros import compressed_msg, image_msg  # noqa: E402

from yolox_ros.errors import InvalidImageError  # noqa: E402
from yolox_ros.ros.image_conversion import (  # noqa: E402
    bgr_to_image_msg,
    compressed_msg_to_bgr,
    image_msg_to_bgr,
)

HEADER = Header(frame_id="camera")


def random_bgr(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_rgb8_with_row_padding_is_read_pixel_by_pixel() -> None:
    # 2x2 rgb8, each row padded with 2 bytes that must be ignored.
    rows = [[1, 2, 3, 4, 5, 6, 99, 99], [7, 8, 9, 10, 11, 12, 99, 99]]
    msg = Image(height=2, width=2, encoding="rgb8", step=8, data=bytes(sum(rows, [])))
    expected = np.array([[[3, 2, 1], [6, 5, 4]], [[9, 8, 7], [12, 11, 10]]], np.uint8)
    np.testing.assert_array_equal(image_msg_to_bgr(msg), expected)


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "bgra8", "rgba8"])
@pytest.mark.parametrize("row_padding", [0, 5])
def test_colour_encodings_decode_to_the_original_bgr(encoding: str, row_padding: int) -> None:
    bgr = random_bgr(7, 11)
    decoded = image_msg_to_bgr(image_msg(bgr, encoding, HEADER, row_padding))
    assert decoded.dtype == np.uint8 and decoded.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(decoded, bgr)


@pytest.mark.parametrize("row_padding", [0, 3])
def test_mono8_becomes_three_equal_channels(row_padding: int) -> None:
    bgr = random_bgr(6, 9)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    decoded = image_msg_to_bgr(image_msg(bgr, "mono8", HEADER, row_padding))
    np.testing.assert_array_equal(decoded, np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_honours_byte_order_and_keeps_the_high_byte(big_endian: bool) -> None:
    values = np.array([[0x1234, 0xFF00], [0x00FF, 0xABCD]], np.uint16)
    data = values.astype(">u2" if big_endian else "<u2").tobytes()
    msg = Image(height=2, width=2, encoding="mono16", is_bigendian=big_endian, step=4, data=data)
    decoded = image_msg_to_bgr(msg)
    np.testing.assert_array_equal(decoded[:, :, 0], [[0x12, 0xFF], [0x00, 0xAB]])
    np.testing.assert_array_equal(decoded[:, :, 0], decoded[:, :, 2])


def test_is_bigendian_does_not_change_8_bit_images() -> None:
    bgr = random_bgr(4, 5)
    msg = image_msg(bgr, "bgr8", HEADER)
    msg.is_bigendian = 1
    np.testing.assert_array_equal(image_msg_to_bgr(msg), bgr)


def test_extra_bytes_after_the_last_row_are_ignored() -> None:
    bgr = random_bgr(3, 4)
    msg = image_msg(bgr, "bgr8", HEADER)
    msg.data = bytes(msg.data) + b"\x00" * 10
    np.testing.assert_array_equal(image_msg_to_bgr(msg), bgr)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"encoding": "nv21"}, "unsupported image encoding 'nv21'"),
        ({"encoding": "16UC1"}, "unsupported image encoding '16UC1'"),
        ({"encoding": "bayer_rggb16"}, "supported: bgr8, 8UC3, rgb8, bgra8, rgba8, mono8"),
        ({"height": 0, "width": 0, "step": 0, "data": b""}, "empty image: 0x0"),
        ({"height": 4, "width": 0}, "empty image: 0x4"),
        ({"step": 11}, "step 11 is smaller than width x bytes per pixel = 4 x 3 = 12"),
        ({"data": bytes(35)}, "image data has 35 bytes, expected height x step = 3 x 12 = 36"),
        ({"height": 1000}, "image data has 36 bytes, expected height x step = 1000 x 12"),
    ],
)
def test_malformed_images_raise_naming_the_problem(fields: dict, problem: str) -> None:
    msg = image_msg(random_bgr(3, 4), "bgr8", HEADER)
    for name, value in fields.items():
        setattr(msg, name, value)
    with pytest.raises(InvalidImageError, match=re.escape(problem)):
        image_msg_to_bgr(msg)


@pytest.mark.parametrize("image_format", ["png", "bgr8; png compressed bgr8", ""])
def test_png_decodes_exactly(image_format: str) -> None:
    bgr = random_bgr(10, 13)
    msg = compressed_msg(bgr, "png", HEADER)
    msg.format = image_format
    np.testing.assert_array_equal(compressed_msg_to_bgr(msg), bgr)


@pytest.mark.parametrize("image_format", ["jpeg", "jpg", "rgb8; jpeg compressed bgr8"])
def test_jpeg_decodes_to_bgr_of_the_same_size(image_format: str) -> None:
    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[:, :, 2] = 200  # red in BGR: decoding must not swap channels
    msg = compressed_msg(bgr, "jpeg", HEADER)
    msg.format = image_format
    decoded = compressed_msg_to_bgr(msg)
    assert decoded.shape == bgr.shape
    assert np.abs(decoded.astype(int) - bgr).mean() < 3


@pytest.mark.parametrize(
    ("image_format", "data", "problem"),
    [
        ("jpeg", b"\xff\xd8\xff\xe0 this is not a jpeg", "cannot decode jpeg image of 23 bytes"),
        ("png", bytes(100), "cannot decode png image of 100 bytes"),
        ("jpeg", b"", "empty compressed image"),
        ("tiff", b"II*\x00", "unsupported compressed format 'tiff'"),
        ("16UC1; compressedDepth png", b"\x00" * 20, "unsupported compressed format"),
    ],
)
def test_bad_compressed_images_raise_naming_the_problem(
    image_format: str, data: bytes, problem: str
) -> None:
    msg = CompressedImage(header=HEADER, format=image_format, data=data)
    with pytest.raises(InvalidImageError, match=re.escape(problem)):
        compressed_msg_to_bgr(msg)


def test_bgr_to_image_msg_round_trips_with_the_header() -> None:
    bgr = random_bgr(5, 8)
    header = Header(frame_id="front")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = bgr_to_image_msg(bgr, header)
    assert (msg.encoding, msg.step, msg.height, msg.width) == ("bgr8", 24, 5, 8)
    assert msg.header == header
    np.testing.assert_array_equal(image_msg_to_bgr(msg), bgr)


def test_bgr_to_image_msg_refuses_non_bgr_arrays() -> None:
    with pytest.raises(InvalidImageError, match="HxWx3 uint8"):
        bgr_to_image_msg(np.zeros((4, 4), np.uint8), HEADER)
