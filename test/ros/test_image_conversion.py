"""sensor_msgs Image / CompressedImage <-> BGR arrays, without a ROS graph."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg")

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from support.ros import compressed_msg, image_msg, jpeg_bomb  # noqa: E402

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


def raw_msg(pixels: np.ndarray, encoding: str, big_endian: bool = False) -> Image:
    """An Image of ``pixels`` (H x W [x C], uint8 or uint16) as they are, no padding."""
    wide = pixels.astype(">u2" if big_endian else "<u2") if pixels.dtype == np.uint16 else pixels
    height, width = pixels.shape[:2]
    data = wide.tobytes()
    return Image(
        header=HEADER, height=height, width=width, encoding=encoding,
        is_bigendian=big_endian, step=len(data) // height, data=data,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "order"),
    [("yuv422", "UYVY"), ("uyvy", "UYVY"), ("yuyv", "YUYV"), ("yuv422_yuy2", "YUYV")],
)
def test_yuv422_reads_its_byte_order(encoding: str, order: str) -> None:
    # Pixel pairs: a dark and a light gray (no chroma), then two reds (strong V).
    pairs = [{"Y0": 50, "Y1": 200, "U": 128, "V": 128}, {"Y0": 128, "Y1": 128, "U": 128, "V": 240}]
    sequence = ["U", "Y0", "V", "Y1"] if order == "UYVY" else ["Y0", "U", "Y1", "V"]
    row = np.array([pair[key] for pair in pairs for key in sequence], np.uint8)
    decoded = image_msg_to_bgr(raw_msg(row.reshape(1, 4, 2), encoding)).astype(int)
    dark, light, red = decoded[0, 0], decoded[0, 1], decoded[0, 2]
    assert np.ptp(dark) <= 2 and dark[0] < 80
    assert np.ptp(light) <= 2 and light[0] > 170
    assert red[2] > red[1] + 80 and red[2] > red[0] + 80


def test_yuv422_with_an_odd_width_is_refused() -> None:
    with pytest.raises(InvalidImageError, match="yuyv needs an even width"):
        image_msg_to_bgr(raw_msg(np.zeros((2, 3, 2), np.uint8), "yuyv"))


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_mosaic_of_a_uniform_colour_demosaics_to_that_colour(pattern: str) -> None:
    colour = {"b": 20, "g": 120, "r": 220}
    tile = np.array(
        [[colour[pattern[0]], colour[pattern[1]]], [colour[pattern[2]], colour[pattern[3]]]]
    )
    mosaic = np.tile(tile, (6, 8)).astype(np.uint8)  # 12 x 16, top-left tile as named
    decoded = image_msg_to_bgr(raw_msg(mosaic, f"bayer_{pattern}8"))
    assert decoded.shape == (12, 16, 3)
    inner = decoded[2:-2, 2:-2].reshape(-1, 3).astype(int)
    np.testing.assert_allclose(inner, [[20, 120, 220]] * len(inner), atol=2)


@pytest.mark.parametrize(("encoding", "same_as"), [("8UC1", "mono8"), ("8UC3", "bgr8")])
def test_opencv_type_names_read_as_mono8_and_bgr8(encoding: str, same_as: str) -> None:
    msg = image_msg(random_bgr(4, 6), same_as, HEADER)
    expected = image_msg_to_bgr(msg)
    msg.encoding = encoding
    np.testing.assert_array_equal(image_msg_to_bgr(msg), expected)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("encoding", ["bgr16", "rgb16"])
def test_16_bit_colour_keeps_the_high_byte_in_its_channel_order(
    encoding: str, big_endian: bool
) -> None:
    bgr = random_bgr(3, 5)
    channels = bgr if encoding == "bgr16" else bgr[:, :, ::-1]
    wide = channels.astype(np.uint16) * 257 + 1  # low bytes that must not matter
    np.testing.assert_array_equal(image_msg_to_bgr(raw_msg(wide, encoding, big_endian)), bgr)


def test_an_image_declaring_more_than_max_pixels_is_refused_before_decoding() -> None:
    msg = image_msg(random_bgr(40, 50), "bgr8", HEADER)
    with pytest.raises(InvalidImageError, match="declares 50x40 = 2000 pixels") as raised:
        image_msg_to_bgr(msg, max_pixels=1999)
    assert raised.value.cause == "too_large"
    jpeg = compressed_msg(random_bgr(40, 50), "jpeg", HEADER)
    with pytest.raises(InvalidImageError, match="more than max_image_pixels = 1999"):
        compressed_msg_to_bgr(jpeg, max_pixels=1999)
    assert compressed_msg_to_bgr(jpeg, max_pixels=2000).shape == (40, 50, 3)


def test_decoder_errors_are_invalid_frames_and_decoder_messages_stay_off_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    png = bytearray(compressed_msg(random_bgr(8, 8), "png", HEADER).data)
    png[30] ^= 0xFF  # inside the header chunk: libpng reports a CRC error
    corrupt = CompressedImage(header=HEADER, format="png", data=bytes(png))
    for _ in range(3):
        with pytest.raises(InvalidImageError, match="corrupt") as raised:
            compressed_msg_to_bgr(corrupt)
        assert raised.value.cause == "corrupt"
    assert "libpng" not in capfd.readouterr().err


def test_a_size_beyond_opencvs_own_limit_is_an_invalid_frame_not_an_opencv_error() -> None:
    bomb = CompressedImage(header=HEADER, format="jpeg", data=jpeg_bomb(65000, 65000))
    with pytest.raises(InvalidImageError, match="65000x65000 declared: corrupt") as raised:
        compressed_msg_to_bgr(bomb, max_pixels=65000 * 65000)
    assert raised.value.cause == "corrupt"


@pytest.mark.parametrize("damage", ["truncated", "bit_flips"])
def test_a_jpeg_its_decoder_calls_corrupt_is_an_invalid_frame(
    damage: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """libjpeg returns an image with grey where the data went wrong: it is not a frame."""
    image = cv2.GaussianBlur(random_bgr(120, 160), (0, 0), 2)
    jpeg = bytearray(compressed_msg(image, "jpeg", HEADER).data)
    intact = CompressedImage(header=HEADER, format="jpeg", data=bytes(jpeg))
    assert compressed_msg_to_bgr(intact).shape == (120, 160, 3)
    if damage == "truncated":
        jpeg = jpeg[: len(jpeg) // 3]
    else:
        for offset in range(len(jpeg) // 2, len(jpeg) - 10, 97):
            jpeg[offset] = 0xFF  # a marker byte inside the entropy-coded data
    damaged = CompressedImage(header=HEADER, format="jpeg", data=bytes(jpeg))
    with pytest.raises(InvalidImageError, match="corrupt") as raised:
        compressed_msg_to_bgr(damaged)
    assert raised.value.cause == "corrupt"
    assert "JPEG" not in capfd.readouterr().err


def test_opencvs_own_warnings_are_off_for_the_process() -> None:
    # "[ WARN:0@4.084] global grfmt_png.cpp:793 ... PNG input buffer is incomplete" per frame.
    assert cv2.utils.logging.getLogLevel() <= cv2.utils.logging.LOG_LEVEL_ERROR
    truncated_png = bytes(compressed_msg(random_bgr(32, 32), "png", HEADER).data)[:200]
    with pytest.raises(InvalidImageError, match="corrupt"):
        compressed_msg_to_bgr(CompressedImage(header=HEADER, format="png", data=truncated_png))
