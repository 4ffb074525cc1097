"""A model file that is not a model (random bytes, empty, truncated, text) reads as one line.

Native readers print on their own when given such a file (OpenVINO's TensorFlow
frontend logs protobuf text-format errors with the raw bytes, ncnn "parse magic
failed"), and their exceptions span lines. The user must see one line naming
the file and the problem, and nothing else: no log line, no traceback.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import DATA_DIR, REPO_ROOT, needs
from support.onnx_models import write_yolox_like_onnx

from yolox_ros.core.backends import auto, get_backend
from yolox_ros.core.backends.model_files import (
    capture_native_stderr,
    check_ncnn_param,
    check_onnx_file,
    one_line,
)
from yolox_ros.errors import BackendError, ModelLoadError

GOLDEN_ONNX = DATA_DIR / "yolox_nano_c7.onnx"
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 3663262\n"
)
BAD_FILES = {
    "random": lambda: np.random.default_rng(0).bytes(4096),
    "empty": lambda: b"",
    "truncated": lambda: GOLDEN_ONNX.read_bytes()[: GOLDEN_ONNX.stat().st_size // 2],
    "text": lambda: LFS_POINTER.encode(),
}
CLI_BACKENDS = ["onnxruntime", pytest.param("openvino", marks=needs("openvino")), "auto"]
with_openvino = needs("openvino")


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # auto's choices
    return tmp_path / "cache"


def bad_file(folder: Path, kind: str, suffix: str = ".onnx") -> Path:
    path = folder / f"{kind}{suffix}"
    path.write_bytes(BAD_FILES[kind]())
    return path


def assert_nothing_printed(capfd) -> None:
    """Nothing on file descriptors 1 and 2: no native log line got past the backend."""
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "", captured


# --- the detect command: exactly one line ---------------------------------------------


@pytest.mark.parametrize("backend", CLI_BACKENDS)
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_detect_with_a_bad_model_file_prints_one_line_naming_it(tmp_path, kind, backend):
    model = bad_file(tmp_path, kind)
    image = tmp_path / "image.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    result = subprocess.run(
        [sys.executable, "-m", "yolox_ros", "detect", str(image), "--model", str(model)]
        + ["--backend", backend],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        timeout=120,
    )
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m yolox_ros detect: error: ")
    assert str(model) in lines[0]
    assert "not a valid ONNX model" in lines[0]
    assert f"; {model.stat().st_size} bytes)" in lines[0]


# --- the ONNX check ---------------------------------------------------------------------


def test_real_onnx_models_pass_the_check(tmp_path):
    check_onnx_file(GOLDEN_ONNX)
    for shipped in sorted((REPO_ROOT / "models").glob("*.onnx")):
        check_onnx_file(shipped)
    check_onnx_file(write_yolox_like_onnx(tmp_path / "small.onnx", dynamic=True))


def test_every_truncation_of_a_model_is_refused(tmp_path):
    data = write_yolox_like_onnx(tmp_path / "small.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        with pytest.raises(ModelLoadError, match=f"{cut}: the file is not a valid ONNX model"):
            check_onnx_file(cut)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", r"\(it is empty; 0 bytes\)"),
        (LFS_POINTER.encode(), r"it is text, starting 'version https://git-lfs\.github\.com/"),
        ("naïve ünïcode".encode(), "it is text, starting 'naïve ünïcode'"),
        (b"\x00\x01\x02", "no protobuf field starts at byte 0"),
        (b"\x08\x07\x3a\x00", r"no opset_import; 4 bytes"),  # ir_version and an empty graph
        (b"\x08\x07\x3a\x10abc", "truncated: graph at byte 2 needs 13 bytes more"),
        (b"\x08\x87", "truncated: the file ends inside the ir_version at byte 0"),
        (b"\x3a\x00\x42\x00\x0a\x00", "ModelProto ir_version at byte 4 has protobuf wire type 2"),
        (b"\x08" + b"\xff" * 11, "no protobuf ir_version at byte 0"),
    ],
)
def test_the_check_names_the_problem(tmp_path, content, problem):
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=problem) as raised:
        check_onnx_file(path)
    message = str(raised.value)
    assert message.startswith(f"cannot load ONNX model {path}: ") and "\n" not in message


def test_unknown_fields_of_a_newer_onnx_are_accepted(tmp_path):
    data = write_yolox_like_onnx(tmp_path / "small.onnx").read_bytes()
    newer = tmp_path / "newer.onnx"
    newer.write_bytes(data + b"\xf8\x01\x05" + b"\xfa\x01\x02ab")  # fields 31 (varint), 31 (len)
    check_onnx_file(newer)


def test_runtime_code_does_not_import_the_onnx_package():
    code = (
        "import sys; from yolox_ros.core.backends import get_backend; "
        f"get_backend('onnxruntime')({str(GOLDEN_ONNX)!r}); print('onnx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- each backend, in process: one-line error, nothing on stderr ------------------------


@pytest.mark.parametrize("backend", ["onnxruntime", pytest.param("openvino", marks=with_openvino)])
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_backend_refuses_a_bad_onnx_file_silently(tmp_path, capfd, backend, kind):
    model = bad_file(tmp_path, kind)
    with pytest.raises(ModelLoadError, match="not a valid ONNX model") as raised:
        get_backend(backend)(model)
    assert "\n" not in str(raised.value) and str(model) in str(raised.value)
    assert_nothing_printed(capfd)


@with_openvino
@pytest.mark.parametrize("kind", ["random", "empty", "text"])
def test_openvino_refuses_a_bad_ir_file_silently(tmp_path, capfd, kind):
    model = bad_file(tmp_path, kind, ".xml")
    with pytest.raises(ModelLoadError, match="is not an OpenVINO IR model") as raised:
        get_backend("openvino")(model)
    assert "\n" not in str(raised.value) and str(model) in str(raised.value)
    assert_nothing_printed(capfd)


@with_openvino
def test_openvino_still_reads_an_ir_model(tmp_path, capfd):
    import openvino as ov

    ov.save_model(ov.Core().read_model(str(GOLDEN_ONNX)), str(tmp_path / "m.xml"))
    backend = get_backend("openvino")(tmp_path / "m.xml", num_threads=1)
    assert backend.input_shape == get_backend("openvino")(GOLDEN_ONNX).input_shape
    assert_nothing_printed(capfd)


def test_a_runtime_error_after_the_check_is_one_line_too(tmp_path, capfd):
    # Well-formed ModelProto fields, but a graph ONNX Runtime cannot read.
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07\x3a\x03\xff\xff\xff\x42\x00")
    with pytest.raises(ModelLoadError, match=f"cannot load ONNX model {model}: ") as raised:
        get_backend("onnxruntime")(model)
    assert "\n" not in str(raised.value)
    assert_nothing_printed(capfd)


def test_one_line_drops_openvino_source_locations():
    message = (
        "Exception from src/inference/src/cpp/core.cpp:84:\n"
        "Check 'm_model->ParseFromIstream(&model_file)' failed at "
        "src/frontends/onnx/frontend/src/core/graph_iterator_proto.cpp:563:\n"
        "FrontEnd API failed with GeneralFailure:\n"
        "Model can't be parsed\n"
    )
    assert one_line(message) == "FrontEnd API failed with GeneralFailure: Model can't be parsed"
    assert one_line("first\n\nsecond") == "first; second"
    assert one_line(RuntimeError("single")) == "single"


# --- backend auto: each candidate silent, one line in the end -------------------------


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_auto_refuses_a_bad_file_in_one_line_without_warnings(tmp_path, capfd, caplog, device):
    caplog.set_level(logging.WARNING, logger="yolox_ros")
    model = bad_file(tmp_path, "random")
    with pytest.raises(BackendError, match="no candidate could run") as raised:
        auto.open_backend(model, backend="auto", device=device, num_threads=1)
    message = str(raised.value)
    assert "\n" not in message
    # The file's problem is given once; the other candidates refer to it.
    assert message.count("not a valid ONNX model") == 1
    assert "onnxruntime/cpu: cannot load ONNX model" in message
    if importlib.util.find_spec("openvino") is not None:
        assert "openvino/cpu: same as onnxruntime/cpu" in message
    assert not caplog.records  # device cpu: no "probing cpu" on the cpu it just probed
    assert_nothing_printed(capfd)


# --- ncnn -------------------------------------------------------------------------------

NCNN_PARAM = (
    "7767517\n"
    "2 2\n"
    "Input data 0 1 data 0=8 1=8 2=3\n"
    "Convolution conv 1 1 data out 0=4 1=3 5=1 6=108\n"  # 4 outputs, 3x3, bias, 108 weights
)
NCNN_WEIGHTS_BYTES = 4 + 108 * 4 + 4 * 4  # fp32 flag, 4x3x3x3 weights, 4 biases


def ncnn_model(folder: Path, param: bytes, weights_bytes: int = NCNN_WEIGHTS_BYTES) -> Path:
    path = folder / "m.param"
    path.write_bytes(param)
    path.with_suffix(".bin").write_bytes(bytes(weights_bytes))
    path.with_suffix(".json").write_text('{"input_size": [8, 8]}')
    return path


@needs("ncnn")
def test_ncnn_loads_a_small_model_silently(tmp_path, capfd):
    backend = get_backend("ncnn")(ncnn_model(tmp_path, NCNN_PARAM.encode()), num_threads=1)
    assert backend.input_shape == (None, 3, 8, 8)
    assert_nothing_printed(capfd)


@needs("ncnn")
@pytest.mark.parametrize(
    ("param", "weights_bytes", "message"),
    [
        (BAD_FILES["random"](), NCNN_WEIGHTS_BYTES, r"first line is not 7767517; 4096 bytes"),
        (b"", NCNN_WEIGHTS_BYTES, r"\(it is empty; 0 bytes\)"),
        (b"7767517\n3 3\nInput data 0 1 data\n", NCNN_WEIGHTS_BYTES, "ncnn: parse layer_type"),
        (NCNN_PARAM.encode(), 40, r"weights .*m\.bin \(ncnn: ModelBin read .*; 40 bytes\)"),
    ],
)
def test_ncnn_refuses_bad_files_in_one_line_silently(
    tmp_path, capfd, param, weights_bytes, message
):
    model = ncnn_model(tmp_path, param, weights_bytes)
    with pytest.raises(ModelLoadError, match=message) as raised:
        get_backend("ncnn")(model)
    assert "\n" not in str(raised.value) and str(tmp_path) in str(raised.value)
    assert_nothing_printed(capfd)


def test_the_ncnn_magic_check(tmp_path):
    good = tmp_path / "good.param"
    good.write_text(NCNN_PARAM)
    check_ncnn_param(good)
    text = tmp_path / "bad.param"
    text.write_text("7767518\n")
    with pytest.raises(ModelLoadError, match="not an ncnn .param file"):
        check_ncnn_param(text)


def test_native_stderr_is_captured_and_restored(capfd):
    def noisy() -> int:
        os.write(2, b"native line 1\nnative line 2\n")
        return 7

    assert capture_native_stderr(noisy) == (7, "native line 1\nnative line 2\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
