"""The layout of the ONNX files this package writes, for the torch export and its readers.

Input ``images`` [B, 3, H, W] float32 BGR 0..255; output ``output`` [B, N, 5+C]
with sigmoid obj/cls and, by default as in the official export, boxes NOT decoded.
Here, not in ``yolox_ros.model``, so that code without torch (the export command
line, the converters) can use the same values.
"""

from __future__ import annotations

INPUT_NAME = "images"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 11
# The TorchScript ("legacy") exporter, which reproduces the official export, stops at opset 20.
MAX_OPSET = 20
