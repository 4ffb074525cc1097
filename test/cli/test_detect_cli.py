"""The ``python -m yolox_ros detect`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import REPO_ROOT, needs

from yolox_ros.cli.detect import main
from yolox_ros.core.annotate import class_color, draw_detections
from yolox_ros.core.detections import Detections
from yolox_ros.errors import InvalidImageError


@pytest.fixture(scope="module")
def golden_image(golden_io) -> np.ndarray:
    return golden_io["image_bgr"]


@pytest.fixture
def image_dir(tmp_path, golden_image) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), golden_image)
    cv2.imwrite(str(folder / "b.png"), cv2.resize(golden_image, (200, 300)))
    (folder / "notes.txt").write_text("not an image")
    return folder


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "backend", ["onnxruntime", pytest.param("openvino", marks=needs("openvino"))]
)
def test_directory_gives_json_per_image_and_annotated_copies(
    image_dir, tmp_path, data_dir, capsys, backend
):
    save_dir = tmp_path / "annotated"
    argv = [str(image_dir), "--model", str(data_dir / "yolox_nano_c7.onnx"), "--backend", backend]
    argv += ["--conf", "0.002", "--threads", "1", "--json", "--save-dir", str(save_dir)]
    assert main(argv) == 0
    records = json_lines(capsys.readouterr().out)
    assert [Path(r["source"]).name for r in records] == ["a.png", "b.png"]
    first = records[0]
    assert first["frame"] == 0 and (first["width"], first["height"]) == (640, 480)
    assert len(first["detections"]) > 0
    detection = first["detections"][0]
    assert set(detection) == {"x1", "y1", "x2", "y2", "score", "class_id", "class_name"}
    assert detection["score"] >= 0.002 and detection["class_name"] == "stop"
    for record in records:
        for d in record["detections"]:
            assert 0 <= d["x1"] < d["x2"] <= record["width"]
            assert 0 <= d["y1"] < d["y2"] <= record["height"]
    annotated = cv2.imread(str(save_dir / "a.png"))
    assert annotated.shape == (480, 640, 3)
    assert cv2.imread(str(save_dir / "b.png")).shape == (300, 200, 3)


def test_human_readable_output_and_class_filter(image_dir, data_dir, capsys):
    argv = [str(image_dir / "a.png"), "--model", str(data_dir / "yolox_nano_c7.onnx")]
    argv += ["--conf", "0.002", "--classes", "yield, parking"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("a.png: " + f"{len(lines) - 1} detections")
    assert len(lines) > 1
    assert all(line.startswith("  yield ") or line.startswith("  parking ") for line in lines[1:])


def test_video_frames_are_numbered_and_an_annotated_video_is_written(
    tmp_path, data_dir, capsys, golden_image
):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for shift in range(3):
        writer.write(cv2.resize(np.roll(golden_image, 20 * shift, axis=1), (320, 240)))
    writer.release()
    save_dir = tmp_path / "out"
    argv = [str(video), "--model", str(data_dir / "yolox_nano_c7.onnx"), "--json"]
    argv += ["--conf", "0.002", "--save-dir", str(save_dir)]
    assert main(argv) == 0
    assert [r["frame"] for r in json_lines(capsys.readouterr().out)] == [0, 1, 2]
    capture = cv2.VideoCapture(str(save_dir / "clip_annotated.mp4"))
    assert capture.read()[0]
    capture.release()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{images}"], "the following arguments are required: --model"),
        (
            ["{images}", "--model", "{model}", "--conf", "high"],
            "argument --conf: invalid float value: 'high'",
        ),
        (
            ["{images}", "--model", "{model}", "--conf", "1.5"],
            "conf_threshold must be a number in [0, 1]",
        ),
        (["{images}", "--model", "{model}", "--classes", "bus"], "unknown classes ['bus']"),
        (["{images}", "--model", "{images}/missing.onnx"], "model file not found"),
        (["{images}", "--model", "{model}", "--device", "tpu"], "does not support device 'tpu'"),
        (["{images}/nothing", "--model", "{model}"], "source not found"),
        (["{images}", "--model", "{model}", "--backend", "nope"], "unknown backend 'nope'"),
    ],
)
def test_bad_arguments_give_one_readable_line_and_exit_status_2(
    image_dir, data_dir, capsys, argv, message
):
    argv = [a.format(images=image_dir, model=data_dir / "yolox_nano_c7.onnx") for a in argv]
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error_lines = captured.err.strip().splitlines()
    assert len(error_lines) == 1 and message in error_lines[0]


def test_unreadable_image_in_a_directory_is_reported_and_the_rest_processed(
    image_dir, data_dir, capsys
):
    (image_dir / "broken.jpg").write_bytes(b"not a jpeg")
    assert main([str(image_dir), "--model", str(data_dir / "yolox_nano_c7.onnx"), "--json"]) == 1
    captured = capsys.readouterr()
    assert len(json_lines(captured.out)) == 2
    assert "cannot read image" in captured.err and "broken.jpg" in captured.err


def test_annotated_copy_that_cannot_be_written_is_reported(image_dir, data_dir, tmp_path, capsys):
    save_dir = tmp_path / "out"
    (save_dir / "a.png").mkdir(parents=True)  # a directory where the annotated image should go
    model = str(data_dir / "yolox_nano_c7.onnx")
    assert main([str(image_dir), "--model", model, "--save-dir", str(save_dir)]) == 1
    captured = capsys.readouterr()
    assert "cannot write annotated image" in captured.err and "a.png" in captured.err
    assert (save_dir / "b.png").is_file()


def test_runs_as_a_module(image_dir, data_dir):
    result = subprocess.run(
        [sys.executable, "-m", "yolox_ros", "detect", str(image_dir / "b.png"), "--model"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "python -m yolox_ros detect: error: argument --model: expected one argument (see --help)"
    )


def test_annotations_are_drawn_on_a_copy_with_labels_inside_the_image():
    image = np.full((200, 300, 3), 255, np.uint8)
    detections = Detections(
        boxes=np.array([[50, 60, 150, 160], [260, 0, 300, 40]], np.float32),
        scores=np.array([0.9, 0.5], np.float32),
        class_ids=np.array([2, 0]),
        class_names=("speed_limit", "stop"),
    )
    annotated = draw_detections(image, detections)
    assert (image == 255).all() and annotated.shape == image.shape
    is_color = {c: (annotated == class_color(c)).all(axis=2) for c in (0, 2)}
    assert is_color[2][110, 50] and is_color[2][110, 150]  # box sides
    assert is_color[2][45:60, 50:150].any()  # label above the box
    # The second box touches the top and right edges: its label goes inside, shifted left.
    assert is_color[0][1:40, 260:299].any()
    label_columns = np.flatnonzero(is_color[0][5:20].any(axis=0))
    assert label_columns.min() < 260 and label_columns.max() < 300  # moved left to fit
    np.testing.assert_array_equal(draw_detections(image, Detections.empty()), image)
    with pytest.raises(InvalidImageError):
        draw_detections(np.zeros((10, 10), np.uint8), detections)


@pytest.mark.parametrize("backend", ["ncnn", "auto"])
def test_ncnn_and_auto_give_the_detections_of_onnxruntime(
    backend, image_dir, data_dir, golden_ncnn, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # auto's choice goes there
    onnx_model = data_dir / "yolox_nano_c7.onnx"
    common = [str(image_dir / "a.png"), "--conf", "0.001", "--threads", "1", "--json"]
    assert main([*common, "--model", str(onnx_model)]) == 0
    expected = json_lines(capsys.readouterr().out)[0]["detections"]
    model = golden_ncnn if backend == "ncnn" else onnx_model
    assert main([*common, "--model", str(model), "--backend", backend]) == 0
    found = json_lines(capsys.readouterr().out)[0]["detections"]
    assert len(expected) > 0 and len(found) == len(expected)
    for want, got in zip(expected, found, strict=True):
        assert got["class_name"] == want["class_name"]
        for key in ("x1", "y1", "x2", "y2"):
            assert got[key] == pytest.approx(want[key], abs=0.5)


def test_output_into_a_closed_pipe_ends_quietly():
    """`detect ... --json | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    command = (
        f"{sys.executable} -m yolox_ros detect data/demo_sequence "
        "--model models/track_sign_nano.onnx --json | head -c 10"
    )
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert len(result.stdout) == 10
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 0


def test_the_commands_run_from_any_directory(tmp_path: Path):
    """The development environment has the checkout on its path (scripts/setup_env.sh)."""
    result = subprocess.run(
        [sys.executable, "-m", "yolox_ros", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "usage: python -m yolox_ros COMMAND" in result.stdout
