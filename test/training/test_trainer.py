"""The trainer: iterations, runs, checkpoints, resume, CPU paths, user errors; real runs (slow)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
import yaml
from support.training_runs import tiny_config

from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.datasets import open_dataset, summarize
from yolox_ros.datasets.records import DatasetError
from yolox_ros.errors import ConfigError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import build_model, read_checkpoint
from yolox_ros.model.blocks import BaseConv
from yolox_ros.synthetic import CLASS_NAMES, render_scene, scene_rng
from yolox_ros.training.batches import (
    labels_to_targets,
)
from yolox_ros.training.config import TrainConfig
from yolox_ros.training.kernels.fused_bn_silu import batchnorm_silu, load_kernel
from yolox_ros.training.loss import yolox_loss
from yolox_ros.training.optimizer import optimizer_for
from yolox_ros.training.splits import load_splits
from yolox_ros.training.trainer import Trainer, multiscale_size, train


def test_a_few_iterations_on_one_batch_decrease_the_loss():
    torch.manual_seed(0)
    model = build_model("nano", len(CLASS_NAMES)).train()
    optimizer = optimizer_for(model, 0.01)
    images, targets = [], []
    for index in range(2):
        image, boxes, class_ids = render_scene(scene_rng(0, index), 128, 96, num_signs=(2, 3))
        canvas = np.full((96, 128, 3), 114, np.uint8)
        canvas[:96, :128] = image
        images.append(canvas.transpose(2, 0, 1))
        labels = np.concatenate([boxes, class_ids[:, None].astype(np.float32)], axis=1)
        targets.append(labels_to_targets(labels, max_labels=8))
    images = torch.from_numpy(np.stack(images)).float()
    targets = torch.from_numpy(np.stack(targets))
    losses = []
    for _ in range(20):
        terms = yolox_loss(model(images), targets, model.head.strides, use_l1=False)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        losses.append(terms.values()["total"])
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


def test_training_run_writes_checkpoints_and_onnx_with_metadata(tmp_path: Path, scenes: Path):
    onnx_path = train(tiny_config(tmp_path, scenes), log=lambda line: None)
    checkpoint = torch.load(tmp_path / "best.pt", map_location="cpu", weights_only=True)
    assert read_checkpoint(tmp_path / "best.pt").meta == ModelMetadata(
        class_names=tuple(CLASS_NAMES), input_size=(64, 64), model_name="nano"
    )
    model = build_model("nano", len(CLASS_NAMES))
    model.load_state_dict(checkpoint["model"])
    proto = onnx.load(str(onnx_path))
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.class_names == CLASS_NAMES and meta.input_size == (64, 64)
    assert meta.decoded is False and meta.model_name == "nano"
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    saved = TrainConfig.load(tmp_path / "config.yaml", resume=True)
    expected = tiny_config(tmp_path, scenes, resume=True).to_dict()
    assert saved.to_dict() == expected  # config.yaml reads back as the same recipe
    for name in (
        "curves.png", "val_samples.jpg", "best_metrics.json", "confusion_matrix.png",
        "pr_curves.png", "train_batches.jpg",
    ):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_config(tmp_path, scenes), log=lambda line: None)


def test_a_rectangular_input_trains_exports_and_detects_end_to_end(tmp_path: Path, scenes: Path):
    """A 4:3 camera trained at 64x96 (height x width): every multiscale size keeps the aspect,
    the checkpoint, the ONNX metadata and the detector all carry (64, 96)."""
    config = tiny_config(
        tmp_path, scenes, train_size=(64, 96), test_size=None, multiscale=(64, 128)
    )
    assert config.test_size == (64, 96)
    assert {multiscale_size(config, i) for i in range(0, 400, 10)} <= {
        (64, 96),
        (96, 128),
        (128, 192),
    }
    onnx_path = train(config, log=lambda line: None)
    assert read_checkpoint(tmp_path / "best.pt").meta.input_size == (64, 96)
    proto = onnx.load(str(onnx_path))
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.input_size == (64, 96)
    detector = Detector(DetectorConfig(str(onnx_path), conf_threshold=0.0))
    assert detector.input_size == (64, 96)
    image = cv2.imread(str(next((scenes / "images").glob("*.jpg"))))
    detections = detector.detect(image)
    assert len(detections) > 0
    assert (detections.boxes[:, 2] <= image.shape[1]).all()
    assert (detections.boxes[:, 3] <= image.shape[0]).all()
    assert TrainConfig.load(tmp_path / "config.yaml").train_size == (64, 96)


def test_resumed_training_ends_where_an_uninterrupted_run_ends(tmp_path: Path, scenes: Path):
    class StopRunError(Exception):
        pass

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise StopRunError

    with pytest.raises(StopRunError):
        train(tiny_config(tmp_path / "resumed", scenes), log=stop_after_first_epoch)
    train(tiny_config(tmp_path / "resumed", scenes, resume=True), log=lambda line: None)
    train(tiny_config(tmp_path / "straight", scenes), log=lambda line: None)
    resumed = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, msg=key)


def test_the_cpu_training_step_runs_channels_last(tmp_path: Path, scenes: Path):
    # oneDNN runs the step ~1.5x faster on channels_last: the model, its EMA and every
    # batch the model is given (after the multiscale resize) must stay in that layout.
    trainer = Trainer(tiny_config(tmp_path, scenes, device="cpu"), log=lambda line: None)
    model, average = trainer.state.model, trainer.state.ema.ema
    for module in (model, average):
        kernels = [p for p in module.parameters() if p.dim() == 4]
        assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)

    class StopRunError(Exception):
        pass

    layouts: list[bool] = []

    def record_layout(module: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
        layouts.append(inputs[0].is_contiguous(memory_format=torch.channels_last))
        if len(layouts) == 3:
            raise StopRunError

    model.register_forward_pre_hook(record_layout)
    with pytest.raises(StopRunError):
        trainer.run()
    assert layouts == [True, True, True]


@pytest.mark.parametrize("case", ["default", "turned off", "no compiler"])
def test_cpu_training_fuses_batchnorm_and_silu_where_it_can(
    tmp_path: Path, scenes: Path, monkeypatch, case: str
):
    if case == "no compiler":
        monkeypatch.setenv("CC", "no-such-cc")
    load_kernel.cache_clear()  # built anew under this case's compiler
    lines: list[str] = []
    config = tiny_config(tmp_path, scenes, device="cpu", fused_bn_silu=case != "turned off")
    try:
        trainer = Trainer(config, log=lines.append)
    finally:
        load_kernel.cache_clear()
    layers = [m for m in trainer.state.model.modules() if isinstance(m, BaseConv)]
    fused = [m.train_bn_act is batchnorm_silu for m in layers]
    said = [line for line in lines if line.startswith("BatchNorm+SiLU")]
    if case == "default":
        assert all(fused) and said == [
            f"BatchNorm+SiLU of {len(layers)} layers through the fused kernel"
        ]
    elif case == "turned off":
        assert not any(fused) and not said
    else:
        assert not any(fused)
        assert said == [
            "BatchNorm+SiLU through PyTorch: the fused kernel is unavailable "
            "(no C compiler 'no-such-cc' found)"
        ]


def test_amp_on_the_cpu_trains_with_a_bfloat16_forward_pass(tmp_path: Path, scenes: Path):
    config = tiny_config(tmp_path, scenes, device="cpu", amp=True)
    trainer = Trainer(config, log=lambda line: None)

    class StopRunError(Exception):
        pass

    dtypes: list[torch.dtype] = []

    def record_dtype(module: torch.nn.Module, inputs, outputs: list[torch.Tensor]) -> None:
        dtypes.append(outputs[0].dtype)
        if len(dtypes) == 2:  # a whole step (loss, backward, update) ran in between
            raise StopRunError

    trainer.state.model.register_forward_hook(record_dtype)
    with pytest.raises(StopRunError):
        trainer.run()
    assert dtypes == [torch.bfloat16, torch.bfloat16]
    assert all(torch.isfinite(p).all() for p in trainer.state.model.parameters())
    assert all(p.dtype == torch.float32 for p in trainer.state.model.parameters())


def test_too_short_runs_for_the_schedule_are_rejected(tmp_path: Path, capsys):
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainConfig(output=tmp_path, data="x", epochs=10)
    from yolox_ros.cli.train import main

    assert main(["--data", "x", "--output", str(tmp_path / "run"), "--epochs", "10"]) == 2
    assert "--no-aug-epochs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


def test_user_errors_are_one_line_and_leave_no_files(tmp_path: Path, scenes: Path, capsys):
    from yolox_ros.cli.train import main

    run = tmp_path / "run"
    common = ["--output", str(run), "--epochs", "3", "--warmup-epochs", "1", "--no-aug-epochs", "1"]
    common += ["--batch", "2"]
    assert main(["--data", str(tmp_path / "missing.json"), *common]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["--data", str(scenes), "--flip-pairs", "stop:up", *common]) == 2
    assert "unknown class 'up'" in capsys.readouterr().err
    assert main(["--data", str(scenes), "--resume", *common]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert not run.exists()


def test_resuming_with_other_classes_is_refused(tmp_path: Path, scenes: Path):
    train(tiny_config(tmp_path, scenes), log=lambda line: None)
    with pytest.raises(ConfigError, match="trained on classes"):
        train(tiny_config(tmp_path, scenes, resume=True, classes=CLASS_NAMES[:2]), log=print)


def test_init_from_an_official_checkpoint_with_another_class_count(
    tmp_path: Path, scenes, data_dir
):
    lines: list[str] = []
    official = str(data_dir / "yolox_nano_c7_bncal_state_dict.npz")  # 7 classes
    config = tiny_config(tmp_path, scenes, init=official, classes=CLASS_NAMES[:2])
    train(config, log=lines.append)
    assert any(
        line.startswith(f"initialised from {official}") and "re-initialised" in line
        for line in lines
    ), lines


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_short_real_training_run_learns_and_exports_a_working_model(tmp_path: Path):
    """A few minutes: 5 epochs of 396 synthetic scenes written as COCO, then ONNX."""
    from yolox_ros.core.detector import Detector, DetectorConfig
    from yolox_ros.synthetic import write_dataset

    write_dataset(tmp_path / "data", count=440, seed=0, width=640, height=480)
    config = tiny_config(
        tmp_path / "run",
        tmp_path / "data",
        val_fraction=0.1,
        epochs=5,
        batch_size=8,
        train_size=256,
        test_size=256,
        multiscale=(224, 288),
        eval_interval=5,
        workers=2,
    )
    lines: list[str] = []
    onnx_path = train(config, log=lines.append)

    def losses_of_epoch(epoch: int) -> list[float]:
        prefix = f"epoch {epoch}/"
        return [float(x.split(" loss ")[1].split()[0]) for x in lines if x.startswith(prefix)]

    # Epoch 4 is the last one with mosaic (epoch 5 adds the L1 term): compare like with like.
    # Measured: 13.4 -> 10.6.
    assert np.mean(losses_of_epoch(4)) < 0.85 * np.mean(losses_of_epoch(1)), lines

    detector = Detector(DetectorConfig(model_path=str(onnx_path), conf_threshold=0.01))
    image, _, _ = render_scene(np.random.default_rng(0), signs=[(0, (200, 150, 330, 280))])
    detections = detector.detect(image)
    assert len(detections) > 0
    assert set(detections.class_names) <= set(CLASS_NAMES)
    assert np.all(detections.boxes >= 0)
    assert np.all(detections.boxes[:, [0, 2]] <= 640) and np.all(detections.boxes[:, [1, 3]] <= 480)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_training_cleanly_and_the_run_resumes_from_its_own_config(
    tmp_path: Path, scenes: Path, signal_number: int
):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "yolox_ros", "train", "--data", str(scenes)]
    command += ["--output", str(run), "--batch", "2", "--val-fraction", "0.25", "--epochs", "6"]
    command += ["--warmup-epochs", "1", "--no-aug-epochs", "1", "--train-size", "64"]
    command += ["--multiscale", "64,96", "--workers", "2", "--device", "cpu", "--threads", "1"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        start_new_session=True,
    )  # fmt: skip
    for line in process.stdout:
        if line.startswith("epoch 1/"):  # printed when epoch 1 has ended
            break
    os.killpg(process.pid, signal_number)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, stderr
    assert "Traceback" not in stderr, stderr
    name = signal.Signals(signal_number).name
    assert f"stopped by {name} at epoch" in stderr and "--resume" in stderr, stderr
    assert (run / "last.pt").is_file() and (run / "metrics.jsonl").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["resume"] is False
    resumed = subprocess.run(
        [sys.executable, "-m", "yolox_ros", "train", "--output", str(run), "--resume",
         "--threads", "1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    assert (run / "model.onnx").is_file()


def _damage(path: Path, damage: str) -> None:
    data = path.read_bytes()
    if damage == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "cut_short":
        path.write_bytes(data[: len(data) // 3])
    else:  # another size than the annotations say
        cv2.imwrite(str(path), np.zeros((50, 70, 3), np.uint8))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("random_bytes", "is not a readable JPEG, PNG or BMP file"),
        ("empty", "is empty (0 bytes)"),
        ("cut_short", "is cut short: the JPEG has no end marker"),
        ("resized", "is 70x50 but annotated as 128x96"),
    ],
)
def test_a_broken_image_stops_training_at_start_up_naming_the_file(
    tmp_path: Path, scenes: Path, damage: str, problem: str
):
    """With 2 workers: before any epoch, one line naming the file, no worker traceback."""
    data = tmp_path / "data"
    shutil.copytree(scenes, data)
    # Whichever split it falls in (the validation part included), it is found first.
    broken = data / "images" / "000003.jpg"
    _damage(broken, damage)
    with pytest.raises(DatasetError) as raised:
        train(tiny_config(tmp_path / "run", data, workers=2), log=lambda line: None)
    message = str(raised.value)
    assert message.startswith(str(broken)) and problem in message and "\n" not in message
    assert not (tmp_path / "run" / "last.pt").exists()
    summary = summarize(open_dataset(data))
    assert any(str(broken) in p and problem in p for p in summary.problems), summary.problems


def test_classes_keep_and_rename_as_old_equals_new(tmp_path: Path, scenes: Path):
    config = tiny_config(tmp_path, scenes, classes=("stop=halt", "yield"))
    splits = load_splits(config)
    assert splits.train.class_names == ("halt", "yield")
    with pytest.raises(ConfigError, match="is not NAME or OLD=NEW"):
        tiny_config(tmp_path, scenes, classes=("stop=",)).class_selection()
