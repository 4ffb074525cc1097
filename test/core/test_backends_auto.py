"""backend / device ``auto``: probing candidates, choosing the fastest, skipping failures, caching.

Which engine is really faster depends on the machine, so the tests make one
candidate slower on purpose (a sleep in its ``run``) to know the right answer.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support import needs
from support.onnx_models import write_yolox_like_onnx

from yolox_ros.core.backends import auto, get_backend
from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.errors import BackendError, ConfigError

SLOWDOWN_S = 0.03
# The tests that make OpenVINO win or fail need it installed (the ROS-free tests also run
# where only ONNX Runtime is, as on a Humble-era machine).
with_openvino = needs("openvino")


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def model(tmp_path) -> Path:
    return write_yolox_like_onnx(tmp_path / "model.onnx", input_size=(64, 96))


def slow_down(monkeypatch, backend: str) -> None:
    backend_class = get_backend(backend)
    original = backend_class.run

    def slow_run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(SLOWDOWN_S)
        return original(self, batch)

    monkeypatch.setattr(backend_class, "run", slow_run)


def auto_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "yolox_ros.core.backends.auto"]


def detector(model: Path, backend: str = "auto", device: str = "auto") -> Detector:
    return Detector(DetectorConfig(model, backend=backend, device=device, num_threads=1))


@with_openvino
@pytest.mark.parametrize(
    ("slow", "fast"), [("openvino", "onnxruntime"), ("onnxruntime", "openvino")]
)
def test_auto_keeps_the_fastest_of_onnxruntime_and_openvino(model, monkeypatch, caplog, slow, fast):
    caplog.set_level(logging.INFO, logger="yolox_ros")
    slow_down(monkeypatch, slow)
    chosen = detector(model)
    assert (chosen.backend.name, chosen.backend.device) == (fast, "cpu")
    messages = auto_messages(caplog)
    for name in ("onnxruntime", "openvino"):
        assert any(m.startswith(f"auto: {name}/cpu runs model.onnx in ") for m in messages)
    assert any(m.startswith(f"auto: chose {fast}/cpu for model.onnx") for m in messages)
    # Devices this machine lacks are skipped, with the reason.
    assert any(m.startswith("auto: skipping onnxruntime/cuda: ") for m in messages)


@with_openvino
def test_the_choice_is_cached_per_model_file(model, monkeypatch, caplog, cache_home):
    slow_down(monkeypatch, "onnxruntime")
    assert detector(model).backend.name == "openvino"
    entries = json.loads((cache_home / "yolox_ros" / "auto_backend.json").read_text())
    (entry,) = entries.values()
    assert entry["backend"] == "openvino" and set(entry["times_ms"]) == {
        "onnxruntime/cpu",
        "openvino/cpu",
    }

    # Later starts load the cached choice without probing, whatever is faster now.
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    slow_down(monkeypatch, "openvino")
    caplog.set_level(logging.INFO, logger="yolox_ros")
    assert detector(model).backend.name == "openvino"
    assert not any("runs model.onnx in" in m for m in auto_messages(caplog))
    assert any("(cached in " in m for m in auto_messages(caplog))

    # A changed model file is probed again.
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert detector(model).backend.name == "onnxruntime"


@with_openvino
def test_a_cached_choice_that_no_longer_loads_is_probed_again(model, monkeypatch, cache_home):
    slow_down(monkeypatch, "onnxruntime")
    assert detector(model).backend.name == "openvino"
    monkeypatch.setitem(sys.modules, "openvino", None)  # openvino uninstalled since
    monkeypatch.delitem(sys.modules, "yolox_ros.core.backends.openvino_backend", raising=False)
    assert detector(model).backend.name == "onnxruntime"


@with_openvino
def test_a_broken_candidate_is_a_logged_skip(model, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="yolox_ros")
    slow_down(monkeypatch, "onnxruntime")  # it would lose, were openvino not broken

    def broken_run(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("plugin crashed")

    monkeypatch.setattr(get_backend("openvino"), "run", broken_run)
    assert detector(model).backend.name == "onnxruntime"
    assert "auto: skipping openvino/cpu: plugin crashed" in auto_messages(caplog)


def test_a_candidate_that_is_not_installed_is_skipped(model, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="yolox_ros")
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.delitem(sys.modules, "yolox_ros.core.backends.openvino_backend", raising=False)
    assert detector(model).backend.name == "onnxruntime"
    assert any(m.startswith("auto: skipping openvino: ") for m in auto_messages(caplog))


def test_device_auto_with_a_named_backend_probes_only_its_devices(model, caplog):
    caplog.set_level(logging.INFO, logger="yolox_ros")
    chosen = detector(model, backend="onnxruntime")
    assert (chosen.backend.name, chosen.backend.device) == ("onnxruntime", "cpu")
    assert not any("openvino" in m for m in auto_messages(caplog))
    # TensorRT builds its engine for minutes: never probed.
    assert not any("tensorrt" in m for m in auto_messages(caplog))


def test_backend_auto_on_a_missing_device_falls_back_to_cpu_or_fails_if_strict(model):
    assert detector(model, device="npu").backend.device == "cpu"
    with pytest.raises(BackendError, match="no candidate could run"):
        Detector(DetectorConfig(model, backend="auto", device="npu", strict_device=True))


def test_auto_refuses_what_it_cannot_probe(model, tmp_path):
    with pytest.raises(ConfigError, match="name the backend instead of auto"):
        Detector(DetectorConfig(model, backend="auto", backend_options={"fp16": True}))
    unknown = tmp_path / "model.tflite"
    unknown.write_bytes(b"x")
    with pytest.raises(BackendError, match="no backend known to run .tflite files"):
        detector(unknown)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00garbage")
    # Every candidate's reason is in the error, whatever the log level.
    with pytest.raises(
        BackendError, match=r"no candidate could run .*onnxruntime/cpu: cannot load"
    ):
        detector(broken)


def test_an_unwritable_cache_is_a_warning(model, monkeypatch, caplog, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    caplog.set_level(logging.WARNING, logger="yolox_ros")
    assert detector(model).backend.name in ("onnxruntime", "openvino")
    assert any("cannot cache the choice" in m for m in auto_messages(caplog))
    assert auto.cache_file() == blocker / "yolox_ros" / "auto_backend.json"


def test_an_unknown_backend_with_device_auto_is_named_with_the_known_ones(model):
    # `-p backend:=foo` over the shipped config, whose device is auto.
    with pytest.raises(BackendError, match=r"unknown backend 'foo'; available backends: .*onnx"):
        auto.open_backend(model, backend="foo", device="auto")
