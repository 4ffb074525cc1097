"""A run's checkpoints, and its state at the start: fresh, or resumed from ``last.pt``.

Checkpoints (``last.pt`` every epoch, ``best.pt`` at the best AP)::

    {"model": EMA state dict, "meta": ModelMetadata.to_values() (model_name, class_names, ...),
     "train_state": {"model", "optimizer", "ema_updates", "next_epoch", "best_ap",
                     "evals_without_gain", "epochs", "warmup_epochs", "no_aug_epochs"}}

``best.pt`` has no ``train_state``. A resumed run keeps the plan (epochs and tails) its
``last.pt`` holds, a time budget's too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from yolox_ros.errors import ConfigError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import YOLOX, build_model, load_weights, read_checkpoint
from yolox_ros.training.batches import memory_format_for
from yolox_ros.training.config import RunPlan, TrainConfig
from yolox_ros.training.ema import ModelEMA
from yolox_ros.training.optimizer import optimizer_for


def save_atomically(content: dict, path: Path) -> None:
    """Write a checkpoint so that ``path`` is always complete, even if the run is killed."""
    partial = path.with_name(path.name + ".partial")
    torch.save(content, partial)
    os.replace(partial, path)


@dataclass
class TrainState:
    """What changes while training (and is restored on resume)."""

    model: YOLOX
    optimizer: torch.optim.SGD
    ema: ModelEMA
    plan: RunPlan  # the recipe's, until a time budget plans the run
    next_epoch: int = 0
    best_ap: float = -1.0
    evals_without_gain: int = 0

    def checkpoint(self, config: TrainConfig, with_train_state: bool) -> dict:
        """The checkpoint of the EMA weights; ``with_train_state`` adds what a resume needs."""
        content = {
            "model": {k: v.cpu() for k, v in self.ema.ema.state_dict().items()},
            "meta": ModelMetadata(
                class_names=tuple(config.class_names),
                input_size=tuple(config.test_size),
                model_name=config.model_name,
            ).to_values(),
        }
        if with_train_state:
            content["train_state"] = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "ema_updates": self.ema.updates,
                "next_epoch": self.next_epoch,
                "best_ap": self.best_ap,
                "evals_without_gain": self.evals_without_gain,
                "epochs": self.plan.epochs,
                "warmup_epochs": self.plan.warmup_epochs,
                "no_aug_epochs": self.plan.no_aug_epochs,
            }
        return content


def check_output(config: TrainConfig) -> None:
    """A new run never mixes its files with an earlier run's; a resume needs that run."""
    last = config.output / "last.pt"
    if config.resume and not last.is_file():
        raise ConfigError(f"cannot resume: {last} does not exist")
    if not config.resume and last.exists():
        raise ConfigError(
            f"{config.output} already holds a run (last.pt): pass --resume to continue it, "
            "or choose another --output"
        )


def initial_state(
    config: TrainConfig, device: torch.device, log: Callable[[str], None]
) -> TrainState:
    """A fresh model (optionally from ``init`` weights), or the state of ``last.pt`` on resume."""
    model = build_model(config.model_name, len(config.class_names))
    if config.init and not config.resume:
        report = load_weights(model, read_checkpoint(config.init).state_dict)
        log(f"initialised from {config.init}: {report.summary()}")
    model.to(device, memory_format=memory_format_for(device)).train()
    optimizer = optimizer_for(model, config.batch_lr)
    if not config.resume:
        return TrainState(model, optimizer, ModelEMA(model), config.plan)
    last_path = config.output / "last.pt"
    saved = torch.load(last_path, map_location=device, weights_only=True)
    saved_names = ModelMetadata.from_values(saved["meta"]).class_names
    if saved_names != config.class_names:
        raise ConfigError(
            f"cannot resume {last_path}: it was trained on classes {list(saved_names)}, "
            f"the data now has {list(config.class_names)}"
        )
    train_state = saved["train_state"]
    # The run keeps its plan (the one a time budget made, too); older checkpoints lack tails.
    plan = RunPlan(
        train_state["epochs"],
        train_state.get("warmup_epochs", config.warmup_epochs),
        train_state.get("no_aug_epochs", config.no_aug_epochs),
    )
    if plan != config.plan:
        log(
            f"resuming the run's plan: {plan.epochs} epochs, warm-up {plan.warmup_epochs}, "
            f"no-aug {plan.no_aug_epochs}"
        )
    model.load_state_dict(train_state["model"])
    optimizer.load_state_dict(train_state["optimizer"])
    ema = ModelEMA(model, updates=train_state["ema_updates"])
    ema.ema.load_state_dict(saved["model"])
    log(f"resumed from {last_path} at epoch {train_state['next_epoch'] + 1}")
    return TrainState(
        model,
        optimizer,
        ema,
        plan,
        train_state["next_epoch"],
        train_state["best_ap"],
        train_state["evals_without_gain"],
    )
