"""sensor_msgs Image / CompressedImage <-> numpy BGR images, without cv_bridge.

Every malformed message raises :class:`InvalidImageError` naming the problem,
so a bad frame can be skipped without taking the node down.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from yolox_ros.errors import InvalidImageError

# encoding -> (channels, bytes per channel, OpenCV conversion to BGR or None)
_RAW_ENCODINGS: dict[str, tuple[int, int, int | None]] = {
    "bgr8": (3, 1, None),
    "rgb8": (3, 1, cv2.COLOR_RGB2BGR),
    "bgra8": (4, 1, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, 1, cv2.COLOR_RGBA2BGR),
    "mono8": (1, 1, cv2.COLOR_GRAY2BGR),
    "mono16": (1, 2, cv2.COLOR_GRAY2BGR),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_RAW_ENCODINGS)
SUPPORTED_COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "png")


def image_msg_to_bgr(msg: Image) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a contiguous HxWx3 uint8 BGR array.

    Row padding (``step`` larger than a row) is skipped; ``is_bigendian`` is
    honoured for 16-bit encodings (mono16 is scaled to 8 bits like cv_bridge).
    """
    encoding = msg.encoding.strip().lower()
    if encoding not in _RAW_ENCODINGS:
        supported = ", ".join(SUPPORTED_ENCODINGS)
        raise InvalidImageError(
            f"unsupported image encoding {msg.encoding!r}; supported: {supported}"
        )
    channels, depth, to_bgr = _RAW_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise InvalidImageError(f"empty image: {width}x{height} pixels")
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise InvalidImageError(
            f"step {step} is smaller than width x bytes per pixel = {width} x "
            f"{channels * depth} = {row_bytes} ({encoding})"
        )
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size < height * step:
        raise InvalidImageError(
            f"image data has {buffer.size} bytes, expected height x step = "
            f"{height} x {step} = {height * step}"
        )
    rows = buffer[: height * step].reshape(height, step)[:, :row_bytes]
    if depth == 2:
        byte_order = ">" if msg.is_bigendian else "<"
        wide = np.ascontiguousarray(rows).view(f"{byte_order}u2").reshape(height, width)
        pixels = (wide >> 8).astype(np.uint8)
    else:
        pixels = rows.reshape(height, width, channels)
    if to_bgr is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, to_bgr)


def compressed_msg_to_bgr(msg: CompressedImage) -> np.ndarray:
    """Decode a JPEG or PNG ``sensor_msgs/CompressedImage`` into an HxWx3 uint8 BGR array.

    ``format`` may be plain (``jpeg``) or as image_transport writes it
    (``bgr8; jpeg compressed bgr8``); an empty format is decoded by content.
    """
    image_format = msg.format.strip().lower()
    # compressedDepth payloads are PNGs behind a private header: not a camera image.
    names_a_codec = any(name in image_format for name in ("jpeg", "jpg", "png"))
    if image_format and (not names_a_codec or "compresseddepth" in image_format):
        raise InvalidImageError(
            f"unsupported compressed format {msg.format!r}; supported: "
            f"{', '.join(SUPPORTED_COMPRESSED_FORMATS)}"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise InvalidImageError("empty compressed image: no data")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidImageError(
            f"cannot decode {image_format or 'compressed'} image of {data.size} bytes: "
            "corrupt or not an image"
        )
    return image


def bgr_to_image_msg(image: np.ndarray, header: Header) -> Image:
    """Wrap an HxWx3 uint8 BGR array into a ``bgr8`` ``sensor_msgs/Image`` with ``header``."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(
            f"expected an HxWx3 uint8 BGR image, got shape {image.shape} dtype {image.dtype}"
        )
    height, width = image.shape[:2]
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(image).data)
    msg = Image(height=height, width=width, encoding="bgr8", is_bigendian=0, step=width * 3)
    msg.header = header
    msg.data = data
    return msg
