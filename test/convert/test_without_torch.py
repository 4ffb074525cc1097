"""Converting an exported ONNX file (ncnn, INT8) through the export command needs no PyTorch.

Each conversion runs in a fresh interpreter where ``import torch`` fails, as on a
machine without it; in this one, other tests may have imported torch already.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import cv2
import pytest
from support import street_scenes

pytest.importorskip("onnx")  # the converters need it, the detector alone does not

# sys.modules["torch"] = None makes every import of torch raise ImportError and
# importlib.util.find_spec("torch") answer None, as when torch is not installed.
WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None
from yolox_ros.cli.export import main
sys.exit(main(sys.argv[1:]))
"""


def export_without_torch(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH, *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ncnn_conversion_needs_no_torch(tmp_path, data_dir):
    if importlib.util.find_spec("pnnx") is None:  # not importorskip: importing pnnx imports torch
        pytest.skip("pnnx is not installed")
    param = tmp_path / "m.param"
    export_without_torch(
        ["--onnx", str(data_dir / "yolox_nano_c7.onnx"), "--format", "ncnn", "--output", str(param)]
    )
    assert param.is_file() and param.with_suffix(".bin").is_file()
    assert param.with_suffix(".json").is_file()


def test_int8_conversion_needs_no_torch(tmp_path, data_dir):
    pytest.importorskip("onnxruntime.quantization")
    folder = tmp_path / "calibration"
    folder.mkdir()
    cv2.imwrite(str(folder / "scene.png"), street_scenes(1)[0])
    output = tmp_path / "int8.onnx"
    args = ["--onnx", str(data_dir / "yolox_nano_c7.onnx"), "--format", "onnx-int8"]
    export_without_torch([*args, "--calibration-images", str(folder), "--output", str(output)])
    assert output.is_file()
