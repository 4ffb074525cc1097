"""Image files: the suffixes read as images, and width and height from the header
without decoding the pixels.

Reading a few bytes is ~1000x cheaper than decoding a photo, which matters when
a YOLO dataset (normalised labels) needs every image's size, and it lets a
receiver refuse an image that declares an absurd size before decompressing it.
Pure Python on purpose: no dependency, nothing to decode.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the frame size: baseline, extended, progressive,
# lossless, arithmetic-coded and hierarchical variants (not DHT C4, JPG C8, DAC CC).
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-7, SOI.
JPEG_STANDALONE_MARKERS = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
JPEG_SOS, JPEG_EOI, JPEG_APP1 = 0xDA, 0xD9, 0xE1
# EXIF orientations 5-8 transpose the image: decoders that honour EXIF swap width and height.
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
EXIF_ORIENTATION_TAG = 0x0112
HEADER_READ_BYTES = 64 * 1024
# Files every image-reading command and dataset reader takes as images (all decode with OpenCV).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` stored in a JPEG, PNG or BMP header, or None if not found.

    This is the size of the stored pixels (EXIF orientation not applied).
    None for other formats, truncated or malformed headers and zero sizes.
    """
    if data.startswith(PNG_SIGNATURE):
        return _png_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data.startswith(b"BM"):
        return _bmp_size(data)
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The IHDR chunk comes first: length (4), type (4), width (4), height (4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width > 0 and height > 0 else None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    # BITMAPINFOHEADER (or later): width and height as int32 at offsets 18 and 22;
    # a negative height means rows are stored top-down.
    if len(data) < 26 or struct.unpack("<I", data[14:18])[0] < 40:
        return None
    width, height = struct.unpack("<ii", data[18:26])
    return (width, abs(height)) if width > 0 and height != 0 else None


def _jpeg_segments(data: bytes):
    """Yield ``(marker, payload)`` for each segment before the compressed data starts."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes may pad markers
            pos += 1
        if pos >= len(data):
            return
        marker = data[pos]
        pos += 1
        if marker in JPEG_STANDALONE_MARKERS:
            continue
        if marker in (JPEG_SOS, JPEG_EOI) or pos + 2 > len(data):
            return
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        if length < 2 or pos + length > len(data):
            return
        yield marker, data[pos + 2 : pos + length]
        pos += length


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    for marker, payload in _jpeg_segments(data):
        if marker in JPEG_SOF_MARKERS:
            if len(payload) < 5:
                return None
            height, width = struct.unpack(">HH", payload[1:5])
            return (width, height) if width > 0 and height > 0 else None
    return None


def jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of a JPEG, 1 when absent or unreadable."""
    if not data.startswith(b"\xff\xd8"):
        return 1
    for marker, payload in _jpeg_segments(data):
        if marker == JPEG_APP1 and payload.startswith(b"Exif\x00\x00"):
            return _tiff_orientation(payload[6:])
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    # TIFF header: byte order, 42, offset of IFD0; IFD0: entry count then 12-byte entries
    # (tag, type, count, value). Orientation is a SHORT stored in the value field.
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", tiff[4:8])[0]
    if ifd + 2 > len(tiff):
        return 1
    count = struct.unpack(order + "H", tiff[ifd : ifd + 2])[0]
    for start in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, _type, _count, value = struct.unpack(order + "HHIH", tiff[start : start + 10])
        if tag == EXIF_ORIENTATION_TAG:
            return value if 1 <= value <= 8 else 1
    return 1


def image_file_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file as ``cv2.imread`` will decode it.

    Read from the header (JPEG, PNG, BMP), with width and height swapped when a
    JPEG's EXIF orientation rotates it by 90 degrees, as OpenCV does; other
    formats are decoded. ``OSError`` if the file cannot be read, ``ValueError``
    if it is not an image OpenCV can decode.
    """
    with open(path, "rb") as file:
        data = file.read(HEADER_READ_BYTES)
        size = declared_size(data)
        if size is None and data.startswith(b"\xff\xd8"):
            # Large EXIF/ICC segments may push the frame header past the first read.
            data += file.read()
            size = declared_size(data)
    if size is None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: not an image OpenCV can decode")
        return image.shape[1], image.shape[0]
    if jpeg_orientation(data) in TRANSPOSING_ORIENTATIONS:
        return size[1], size[0]
    return size
