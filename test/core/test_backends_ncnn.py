"""ncnn: export (from ONNX and from a checkpoint), metadata sidecar, agreement with ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import REPO_ROOT, VIA_MODEL, demo_frames, detections_agree, street_scenes

from yolox_ros.core.backends import Backend, get_backend
from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.errors import BackendError, ModelLoadError

pytest.importorskip("ncnn")
pytest.importorskip("pnnx")
# The export command imports onnx, which the detector alone does not need: skipped with ncnn.
from yolox_ros.cli.export import main as export_main  # noqa: E402

SHIPPED = REPO_ROOT / "models" / "street_sign_nano.onnx"


def convert(onnx_path: Path, param_path: Path) -> Path:
    args = ["--onnx", str(onnx_path), "--format", "ncnn", "--output", str(param_path)]
    assert export_main(args) == 0
    return param_path


def test_export_writes_param_bin_and_the_onnx_metadata(golden_ncnn, data_dir):
    assert golden_ncnn.with_suffix(".bin").is_file() and golden_ncnn.with_suffix(".json").is_file()
    backend = get_backend("ncnn")(golden_ncnn, num_threads=1)
    onnxruntime = get_backend("onnxruntime")(data_dir / "yolox_nano_c7.onnx", num_threads=1)
    assert isinstance(backend, Backend)
    assert backend.name == "ncnn" and backend.device == "cpu"
    assert backend.metadata == onnxruntime.metadata
    assert backend.input_shape == (None, 3, 416, 416)


def test_ncnn_raw_output_matches_the_official_model(golden_ncnn, golden_io):
    backend = get_backend("ncnn")(golden_ncnn, num_threads=1)
    batch = np.concatenate([golden_io["input"]] * 2)  # ncnn runs one image at a time
    output = backend.run(batch)
    assert output.shape == (2, *golden_io["raw_output"].shape[1:])
    np.testing.assert_allclose(output[1:], golden_io["raw_output"], atol=2e-3)


def test_ncnn_detections_equal_onnxruntime_on_the_golden_image(golden_ncnn, data_dir, golden_io):
    def detect(model: Path, backend: str):
        config = DetectorConfig(model, backend=backend, conf_threshold=0.001, num_threads=1)
        return Detector(config).detect(golden_io["image_bgr"])

    expected = detect(data_dir / "yolox_nano_c7.onnx", "onnxruntime")
    assert len(expected) > 10
    detections_agree(expected, detect(golden_ncnn, "ncnn"))


@pytest.mark.parametrize(
    ("model", "frames", "at_least"),
    # Street scenes hold several signs, each demo frame one.
    [(SHIPPED, street_scenes, 7), (VIA_MODEL, demo_frames, 6)],
    ids=["street 416x416", "track 576x768"],
)
def test_ncnn_detections_equal_onnxruntime_with_the_shipped_models(
    tmp_path, model, frames, at_least
):
    param = convert(model, tmp_path / model.with_suffix(".param").name)
    frames = frames(6)
    expected = Detector(DetectorConfig(model, num_threads=1)).detect_batch(frames)
    actual = Detector(DetectorConfig(param, backend="ncnn", num_threads=1)).detect_batch(frames)
    assert all(len(d) for d in expected)
    assert sum(len(d) for d in expected) >= at_least
    for want, got in zip(expected, actual, strict=True):
        detections_agree(want, got)


def test_export_from_a_checkpoint_writes_ncnn(tmp_path, data_dir, golden_ncnn):
    pytest.importorskip("torch")  # exporting a checkpoint needs it; converting ONNX does not
    output = tmp_path / "from_checkpoint.param"
    args = [
        "--checkpoint",
        str(data_dir / "yolox_nano_c7_bncal_state_dict.npz"),
        "--model",
        "nano",
        "--class-names",
        "stop,yield,speed_limit,no_entry,pedestrian_crossing,traffic_light,parking",
        "--format",
        "ncnn",
        "--output",
        str(output),
    ]
    assert export_main(args) == 0
    assert output.with_suffix(".json").read_text() == golden_ncnn.with_suffix(".json").read_text()
    assert output.read_text() == golden_ncnn.read_text()  # the same graph, layer for layer
    # The weights went through two paths (PyTorch export vs. the golden ONNX) whose BatchNorm
    # folding may round differently in the last bit, by CPU (an Intel Xeon differs from an
    # AMD EPYC at one float): equal up to a few float32 ulps, not bit for bit.
    exported = np.fromfile(output.with_suffix(".bin"), np.float32)
    golden = np.fromfile(golden_ncnn.with_suffix(".bin"), np.float32)
    assert exported.shape == golden.shape
    np.testing.assert_allclose(exported, golden, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("output", "extra", "message"),
    [
        (
            "m.param",
            ["--format", "onnx"],
            "--onnx converts an ONNX file: use it with --format ncnn",
        ),
        ("m.bin", ["--format", "ncnn"], "an ncnn model path must end in .param"),
    ],
)
def test_export_refuses_bad_ncnn_requests(tmp_path, data_dir, capsys, output, extra, message):
    args = ["--onnx", str(data_dir / "yolox_nano_c7.onnx"), "--output", str(tmp_path / output)]
    assert export_main([*args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_ncnn_model_without_its_files_is_a_model_load_error(golden_ncnn, tmp_path):
    backend = get_backend("ncnn")
    lonely = tmp_path / "lonely.param"
    lonely.write_bytes(golden_ncnn.read_bytes())
    with pytest.raises(ModelLoadError, match="needs lonely.bin next to it"):
        backend(lonely)
    lonely.with_suffix(".bin").write_bytes(golden_ncnn.with_suffix(".bin").read_bytes())
    with pytest.raises(ModelLoadError, match="needs lonely.json next to it"):
        backend(lonely)
    lonely.with_suffix(".json").write_text('{"input_size": [416]}')
    with pytest.raises(ModelLoadError, match="input_size"):
        backend(lonely)
    lonely.with_suffix(".json").write_text(golden_ncnn.with_suffix(".json").read_text())
    lonely.write_text("7767517\n1 1\nNoSuchLayer x 0 1 in0\n")
    with pytest.raises(ModelLoadError, match="cannot load ncnn model"):
        backend(lonely)


def test_ncnn_gpu_request_falls_back_or_raises_in_strict_mode(golden_ncnn):
    backend = get_backend("ncnn")(golden_ncnn, device="gpu", num_threads=1)
    if backend.device == "gpu":
        pytest.skip("this machine has a Vulkan GPU")
    assert backend.providers == ("ncnn-cpu",)
    with pytest.raises(BackendError, match="cannot run on device 'gpu'.*strict_device"):
        get_backend("ncnn")(golden_ncnn, device="gpu", strict_device=True)
