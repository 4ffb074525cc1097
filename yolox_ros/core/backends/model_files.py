"""Cheap checks of a model file before a native runtime reads it, and runtime errors in one line.

Given a file that is not its format, a native reader writes to stderr on its
own before it fails: OpenVINO asks every frontend, and TensorFlow's parses the
bytes as protobuf text format, logging each error with the raw bytes; ncnn
prints "parse magic failed". Its exception then spans several lines. The
checks here find the usual cases (an empty, truncated, random or text file)
in Python first, so that the user reads one line naming the file and the
problem; what still reaches a runtime is reported through ``one_line``.

The ONNX check walks the top-level protobuf fields of ``ModelProto`` itself:
the ``onnx`` package is a development dependency (export), not a runtime one.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from yolox_ros.errors import ModelLoadError

T = TypeVar("T")

# Protobuf wire types (groups, 3 and 4, are not used by ONNX).
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
WIRE_TYPES = (VARINT, FIXED64, LENGTH_DELIMITED, FIXED32)
# onnx.proto ModelProto: field number -> (name, wire type). Other numbers are accepted when
# well formed (a newer ONNX may add fields), but these must have their own wire type.
MODEL_PROTO_FIELDS = {
    1: ("ir_version", VARINT),
    2: ("producer_name", LENGTH_DELIMITED),
    3: ("producer_version", LENGTH_DELIMITED),
    4: ("domain", LENGTH_DELIMITED),
    5: ("model_version", VARINT),
    6: ("doc_string", LENGTH_DELIMITED),
    7: ("graph", LENGTH_DELIMITED),
    8: ("opset_import", LENGTH_DELIMITED),
    14: ("metadata_props", LENGTH_DELIMITED),
    20: ("training_info", LENGTH_DELIMITED),
    25: ("functions", LENGTH_DELIMITED),
    26: ("configuration", LENGTH_DELIMITED),
}
# ONNX Runtime and OpenVINO refuse a model without one of these (onnx.proto: opset_import
# MUST have an entry). onnx.save writes fields in number order, so opset_import after the
# graph also catches a file cut just after the graph.
REQUIRED_MODEL_FIELDS = (1, 7, 8)
MAX_VARINT_BYTES = 10
# Real models have tens of top-level fields (opset imports, metadata, functions); a file
# of millions of tiny "fields" is not one, and walking it byte by byte would take long.
MAX_TOP_LEVEL_FIELDS = 100_000
TEXT_SNIFF_BYTES = 512  # a file whose start is text is named as text, with its first line
TEXT_QUOTE_CHARS = 60
NCNN_MAGIC = b"7767517"  # the first line of every ncnn .param text file

# Lines of OpenVINO messages that only say where in its sources the error was raised.
_SOURCE_LOCATION = re.compile(r"(Exception from \S+:\d+|Check '.*' failed at \S+:\d+):?")


def one_line(message: object) -> str:
    """``message`` (an exception or text) as one line, without OpenVINO's source locations."""
    lines = [line.strip() for line in str(message).splitlines()]
    lines = [line for line in lines if line]
    kept = [line for line in lines if not _SOURCE_LOCATION.fullmatch(line)] or lines
    text = ""
    for line in kept:
        text += line if not text else (" " if text.endswith(":") else "; ") + line
    return text


class _NotAModelError(Exception):
    """Why the bytes are not the model they should be (a phrase for the error message)."""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from exc


def _read_varint(file: BinaryIO, what: str, at: int) -> int:
    value = 0
    for index in range(MAX_VARINT_BYTES):
        byte = file.read(1)
        if not byte:
            raise _NotAModelError(f"truncated: the file ends inside the {what} at byte {at}")
        value |= (byte[0] & 0x7F) << (7 * index)
        if byte[0] < 0x80:
            return value
    raise _NotAModelError(f"no protobuf {what} at byte {at}")


def _check_model_proto(file: BinaryIO, size: int) -> None:
    """``_NotAModelError`` unless the bytes are ModelProto's top-level fields, none cut short."""
    seen: set[int] = set()
    offset = 0
    count = 0
    while offset < size:
        count += 1
        if count > MAX_TOP_LEVEL_FIELDS:
            raise _NotAModelError(f"more than {MAX_TOP_LEVEL_FIELDS} top-level protobuf fields")
        start = offset
        tag = _read_varint(file, "field tag", start)
        number, wire_type = tag >> 3, tag & 7
        if number == 0 or wire_type not in WIRE_TYPES:
            raise _NotAModelError(f"no protobuf field starts at byte {start}")
        name, expected = MODEL_PROTO_FIELDS.get(number, (f"field {number}", wire_type))
        if wire_type != expected:
            raise _NotAModelError(
                f"ModelProto {name} at byte {start} has protobuf wire type {wire_type}"
            )
        if wire_type == VARINT:
            _read_varint(file, name, start)
            offset = file.tell()
        else:
            if wire_type == LENGTH_DELIMITED:
                length = _read_varint(file, f"length of {name}", start)
            else:
                length = 8 if wire_type == FIXED64 else 4
            offset = file.tell() + length
            if offset > size:
                raise _NotAModelError(
                    f"truncated: {name} at byte {start} needs {offset - size} bytes more "
                    "than the file has"
                )
            file.seek(offset)
        seen.add(number)
    missing = [MODEL_PROTO_FIELDS[n][0] for n in REQUIRED_MODEL_FIELDS if n not in seen]
    if missing:
        raise _NotAModelError(f"no {' and no '.join(missing)}")


def check_onnx_file(path: Path) -> None:
    """``ModelLoadError`` (one line: file, problem, size) unless ``path`` looks like an ONNX model.

    Not a full parse: the top-level fields of ``ModelProto`` must be well formed
    and complete, and ``ir_version``, ``graph`` and ``opset_import`` present.
    That rejects empty, random, text and truncated files in milliseconds,
    whatever the model's size.
    """
    size = _size(path)
    try:
        if size == 0:
            raise _NotAModelError("it is empty")
        with path.open("rb") as file:
            _check_model_proto(file, size)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    except _NotAModelError as exc:
        problem = _text_start(path) or str(exc)
        raise ModelLoadError(
            f"cannot load ONNX model {path}: the file is not a valid ONNX model "
            f"({problem}; {size} bytes)"
        ) from None


def _text_start(path: Path) -> str | None:
    """``"it is text, starting '...'"`` if the file starts with text (a Git LFS pointer, HTML)."""
    try:
        with path.open("rb") as file:
            head = file.read(TEXT_SNIFF_BYTES)
    except OSError:
        return None
    try:
        # Not final: a multi-byte character cut at the end of the head is still text.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if not text.strip() or not all(c.isprintable() or c in "\t\r\n" for c in text):
        return None
    first_line = text.strip().splitlines()[0]
    if len(first_line) > TEXT_QUOTE_CHARS:
        first_line = first_line[:TEXT_QUOTE_CHARS] + "..."
    return f"it is text, starting {first_line!r}"


def check_ncnn_param(path: Path) -> None:
    """``ModelLoadError`` (one line) unless ``path`` starts with the ncnn .param magic line."""
    size = _size(path)
    try:
        with path.open("rb") as file:
            first_line = file.readline(64).strip()
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if first_line != NCNN_MAGIC:
        problem = "it is empty" if size == 0 else "its first line is not 7767517"
        raise ModelLoadError(
            f"cannot load ncnn model {path}: the file is not an ncnn .param file "
            f"({problem}; {size} bytes)"
        )


def describe_size(path: Path) -> str:
    """``"N bytes"`` for an error message, or ``"size unknown"``."""
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "size unknown"


def capture_native_stderr(function: Callable[[], T]) -> tuple[T, str]:
    """``function()`` with file descriptor 2 sent to a temporary file: its result and that text.

    A last resort, for a native library with no log setting of its own (ncnn
    writes its loader errors with ``fprintf(stderr)``). It redirects the whole
    process's stderr for the duration of the call, so keep ``function`` short
    and hand the text on (into an error message, or to the log).
    """
    if sys.stderr is not None:
        sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr to redirect
            return function(), ""
        try:
            os.dup2(sink.fileno(), 2)
            try:
                result = function()
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("utf-8", errors="replace")
    return result, text
