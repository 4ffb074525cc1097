"""Shared test fixtures.

Every test that touches ROS gets its own DDS domain, discovery limited to this
machine and its own log directory, whatever the developer's shell says: use
the ``ros_env`` fixture (it also patches ``os.environ`` for in-process rclpy).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from support import DATA_DIR

# Domain ids 1..100 are valid on Linux with the default port mapping; spread
# concurrently running pytest processes by pid so they do not meet.
_domain_ids = itertools.count((os.getpid() * 7) % 50 + 1)


def _next_domain_id() -> int:
    return (next(_domain_ids) - 1) % 100 + 1


@pytest.fixture
def ros_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for one ROS test: own domain, localhost discovery, temp log dir.

    Returns the full environment to pass to subprocesses.
    """
    settings = {
        "ROS_DOMAIN_ID": str(_next_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_LOG_DIR": str(tmp_path / "ros_log"),
        "RCUTILS_COLORIZED_OUTPUT": "0",
        # backend: auto caches its choice there: never in the developer's home.
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    (tmp_path / "ros_log").mkdir()
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ROS_STATIC_PEERS", raising=False)
    monkeypatch.delenv("ROS_LOCALHOST_ONLY", raising=False)
    return dict(os.environ)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def golden_io() -> dict[str, np.ndarray]:
    """Outputs of the official YOLOX on the golden weights: image_bgr, input, raw/decoded_output.

    Every test shares the same arrays: copy before modifying one.
    """
    with np.load(DATA_DIR / "yolox_nano_c7_bncal_io.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


@pytest.fixture(scope="session")
def golden_ncnn(tmp_path_factory) -> Path:
    """The golden ONNX test model converted to ncnn (.param, .bin, .json) by the export command."""
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    from yolox_ros.cli.export import main as export_main

    param = tmp_path_factory.mktemp("ncnn") / "m.param"
    args = ["--onnx", str(DATA_DIR / "yolox_nano_c7.onnx"), "--format", "ncnn"]
    assert export_main([*args, "--output", str(param)]) == 0
    return param
