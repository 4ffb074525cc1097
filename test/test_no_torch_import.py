"""Importing yolox_ros (everything the ROS node may import) must not import torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

import yolox_ros

# Modules allowed to import torch: the model, training, the exporter and the torch backend.
TORCH_MODULES = (
    "yolox_ros.model",
    "yolox_ros.training",
    "yolox_ros.export",
    "yolox_ros.backends.torch_backend",
)


def torch_free_modules() -> list[str]:
    """Every yolox_ros module outside TORCH_MODULES, found without importing anything."""
    found = ["yolox_ros"]
    pending = [(Path(yolox_ros.__file__).parent, "yolox_ros.")]
    while pending:
        directory, prefix = pending.pop()
        for info in pkgutil.iter_modules([str(directory)], prefix):
            if info.name in TORCH_MODULES:
                continue
            found.append(info.name)
            if info.ispkg:
                pending.append((directory / info.name.rsplit(".", 1)[-1], info.name + "."))
    return sorted(found)


# A module that fails to import (another part still being written, a missing optional
# runtime) is reported, not fatal: this test is about torch only.
CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}")
    if "torch" in sys.modules:
        sys.exit(f"importing {name} imported torch")
"""


def test_package_imports_without_torch():
    modules = torch_free_modules()
    assert "yolox_ros.metadata" in modules
    result = subprocess.run(
        [sys.executable, "-c", CHECK, *modules], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for failure in result.stdout.splitlines():
        warnings.warn(f"could not import {failure}", stacklevel=1)
