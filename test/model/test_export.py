"""ONNX export: agreement with the torch model, metadata, batch handling, command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from yolox_ros.cli.export import main
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import build_model, load_weights, read_checkpoint
from yolox_ros.model.export import export_onnx
from yolox_ros.synthetic import CLASS_NAMES

torch.set_num_threads(1)

GOLDEN_WEIGHTS = "yolox_nano_c7_bncal_state_dict.npz"


def run_onnx(path, images: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["output"], {"images": images})[0]


def read_metadata(path) -> ModelMetadata:
    return ModelMetadata.from_props({p.key: p.value for p in onnx.load(str(path)).metadata_props})


@pytest.fixture(scope="module")
def golden_model(data_dir):
    model = build_model("nano", 7)
    load_weights(model, read_checkpoint(data_dir / GOLDEN_WEIGHTS).state_dict)
    return model.eval()


def torch_output(model, images: np.ndarray, decode: bool) -> np.ndarray:
    model.head.decode_in_inference = decode
    with torch.no_grad():
        return model(torch.from_numpy(images)).numpy()


@pytest.fixture(scope="module")
def exported(golden_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "nano.onnx"
    return export_onnx(
        golden_model,
        path,
        class_names=CLASS_NAMES,
        input_size=(416, 416),
        model_name="nano",
    )


def test_onnx_agrees_with_torch_on_raw_output(exported, golden_model, golden_io):
    onnx_raw = run_onnx(exported, golden_io["input"])
    assert onnx_raw.shape == (1, 3549, 12)
    assert np.abs(onnx_raw - torch_output(golden_model, golden_io["input"], False)).max() < 1e-3
    assert np.abs(onnx_raw - golden_io["raw_output"]).max() < 1e-3


def test_default_export_has_official_layout(exported):
    graph = onnx.load(str(exported)).graph
    assert [i.name for i in graph.input] == ["images"]
    assert [o.name for o in graph.output] == ["output"]
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 416, 416]
    assert onnx.load(str(exported)).opset_import[0].version == 11


def test_metadata_round_trips(exported):
    meta = read_metadata(exported)
    assert meta.class_names == CLASS_NAMES
    assert meta.input_size == (416, 416)
    assert meta.model_name == "nano"
    assert meta.decoded is False
    assert meta.strides == (8, 16, 32)


def test_export_leaves_the_model_as_it_was(golden_model, tmp_path):
    golden_model.train()
    golden_model.head.decode_in_inference = True
    export_onnx(
        golden_model,
        tmp_path / "m.onnx",
        class_names=CLASS_NAMES,
        input_size=(64, 64),
        model_name="nano",
    )
    assert golden_model.training and golden_model.head.decode_in_inference
    golden_model.eval()


def test_dynamic_batch_decoded_export_runs_batch_of_two(golden_model, golden_io, tmp_path):
    path = export_onnx(
        golden_model,
        tmp_path / "dynamic.onnx",
        class_names=CLASS_NAMES,
        input_size=(416, 416),
        model_name="nano",
        decode_in_inference=True,
        dynamic_batch=True,
        opset=17,
    )
    images = np.concatenate([golden_io["input"], golden_io["input"][..., ::-1].copy()])
    onnx_out = run_onnx(path, images)
    assert onnx_out.shape == (2, 3549, 12)
    assert np.allclose(onnx_out, torch_output(golden_model, images, True), rtol=1e-3, atol=1e-2)
    assert np.allclose(onnx_out[:1], golden_io["decoded_output"], rtol=1e-3, atol=1e-2)
    assert read_metadata(path).decoded is True


def test_shipped_test_model_carries_the_golden_weights(data_dir, golden_io):
    path = data_dir / "yolox_nano_c7.onnx"
    assert read_metadata(path) == ModelMetadata(
        class_names=CLASS_NAMES, input_size=(416, 416), model_name="nano", decoded=False
    )
    assert np.abs(run_onnx(path, golden_io["input"]) - golden_io["raw_output"]).max() < 1e-3


def test_cli_takes_defaults_from_checkpoint_meta(data_dir, golden_io, tmp_path, capsys):
    state_dict = read_checkpoint(data_dir / GOLDEN_WEIGHTS).state_dict
    checkpoint = tmp_path / "trained.pth"
    torch.save(
        {
            "model": state_dict,
            "meta": {
                "model_name": "nano",
                "class_names": list(CLASS_NAMES),
                "input_size": [320, 384],
            },
        },
        checkpoint,
    )
    output = tmp_path / "out.onnx"
    assert main(["--checkpoint", str(checkpoint), "--output", str(output)]) == 0
    meta = read_metadata(output)
    assert (meta.class_names, meta.input_size, meta.model_name) == (CLASS_NAMES, (320, 384), "nano")
    assert run_onnx(output, np.zeros((1, 3, 320, 384), np.float32)).shape == (1, 2520, 12)


def test_cli_accepts_plain_state_dict_and_class_names_file(data_dir, golden_io, tmp_path):
    checkpoint = tmp_path / "plain.pt"
    torch.save(read_checkpoint(data_dir / GOLDEN_WEIGHTS).state_dict, checkpoint)
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n".join(CLASS_NAMES) + "\n\n")
    output = tmp_path / "out.onnx"
    argv = ["--checkpoint", str(checkpoint), "--model", "nano", "--num-classes", "7"]
    argv += [
        "--class-names-file",
        str(names_file),
        "--output",
        str(output),
        "--input-size",
        "416",
        "416",
    ]
    assert main(argv) == 0
    assert read_metadata(output).class_names == CLASS_NAMES
    assert np.abs(run_onnx(output, golden_io["input"]) - golden_io["raw_output"]).max() < 1e-3


@pytest.mark.parametrize(
    ("extra_args", "message"),
    [
        (["--class-names", "a,b,c"], "3 class names given but the model has 7 classes"),
        (["--num-classes", "5", "--class-names", "a,b,c,d,e"], "--num-classes 5 but checkpoint"),
        (["--model", "tiny"], "weights do not fit this YOLOX model"),
        (["--model", "huge"], "unknown model 'huge'"),
        (["--class-names", "a,b,a,c,d,e,f"], "repeated: a"),
        (["--class-names-file", "/nonexistent/names.txt"], "cannot read class names file"),
        (["--opset", "9"], "opset must be between 11 and 20"),
        (["--input-size", "416", "400"], "multiples of 32"),
    ],
)
def test_cli_bad_input_is_one_error_line(data_dir, tmp_path, capsys, extra_args, message):
    argv = ["--checkpoint", str(data_dir / GOLDEN_WEIGHTS), "--output", str(tmp_path / "x.onnx")]
    if "--model" not in extra_args:
        argv += ["--model", "nano"]
    if not any(arg.startswith("--class-names") for arg in extra_args):
        argv += ["--class-names", ",".join(CLASS_NAMES)]
    assert main(argv + extra_args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ")
    assert message in error
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("content", [None, b"not a checkpoint"])
def test_command_with_unusable_checkpoint_exits_2_without_traceback(tmp_path, content):
    checkpoint = tmp_path / "model.pth"
    if content is not None:
        checkpoint.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "yolox_ros", "export", "--checkpoint", str(checkpoint)]
        + ["--model", "nano", "--class-names", "a", "--output", str(tmp_path / "x.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and str(checkpoint) in result.stderr
