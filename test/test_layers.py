"""The package's layers: what each may import.

- Nothing outside ``yolox_ros.ros`` imports rclpy or a message package: the core,
  the model, training and the command lines run without ROS.
- Nothing the node may import pulls in PyTorch: only the model, training and the
  torch backend do (the export command imports the model only to export a checkpoint).
- The ONNX converters (ncnn, INT8) and the export command need neither PyTorch nor
  ROS: an exported ONNX file can be converted on a machine without PyTorch.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import yolox_ros

ROS_PACKAGE = "yolox_ros.ros"
TORCH_MODULES = (
    "yolox_ros.model",
    "yolox_ros.training",
    "yolox_ros.core.backends.torch_backend",
)
ROS_MODULES = ("rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "diagnostic_msgs")


def modules_outside(excluded: tuple[str, ...]) -> list[str]:
    """Every yolox_ros module not under ``excluded``, found without importing anything."""
    found = ["yolox_ros"]
    pending = [(Path(yolox_ros.__file__).parent, "yolox_ros.")]
    while pending:
        directory, prefix = pending.pop()
        for info in pkgutil.iter_modules([str(directory)], prefix):
            if info.name in excluded:
                continue
            found.append(info.name)
            if info.ispkg:
                pending.append((directory / info.name.rsplit(".", 1)[-1], info.name + "."))
    return sorted(found)


# Each module is imported in a fresh interpreter so that one module's imports cannot hide
# another's; a module that fails to import fails the test.
CHECK = """
import importlib, sys
forbidden = sys.argv[1].split(",")
for name in sys.argv[2:]:
    importlib.import_module(name)
    loaded = sorted(m for m in forbidden if m in sys.modules)
    if loaded:
        sys.exit(f"importing {name} imported {loaded}")
"""


def assert_imports_none_of(forbidden: tuple[str, ...], modules: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK, ",".join(forbidden), *modules],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_core_imports_neither_ros_nor_torch():
    assert_imports_none_of(("torch", *ROS_MODULES), ["yolox_ros.core"])


def test_converters_and_the_export_command_import_neither_ros_nor_torch():
    modules = [m for m in modules_outside(()) if m.startswith("yolox_ros.convert")]
    assert "yolox_ros.convert.ncnn" in modules and "yolox_ros.convert.int8" in modules
    pytest.importorskip("onnx")  # the converters need it, the detector alone does not
    assert_imports_none_of(("torch", *ROS_MODULES), [*modules, "yolox_ros.cli.export"])


def test_nothing_the_node_may_import_imports_torch():
    modules = modules_outside(TORCH_MODULES)
    assert "yolox_ros.metadata" in modules and "yolox_ros.ros.params" in modules
    pytest.importorskip("rclpy")
    pytest.importorskip("vision_msgs.msg")
    assert_imports_none_of(("torch",), modules)


def test_nothing_outside_the_ros_package_imports_ros():
    modules = modules_outside((ROS_PACKAGE,))
    assert "yolox_ros.core.detector" in modules and "yolox_ros.training.trainer" in modules
    pytest.importorskip("torch")  # every module is imported: the model and training too
    assert_imports_none_of(ROS_MODULES, modules)
