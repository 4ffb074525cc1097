"""export --format onnx-int8: a statically quantised ONNX file that keeps the model's metadata."""

from __future__ import annotations

import cv2
import pytest
from support import REPO_ROOT, street_scenes

from yolox_ros.core.detector import Detector, DetectorConfig

# The converters need onnx and ONNX Runtime's quantiser, which the detector alone does not.
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")
from yolox_ros.cli.export import main as export_main  # noqa: E402

SHIPPED = REPO_ROOT / "models" / "street_sign_nano.onnx"
SCENES = street_scenes(10)
CALIBRATION, CHECKED = SCENES[:4], SCENES[4:10]


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    for index, image in enumerate(CALIBRATION):
        cv2.imwrite(str(folder / f"scene_{index}.jpg"), image)
    (folder / "labels.txt").write_text("not an image: skipped")
    output = folder.parent / "int8.onnx"
    args = ["--onnx", str(SHIPPED), "--format", "onnx-int8"]
    args += ["--calibration-images", str(folder), "--output", str(output)]
    assert export_main(args) == 0
    return output


def test_int8_export_is_quantised_and_keeps_the_metadata(int8_model):
    quantised = onnx.load(str(int8_model))
    assert any(node.op_type == "QuantizeLinear" for node in quantised.graph.node)
    original = onnx.load(str(SHIPPED))
    assert {p.key: p.value for p in quantised.metadata_props} == {
        p.key: p.value for p in original.metadata_props
    }


def overlap(a, b) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_model_finds_the_signs_the_float_one_finds(int8_model, backend):
    pytest.importorskip(backend)
    frames = CHECKED
    fp32 = Detector(DetectorConfig(SHIPPED, conf_threshold=0.6, num_threads=1))
    int8 = Detector(DetectorConfig(int8_model, backend=backend, conf_threshold=0.3, num_threads=1))
    assert int8.class_names == fp32.class_names and int8.input_size == fp32.input_size
    # Quantisation moves scores and boxes a little: every sign the float model is sure of
    # must be found by the INT8 one, above a lower threshold, at nearly the same place.
    wanted = 0
    for want, got in zip(fp32.detect_batch(frames), int8.detect_batch(frames), strict=True):
        for box, name in zip(want.boxes, want.class_names, strict=True):
            wanted += 1
            partners = [b for b, n in zip(got.boxes, got.class_names, strict=True) if n == name]
            assert partners and max(overlap(box, b) for b in partners) > 0.5, (name, box)
    assert wanted >= len(frames)


def test_int8_export_needs_calibration_images(tmp_path, data_dir, capsys):
    args = ["--onnx", str(data_dir / "yolox_nano_c7.onnx"), "--format", "onnx-int8"]
    assert export_main([*args, "--output", str(tmp_path / "m.onnx")]) == 2
    assert "needs --calibration-images" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    args += ["--calibration-images", str(empty), "--output", str(tmp_path / "m.onnx")]
    assert export_main(args) == 2
    assert "no readable images" in capsys.readouterr().err
