"""The pixel size a JPEG, PNG or BMP declares in its header, read without decoding.

A few bytes can declare 30000x30000 pixels; decoding them allocates gigabytes.
Reading the header first lets a receiver refuse such a frame for the cost of a
few comparisons.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8"
BMP_START = b"BM"
_BMP_INFO_HEADER_MIN = 40  # BITMAPINFOHEADER; the older 12-byte core header is not read
# Start-of-frame markers (they carry the size): every SOFn except DHT (C4), JPG (C8), DAC (CC).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0..RST7.
_JPEG_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SCAN_START, _JPEG_END = 0xDA, 0xD9


def declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by a JPEG, PNG or BMP header; None if there is none to read.

    The stored size: a JPEG's EXIF orientation is not applied.
    """
    if data.startswith(PNG_SIGNATURE):
        return _png_size(data)
    if data.startswith(JPEG_START):
        return _jpeg_size(data)
    if data.startswith(BMP_START):
        return _bmp_size(data)
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    # File header (14 bytes), then the info header: its size, width, height (int32,
    # negative for rows stored top-down).
    if len(data) < 26 or struct.unpack_from("<I", data, 14)[0] < _BMP_INFO_HEADER_MIN:
        return None
    width, height = struct.unpack_from("<ii", data, 18)
    return (width, abs(height)) if width > 0 else None


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The first chunk is IHDR: length, type, then width and height as big-endian uint32.
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = len(JPEG_START)
    while position + 1 < len(data):
        if data[position] != 0xFF:
            return None  # not at a marker: corrupt
        marker = data[position + 1]
        position += 2
        if marker == 0xFF:  # a fill byte before the marker
            position -= 1
            continue
        if marker in _JPEG_BARE_MARKERS:
            continue
        if marker in (_JPEG_SCAN_START, _JPEG_END) or position + 2 > len(data):
            return None  # entropy-coded data or the end before any frame header
        (length,) = struct.unpack_from(">H", data, position)
        if marker in _JPEG_FRAME_MARKERS:
            # length, sample precision, then height and width.
            if length < 7 or position + 7 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, position + 3)
            return width, height
        position += length
    return None
