"""Backend registry and the onnxruntime, openvino and torch backends."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from support import REPO_ROOT, needs
from support.rectangle_backend import ENTRY_POINT_NAME, RectangleBackend, declare_entry_points

from yolox_ros.core.backends import Backend, available_backends, get_backend
from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.errors import BackendError, ConfigError, ModelLoadError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.synthetic import CLASS_NAMES as NANO_NAMES

BUILTIN = ("onnxruntime", "openvino", "torch")


@pytest.fixture
def nano_onnx(data_dir) -> Path:
    return data_dir / "yolox_nano_c7.onnx"


def fallback_warnings(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("yolox_ros")
    ]


# --- registry ---------------------------------------------------------------------------


def test_builtin_backends_are_known_without_installation():
    assert set(BUILTIN) <= set(available_backends())


def test_a_backend_declared_through_an_entry_point_is_found(tmp_path, monkeypatch):
    declare_entry_points(tmp_path, {ENTRY_POINT_NAME: "support.rectangle_backend:RectangleBackend"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ENTRY_POINT_NAME in available_backends()
    assert get_backend(ENTRY_POINT_NAME) is RectangleBackend


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(
        BackendError,
        match=r"unknown backend 'tensorflow'; available backends: .*onnxruntime, openvino",
    ):
        get_backend("tensorflow")
    with pytest.raises(BackendError, match="unknown backend"):
        Detector(DetectorConfig("model.onnx", backend="tensorflow"))


def test_builtin_backend_without_its_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` fail
    monkeypatch.delitem(sys.modules, "yolox_ros.core.backends.openvino_backend", raising=False)
    with pytest.raises(
        BackendError, match="needs the Python package openvino.*pip install openvino"
    ):
        get_backend("openvino")


def test_plugin_backend_that_cannot_be_imported_is_a_backend_error(tmp_path, monkeypatch):
    declare_entry_points(tmp_path, {"broken": "det_no_such_module:Backend"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        BackendError, match="backend 'broken' .*cannot be imported.*det_no_such_module"
    ):
        get_backend("broken")


def test_importing_the_package_imports_no_inference_runtime():
    code = (
        "import sys, yolox_ros, yolox_ros.core.backends, yolox_ros.core.detector, "
        "yolox_ros.core.annotate, yolox_ros.cli.detect\n"
        "print(sorted(m for m in ('onnxruntime', 'openvino', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- onnxruntime ------------------------------------------------------------------------


def test_onnxruntime_reads_shape_and_metadata(nano_onnx, golden_io):
    backend = get_backend("onnxruntime")(nano_onnx, num_threads=1)
    assert isinstance(backend, Backend)
    assert backend.name == "onnxruntime" and backend.device == "cpu"
    assert backend.providers == ("CPUExecutionProvider",)
    assert backend.input_shape == (1, 3, 416, 416)
    assert backend.metadata.class_names == NANO_NAMES and backend.metadata.decoded is False
    np.testing.assert_allclose(backend.run(golden_io["input"]), golden_io["raw_output"], atol=2e-3)


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_onnxruntime_accelerator_request_falls_back_to_cpu_with_one_warning(
    nano_onnx, caplog, device
):
    caplog.set_level(logging.INFO, logger="yolox_ros")
    detector = Detector(DetectorConfig(nano_onnx, device=device, num_threads=1))
    assert detector.backend.device == "cpu"
    assert detector.backend.providers == ("CPUExecutionProvider",)
    warnings = fallback_warnings(caplog)
    assert len(warnings) == 1
    assert f"cannot run on device '{device}'" in warnings[0].getMessage()
    assert "falling back to 'cpu'" in warnings[0].getMessage()
    assert any(
        "CPUExecutionProvider" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.INFO
    )


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_onnxruntime_strict_device_raises_instead_of_falling_back(nano_onnx, device):
    with pytest.raises(BackendError, match=f"cannot run on device '{device}'.*strict_device"):
        Detector(DetectorConfig(nano_onnx, device=device, strict_device=True))


@pytest.mark.parametrize(
    ("device", "options", "error", "message"),
    [
        ("gpu", {}, ConfigError, "does not support device 'gpu'; use one of cpu, cuda, tensorrt"),
        (
            "cpu",
            {"graph_optimization_level": "fast"},
            ConfigError,
            "graph_optimization_level must be one of",
        ),
        ("cpu", {"threads": 2}, ConfigError, "unknown option\\(s\\) 'threads'"),
        ("cpu", {"allow_spinning": "no"}, ConfigError, "'allow_spinning' must be bool, got 'no'"),
    ],
)
def test_onnxruntime_rejects_bad_settings(nano_onnx, device, options, error, message):
    with pytest.raises(error, match=message):
        get_backend("onnxruntime")(nano_onnx, device=device, options=options)


def test_onnxruntime_options_are_applied(nano_onnx, golden_io):
    backend = get_backend("onnxruntime")(
        nano_onnx,
        num_threads=1,
        options={"graph_optimization_level": "disable", "allow_spinning": False},
    )
    np.testing.assert_allclose(backend.run(golden_io["input"]), golden_io["raw_output"], atol=2e-3)


def test_a_model_that_is_not_yolox_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["output"])],
        "identity",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 32, 32])],
    )
    path = tmp_path / "identity.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime 1.17 (Humble-era) reads
    onnx.save(model, path)
    installed = [name for name in ("onnxruntime", "openvino") if importlib.util.find_spec(name)]
    for backend in installed:
        with pytest.raises(
            ModelLoadError, match=f"{path} is not a YOLOX model: expected an output"
        ):
            get_backend(backend)(path)


# --- openvino ---------------------------------------------------------------------------


@needs("openvino")
def test_openvino_and_onnxruntime_agree_on_the_nano_model(nano_onnx, golden_io):
    onnxruntime = get_backend("onnxruntime")(nano_onnx, num_threads=1)
    openvino = get_backend("openvino")(nano_onnx, num_threads=1)
    assert isinstance(openvino, Backend)
    assert openvino.device == "cpu" and openvino.input_shape == (1, 3, 416, 416)
    assert openvino.metadata == onnxruntime.metadata
    np.testing.assert_allclose(
        openvino.run(golden_io["input"]), onnxruntime.run(golden_io["input"]), atol=2e-3
    )

    results = [
        Detector(
            DetectorConfig(nano_onnx, backend=name, conf_threshold=0.001, num_threads=1)
        ).detect(golden_io["image_bgr"])
        for name in ("onnxruntime", "openvino")
    ]
    assert len(results[0]) == len(results[1]) > 10
    np.testing.assert_allclose(results[0].boxes, results[1].boxes, atol=0.05)
    np.testing.assert_allclose(results[0].scores, results[1].scores, atol=1e-5)
    assert results[0].class_names == results[1].class_names


@needs("openvino")
def test_openvino_gpu_request_falls_back_with_one_warning_or_raises_in_strict_mode(
    nano_onnx, caplog
):
    backend_class = get_backend("openvino")
    caplog.set_level(logging.INFO, logger="yolox_ros")
    backend = backend_class(nano_onnx, device="gpu")
    if backend.device == "gpu":
        pytest.skip("this machine has an OpenVINO GPU")
    assert backend.device == "cpu" and len(fallback_warnings(caplog)) == 1
    with pytest.raises(BackendError, match="cannot run on device 'gpu'.*strict_device"):
        backend_class(nano_onnx, device="gpu", strict_device=True)
    with pytest.raises(ConfigError, match="does not support device 'cuda'"):
        backend_class(nano_onnx, device="cuda")


@pytest.mark.parametrize(
    "backend", ["onnxruntime", pytest.param("openvino", marks=needs("openvino"))]
)
def test_missing_or_corrupted_model_is_a_model_load_error(tmp_path, backend):
    backend_class = get_backend(backend)
    with pytest.raises(ModelLoadError, match="model file not found"):
        backend_class(tmp_path / "missing.onnx")
    with pytest.raises(ModelLoadError, match="model path is not a file"):
        backend_class(tmp_path)
    corrupted = tmp_path / "corrupted.onnx"
    corrupted.write_bytes(b"\x00garbage\xff" * 50)
    with pytest.raises(ModelLoadError, match=f"cannot load .*{corrupted.name}"):
        backend_class(corrupted)


# --- torch ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nano_checkpoints(tmp_path_factory, data_dir):
    torch = pytest.importorskip("torch")
    with np.load(data_dir / "yolox_nano_c7_bncal_state_dict.npz") as arrays:
        state_dict = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
    folder = tmp_path_factory.mktemp("checkpoints")
    with_meta = folder / "with_meta.pth"
    meta = ModelMetadata(class_names=tuple(NANO_NAMES), input_size=(416, 416), model_name="nano")
    torch.save({"model": state_dict, "meta": meta.to_values()}, with_meta)
    without_meta = folder / "without_meta.pth"
    torch.save({"model": state_dict}, without_meta)
    return with_meta, without_meta


def test_torch_backend_runs_checkpoints_like_the_official_model(
    nano_checkpoints, golden_io, nano_onnx
):
    with_meta, _ = nano_checkpoints
    backend = get_backend("torch")(with_meta, num_threads=1)
    assert isinstance(backend, Backend)
    assert backend.metadata.class_names == NANO_NAMES and backend.metadata.decoded is False
    np.testing.assert_allclose(backend.run(golden_io["input"]), golden_io["raw_output"], atol=2e-3)

    from_torch = Detector(DetectorConfig(with_meta, backend="torch", conf_threshold=0.001))
    from_onnx = Detector(DetectorConfig(nano_onnx, conf_threshold=0.001, num_threads=1))
    assert from_torch.input_size == (416, 416)
    expected, actual = (
        from_onnx.detect(golden_io["image_bgr"]),
        from_torch.detect(golden_io["image_bgr"]),
    )
    assert len(actual) == len(expected) > 10
    np.testing.assert_allclose(actual.boxes, expected.boxes, atol=0.05)
    assert actual.class_names == expected.class_names


def test_torch_checkpoint_without_meta_needs_the_model_name(nano_checkpoints, caplog):
    _, without_meta = nano_checkpoints
    with pytest.raises(
        ModelLoadError, match="does not name its model: set the backend option model_name"
    ):
        Detector(DetectorConfig(without_meta, backend="torch"))
    caplog.set_level(logging.INFO, logger="yolox_ros")
    detector = Detector(
        DetectorConfig(
            without_meta, backend="torch", device="cuda", backend_options={"model_name": "nano"}
        )
    )
    assert detector.class_names == tuple(f"class_{i}" for i in range(7))
    assert detector.input_size == (416, 416)
    if detector.backend.device == "cpu":  # no GPU here: one fallback warning
        assert len(fallback_warnings(caplog)) == 1


def test_onnxruntime_execution_providers_option_replaces_the_device_chain(nano_onnx, caplog):
    backend_class = get_backend("onnxruntime")
    cpu_only = backend_class(nano_onnx, options={"execution_providers": ["CPUExecutionProvider"]})
    assert cpu_only.providers == ("CPUExecutionProvider",) and cpu_only.device == "cpu"

    caplog.set_level(logging.INFO, logger="yolox_ros")
    cuda_first = {"execution_providers": ("CUDAExecutionProvider",)}
    backend = backend_class(nano_onnx, options=cuda_first)  # the CPU is the last resort
    if backend.device == "cuda":
        pytest.skip("this onnxruntime has CUDA")
    assert backend.providers == ("CPUExecutionProvider",)
    assert "cannot run on device 'cuda'" in fallback_warnings(caplog)[0].getMessage()
    with pytest.raises(BackendError, match="cannot run on device 'cuda'.*strict_device"):
        backend_class(nano_onnx, strict_device=True, options=cuda_first)
    with pytest.raises(ConfigError, match="execution_providers must be provider names"):
        backend_class(nano_onnx, options={"execution_providers": ["", 3]})
