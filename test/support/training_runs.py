"""Tiny training runs for the tests: a config small enough to train in seconds."""

from __future__ import annotations

from pathlib import Path

from yolox_ros.training.config import TrainConfig


def tiny_config(output: Path, data: Path, **overrides) -> TrainConfig:
    """Three epochs at 64x64 on ``data``, evaluated every epoch; ``overrides`` replace."""
    settings = dict(
        output=output,
        data=str(data),
        val_fraction=0.25,
        epochs=3,
        batch_size=2,
        train_size=64,
        test_size=64,
        multiscale=(64, 96),
        warmup_epochs=1,
        no_aug_epochs=1,
        eval_interval=1,
        workers=0,
        seed=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)
