"""sensor_msgs Image / CompressedImage <-> numpy BGR images, without cv_bridge.

Every malformed message raises :class:`InvalidFrameError` naming the problem
and its cause, so a bad frame can be skipped without taking the node down.
Images declaring more than ``max_pixels`` are refused before any pixel is
decoded (a 600-byte JPEG can declare 30000x30000 pixels).
"""

from __future__ import annotations

import array
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import IO

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from yolox_ros.core.image_header import declared_size
from yolox_ros.errors import InvalidImageError

# 12.6 MP: a 4K UHD frame (8.3 MP) or a 12 MP sensor (4056x3040) passes; decoding one such
# JPEG costs tens of ms here, where the 33 MP of an 8K frame let one 14 KB message cost 0.14 s.
MAX_IMAGE_PIXELS = 4096 * 3072

# Why a frame was refused: the node counts and throttles its warnings per cause.
CAUSE_ENCODING = "encoding"
CAUSE_LAYOUT = "layout"  # sizes, step or data length that do not fit together
CAUSE_TOO_LARGE = "too_large"
CAUSE_CORRUPT = "corrupt"


class InvalidFrameError(InvalidImageError):
    """A message that is not a usable image; ``cause`` is one of the CAUSE_* names."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class _RawEncoding:
    channels: int  # values per pixel in the message
    depth: int  # bytes per value
    to_bgr: int | None  # OpenCV conversion to BGR; None: already BGR
    even_width: bool = False  # 4:2:2 chroma is shared by pixel pairs


_GRAY = cv2.COLOR_GRAY2BGR
# ROS names (sensor_msgs/image_encodings.hpp). yuv422 is UYVY byte order and
# yuv422_yuy2 YUYV, as cv_bridge reads them; Bayer names give the top-left 2x2
# tile, OpenCV's the second row's: rggb is OpenCV's BG.
_RAW_ENCODINGS: dict[str, _RawEncoding] = {
    "bgr8": _RawEncoding(3, 1, None),
    "8uc3": _RawEncoding(3, 1, None),
    "rgb8": _RawEncoding(3, 1, cv2.COLOR_RGB2BGR),
    "bgra8": _RawEncoding(4, 1, cv2.COLOR_BGRA2BGR),
    "rgba8": _RawEncoding(4, 1, cv2.COLOR_RGBA2BGR),
    "mono8": _RawEncoding(1, 1, _GRAY),
    "8uc1": _RawEncoding(1, 1, _GRAY),
    "mono16": _RawEncoding(1, 2, _GRAY),
    "bgr16": _RawEncoding(3, 2, None),
    "rgb16": _RawEncoding(3, 2, cv2.COLOR_RGB2BGR),
    "yuv422": _RawEncoding(2, 1, cv2.COLOR_YUV2BGR_UYVY, even_width=True),
    "uyvy": _RawEncoding(2, 1, cv2.COLOR_YUV2BGR_UYVY, even_width=True),
    "yuv422_yuy2": _RawEncoding(2, 1, cv2.COLOR_YUV2BGR_YUYV, even_width=True),
    "yuyv": _RawEncoding(2, 1, cv2.COLOR_YUV2BGR_YUYV, even_width=True),
    "bayer_rggb8": _RawEncoding(1, 1, cv2.COLOR_BayerBG2BGR),
    "bayer_bggr8": _RawEncoding(1, 1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": _RawEncoding(1, 1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": _RawEncoding(1, 1, cv2.COLOR_BayerGB2BGR),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(
    name.upper() if name[0].isdigit() else name for name in _RAW_ENCODINGS
)
SUPPORTED_COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "png")


def image_msg_to_bgr(msg: Image, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a contiguous HxWx3 uint8 BGR array.

    Row padding (``step`` larger than a row) is skipped; ``is_bigendian`` is
    honoured for 16-bit encodings, which are scaled to 8 bits like cv_bridge.
    """
    encoding = msg.encoding.strip().lower()
    if encoding not in _RAW_ENCODINGS:
        raise InvalidFrameError(
            f"unsupported image encoding {msg.encoding!r}; supported: "
            f"{', '.join(SUPPORTED_ENCODINGS)}",
            CAUSE_ENCODING,
        )
    layout = _RAW_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise InvalidFrameError(f"empty image: {width}x{height} pixels", CAUSE_LAYOUT)
    _check_pixel_count(width, height, max_pixels)
    if layout.even_width and width % 2:
        raise InvalidFrameError(
            f"{encoding} needs an even width (pixel pairs share chroma), got {width}", CAUSE_LAYOUT
        )
    row_bytes = width * layout.channels * layout.depth
    if step < row_bytes:
        raise InvalidFrameError(
            f"step {step} is smaller than width x bytes per pixel = {width} x "
            f"{layout.channels * layout.depth} = {row_bytes} ({encoding})",
            CAUSE_LAYOUT,
        )
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size < height * step:
        raise InvalidFrameError(
            f"image data has {buffer.size} bytes, expected height x step = "
            f"{height} x {step} = {height * step}",
            CAUSE_LAYOUT,
        )
    rows = buffer[: height * step].reshape(height, step)[:, :row_bytes]
    if layout.depth == 2:
        byte_order = ">" if msg.is_bigendian else "<"
        wide = np.ascontiguousarray(rows).view(f"{byte_order}u2")
        rows = (wide >> 8).astype(np.uint8)
    pixels = rows.reshape(height, width, layout.channels)
    if layout.to_bgr is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), layout.to_bgr)


def compressed_msg_to_bgr(msg: CompressedImage, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a JPEG or PNG ``sensor_msgs/CompressedImage`` into an HxWx3 uint8 BGR array.

    ``format`` may be plain (``jpeg``) or as image_transport writes it
    (``bgr8; jpeg compressed bgr8``); an empty format is decoded by content.
    The size in the JPEG/PNG header is checked against ``max_pixels`` first.
    """
    image_format = msg.format.strip().lower()
    # compressedDepth payloads are PNGs behind a private header: not a camera image.
    names_a_codec = any(name in image_format for name in ("jpeg", "jpg", "png"))
    if image_format and (not names_a_codec or "compresseddepth" in image_format):
        raise InvalidFrameError(
            f"unsupported compressed format {msg.format!r}; supported: "
            f"{', '.join(SUPPORTED_COMPRESSED_FORMATS)}",
            CAUSE_ENCODING,
        )
    data = bytes(msg.data)
    if not data:
        raise InvalidFrameError("empty compressed image: no data", CAUSE_CORRUPT)
    size = declared_size(data)
    if size is None:
        # Codecs whose header is not read are refused: their size could not be checked.
        raise InvalidFrameError(
            f"cannot decode {image_format or 'compressed'} image of {len(data)} bytes: "
            "no readable JPEG, PNG or BMP header",
            CAUSE_CORRUPT,
        )
    _check_pixel_count(*size, max_pixels)
    image, decoder_messages = _decode_quietly(np.frombuffer(data, np.uint8))
    # libjpeg returns an image for damaged data too ("Corrupt JPEG data", "Premature end"),
    # grey where the data went wrong: a frame its decoder calls corrupt is not detected on.
    if image is None or decoder_messages:
        said = f" ({decoder_messages})" if decoder_messages else ""
        raise InvalidFrameError(
            f"cannot decode {image_format or 'compressed'} image of {len(data)} bytes, "
            f"{size[0]}x{size[1]} declared: corrupt{said}",
            CAUSE_CORRUPT,
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


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidFrameError(
            f"image declares {width}x{height} = {width * height} pixels, more than "
            f"max_image_pixels = {max_pixels}",
            CAUSE_TOO_LARGE,
        )


# OpenCV's own warnings ("[ WARN:0@4.084] global grfmt_png.cpp ...") go through its logger:
# errors only, for the whole process, so a stream of bad frames prints nothing of its own.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

# libpng and libjpeg bypass that logger and print to file descriptor 2, once per bad
# frame; their messages are also the only sign that an image they returned is damaged.
# While OpenCV decodes, descriptor 2 points to a scratch file; what other threads wrote
# meanwhile is passed on, the decoder's lines are returned.
_DECODER_PREFIXES = ("libpng ", "Corrupt JPEG", "Premature end of JPEG", "Invalid SOS", "JPEG ")
_stderr_lock = threading.Lock()
_scratch: IO[bytes] | None = None


def _decode_quietly(data: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``cv2.imdecode`` with the decoder's messages captured; any decoder error gives None."""
    global _scratch
    with _stderr_lock:
        if _scratch is None:
            _scratch = tempfile.TemporaryFile()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(_scratch.fileno(), 2)
        try:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        except cv2.error:
            image = None  # e.g. more pixels than OpenCV's own limit
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        _scratch.seek(0)
        captured = _scratch.read().decode(errors="replace")
        _scratch.seek(0)
        _scratch.truncate()
    if not captured:
        return image, ""
    lines = captured.splitlines(keepends=True)
    from_decoder = [line for line in lines if line.startswith(_DECODER_PREFIXES)]
    others = "".join(line for line in lines if not line.startswith(_DECODER_PREFIXES))
    if others:
        os.write(2, others.encode())
    return image, "; ".join(line.strip() for line in from_decoder)
