"""Training in several processes (torchrun, DDP) on the CPU with the gloo backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from support import REPO_ROOT
from support.distributed import first_step

from yolox_ros.cli.eval import main as eval_main
from yolox_ros.model import build_model
from yolox_ros.synthetic import CLASS_NAMES, write_dataset


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    write_dataset(root, count=8, seed=1, width=128, height=96)
    return root


def _torchrun(processes: int, *train_args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(processes), "-m", "yolox_ros", "train", *train_args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False
    )


TINY_RUN = ["--val-fraction", "0.25", "--epochs", "3", "--warmup-epochs", "1"]
TINY_RUN += ["--no-aug-epochs", "1", "--eval-interval", "1", "--train-size", "64"]
TINY_RUN += ["--test-size", "64", "--multiscale", "64,96", "--workers", "0", "--device", "cpu"]


def test_two_processes_train_and_rank_0_writes_a_loadable_checkpoint(tmp_path: Path, scenes: Path):
    run = tmp_path / "run"
    result = _torchrun(2, "--data", str(scenes), "--output", str(run), "--batch", "4", *TINY_RUN)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training nano on cpu x 2 processes:" in result.stdout
    # Rank 0 alone logs and records: one line and one metrics row per epoch.
    for epoch in (1, 2, 3):
        assert result.stdout.count(f"epoch {epoch}/3:") == 1, result.stdout
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert all("ap" in row for row in rows)  # evaluated every epoch, on rank 0
    for name in ("config.yaml", "last.pt", "best.pt", "model.onnx", "curves.png"):
        assert (run / name).is_file(), name
    # The checkpoint holds the plain module's weights: it loads as a single-process one.
    checkpoint = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    build_model("nano", len(CLASS_NAMES)).load_state_dict(checkpoint["model"])
    assert eval_main([str(run / "best.pt"), str(scenes)]) == 0


def test_a_user_error_stops_every_process_with_one_line(tmp_path: Path, scenes: Path):
    run = tmp_path / "run"
    # 3 images do not split over 2 processes: every rank finds it, rank 0 alone says so.
    result = _torchrun(2, "--data", str(scenes), "--output", str(run), "--batch", "3", *TINY_RUN)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "multiple of 2" in errors[0], result.stderr
    assert "yolox_ros/" not in result.stderr  # no traceback through our code (torchrun has its own)
    assert not run.exists()


def test_two_processes_take_the_gradient_of_the_whole_batch(tmp_path: Path, scenes: Path):
    first_step(0, 1, "", str(scenes), str(tmp_path))
    mp.spawn(
        first_step, args=(2, str(tmp_path / "rendezvous"), str(scenes), str(tmp_path)), nprocs=2
    )
    single = torch.load(tmp_path / "1.pt", weights_only=True)
    double = torch.load(tmp_path / "2.pt", weights_only=True)
    assert double["num_fg"] == single["num_fg"] > 0
    for part, value in single["loss"].items():
        assert double["loss"][part] == pytest.approx(value, rel=1e-5), part
    # Equal up to the summation order (which the layout changes): within 1e-4 of each
    # tensor's scale, where a per-rank normalisation or no averaging is off by O(1).
    for name, grad in single["grads"].items():
        atol = 1e-4 * grad.abs().max().item()
        torch.testing.assert_close(double["grads"][name], grad, rtol=0.0, atol=atol, msg=name)
    # A user error on rank 1 alone: rank 0 reports it by name, rank 1 stays silent.
    outcomes = [json.loads((tmp_path / f"agree-{rank}.json").read_text()) for rank in (0, 1)]
    assert outcomes[0] == {"raised": "ConfigError", "message": "rank 1: data/missing.json"}
    assert outcomes[1]["raised"] == "PeerError"
