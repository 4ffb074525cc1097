"""The YOLOX training loop (reference section 6), checkpoints and COCO evaluation.

SGD (momentum 0.9, Nesterov), weight decay on conv/linear weights only,
``lr = 0.01 / 64 * batch`` (``--lr`` sets the 0.01) under the ``yoloxwarmcos`` schedule, EMA of the
weights, a new square input size every 10 iterations, and in the last
``no_aug_epochs`` no mosaic/affine/mixup but the L1 loss. Evaluation and
checkpoints use the EMA weights; the best checkpoint is the one with the best
COCO AP@[.5:.95] on the validation split.

Checkpoints (``last.pt`` every epoch, ``best.pt`` at the best AP)::

    {"model": EMA state dict, "meta": {"model_name", "class_names", "input_size"},
     "train_state": {"model", "optimizer", "ema_updates", "next_epoch", "best_ap",
                     "evals_without_gain", "epochs"}}
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from yolox_ros.core.settings import CONF_THRESHOLD
from yolox_ros.datasets import (
    DetectionDataset,
    group_names,
    open_dataset,
    select_classes,
    split_by_group,
)
from yolox_ros.datasets.image_files import check_image_files
from yolox_ros.datasets.metrics import CocoMetrics, evaluate_predictions
from yolox_ros.datasets.records import DatasetError
from yolox_ros.errors import ConfigError
from yolox_ros.model import YOLOX, build_model, load_weights, read_checkpoint
from yolox_ros.model.export import export_onnx
from yolox_ros.training.allocator import release_freed_memory, reuse_freed_memory
from yolox_ros.training.augment import AugmentConfig
from yolox_ros.training.batches import (
    AugmentedSamples,
    CachedSource,
    EpochBatches,
    batch_loader,
    indices_by_group,
    memory_format_for,
    model_input,
)
from yolox_ros.training.config import TrainConfig, mirror_classes
from yolox_ros.training.distributed import SINGLE, SilentProgress, World
from yolox_ros.training.ema import ModelEMA
from yolox_ros.training.evaluate import predict
from yolox_ros.training.fused_bn_silu import FusedKernelError, fuse_batchnorm_silu
from yolox_ros.training.loss import yolox_loss
from yolox_ros.training.progress import Progress
from yolox_ros.training.report import plot_curves, sample_sheet
from yolox_ros.training.schedule import WarmCosineSchedule

MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
MULTISCALE_INTERVAL = 10  # iterations between input-size changes
# A time budget plans the epochs on the first epoch's duration, with this much to spare
# for evaluations and the export.
BUDGET_MARGIN = 1.15
SHEET_IMAGES = 16
SHEET_CONF = CONF_THRESHOLD.default  # show what the node would publish


def optimizer_for(model: nn.Module, lr: float) -> torch.optim.SGD:
    """SGD with weight decay on conv/linear weights; BatchNorm weights and all biases get none."""
    decayed, not_decayed = [], []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            is_conv_weight = name == "weight" and not isinstance(
                module, nn.modules.batchnorm._BatchNorm
            )
            (decayed if is_conv_weight else not_decayed).append(parameter)
    return torch.optim.SGD(
        [
            {"params": not_decayed, "weight_decay": 0.0},
            {"params": decayed, "weight_decay": WEIGHT_DECAY},
        ],
        lr=lr,
        momentum=MOMENTUM,
        nesterov=True,
    )


def multiscale_size(config: TrainConfig, iteration: int) -> tuple[int, int]:
    """The (height, width) in force at ``iteration``: a height of 32 * randint, redrawn every
    10 iterations, and the width of the training size's aspect ratio."""
    low, high = config.multiscale[0] // 32, config.multiscale[1] // 32
    block = iteration // MULTISCALE_INTERVAL
    height = 32 * int(np.random.default_rng([config.seed, block, 3]).integers(low, high + 1))
    return config.size_at_height(height)


def resize_batch(
    images: torch.Tensor, targets: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear resize of a batch to ``size`` (height, width), targets scaled alike."""
    height, width = images.shape[2:]
    if (height, width) == tuple(size):
        return images, targets
    images = F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False)
    targets = targets.clone()
    targets[..., 1::2] *= size[1] / width
    targets[..., 2::2] *= size[0] / height
    return images, targets


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU")
    return torch.device(name)


@dataclass(frozen=True)
class Splits:
    train: DetectionDataset
    val: DetectionDataset


def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively (AVX512-BF16, AMX); True when torch cannot say."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without this probe
        return True


def load_splits(config: TrainConfig) -> Splits:
    """The training and validation datasets of ``config``, with its class selection applied."""
    data = open_dataset(config.data, config.data_format)
    if config.val:
        train, val = data, open_dataset(config.val, config.data_format, split="val")
    else:
        train, val = split_by_group(data, config.val_fraction, config.group_pattern, config.seed)
    if config.classes:
        keep, rename = config.class_selection()
        train, val = select_classes(train, keep, rename), select_classes(val, keep, rename)
    if train.class_names != val.class_names:
        raise DatasetError(
            f"{config.val}: classes {list(val.class_names)} differ from the training data's "
            f"{list(train.class_names)}"
        )
    check_image_files([train, val])
    if not any(len(record.boxes) for record in val.records):
        # Without ground truth the AP is undefined and no checkpoint is ever the best.
        raise DatasetError(f"{config.val or config.data}: the validation split has no boxes")
    if len(train) < config.batch_size:
        raise DatasetError(
            f"{config.data}: {len(train)} training images are fewer than a batch "
            f"({config.batch_size})"
        )
    return Splits(train, val)


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
    epochs: int
    next_epoch: int = 0
    best_ap: float = -1.0
    evals_without_gain: int = 0

    def checkpoint(self, config: TrainConfig, with_train_state: bool) -> dict:
        content = {
            "model": {k: v.cpu() for k, v in self.ema.ema.state_dict().items()},
            "meta": {
                "model_name": config.model_name,
                "class_names": list(config.class_names),
                "input_size": list(config.test_size),
            },
        }
        if with_train_state:
            content["train_state"] = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "ema_updates": self.ema.updates,
                "next_epoch": self.next_epoch,
                "best_ap": self.best_ap,
                "evals_without_gain": self.evals_without_gain,
                "epochs": self.epochs,
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
        return TrainState(model, optimizer, ModelEMA(model), config.epochs)
    last_path = config.output / "last.pt"
    saved = torch.load(last_path, map_location=device, weights_only=True)
    saved_names = tuple(saved["meta"]["class_names"])
    if saved_names != config.class_names:
        raise ConfigError(
            f"cannot resume {last_path}: it was trained on classes {list(saved_names)}, "
            f"the data now has {list(config.class_names)}"
        )
    train_state = saved["train_state"]
    model.load_state_dict(train_state["model"])
    optimizer.load_state_dict(train_state["optimizer"])
    ema = ModelEMA(model, updates=train_state["ema_updates"])
    ema.ema.load_state_dict(saved["model"])
    log(f"resumed from {last_path} at epoch {train_state['next_epoch'] + 1}")
    return TrainState(
        model,
        optimizer,
        ema,
        train_state["epochs"],
        train_state["next_epoch"],
        train_state["best_ap"],
        train_state["evals_without_gain"],
    )


def evaluate(model: YOLOX, val: DetectionDataset, test_size: tuple[int, int]) -> CocoMetrics:
    return evaluate_predictions(val, predict(model, val, test_size))


def planned_epochs(config: TrainConfig, epoch_seconds: float, elapsed: float) -> int:
    """Total epochs that fit ``time_budget_s`` at ``epoch_seconds`` each (at least the tails)."""
    fitting = int((config.time_budget_s - elapsed) / (epoch_seconds * BUDGET_MARGIN))
    return max(config.warmup_epochs + config.no_aug_epochs + 1, 1 + fitting)


class TrainingInterruptedError(Exception):
    """A signal (Ctrl-C, SIGTERM) stopped the run after a step; ``signal_number`` says which."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number


class _StopRequests:
    """SIGINT and SIGTERM ask the run to stop after its current step instead of killing it
    mid-write (main thread only: handlers cannot be set from others)."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal_number = 0
        self._saved: list | None = None

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._saved = [signal.signal(n, self._request) for n in self._SIGNALS]
        return self

    def _request(self, number: int, frame: object) -> None:
        self.signal_number = number

    def __exit__(self, *exc_info: object) -> None:
        if self._saved is not None:
            for number, handler in zip(self._SIGNALS, self._saved, strict=True):
                signal.signal(number, handler)


class Trainer:
    """One run: data, model, schedule and the loop; ``run()`` returns the exported ONNX path.

    Under ``torchrun``, ``world`` places this process among the ranks (see ``distributed``).
    """

    def __init__(
        self, config: TrainConfig, log: Callable[[str], None] = print, world: World = SINGLE
    ) -> None:
        self.config, self.world = config, world
        self.log = log if world.is_main else _silent
        self.stop_requests = _StopRequests()
        # Every rank checks its setup before any leaves files or waits on the others.
        world.agree(self._set_up)
        # Only a run that could start leaves files behind.
        if world.is_main:
            config.output.mkdir(parents=True, exist_ok=True)
            config.save(config.output / "config.yaml")
        self.progress = (
            Progress(config.output, config.class_names, self.log)
            if world.is_main
            else SilentProgress()
        )

    def _set_up(self) -> None:
        config, log = self.config, self.log
        check_output(config)
        torch.manual_seed(config.seed)
        self.device = self.world.check(
            config.batch_size, resolve_device(config.device), config.sync_bn
        )
        if self.device.type == "cpu":
            reuse_freed_memory()
        if config.amp and self.device.type == "cpu" and not cpu_has_native_bfloat16():
            log("--amp: no native bfloat16 on this CPU: the forward pass may be slower than fp32")
        self.splits = load_splits(config)
        config.class_names = self.splits.train.class_names
        self.mirror = mirror_classes(config.flip_pairs, config.class_names)
        self.state = initial_state(config, self.device, log)
        if self.device.type == "cpu" and config.fused_bn_silu:
            try:
                layers = fuse_batchnorm_silu(self.state.model)
                log(f"BatchNorm+SiLU of {layers} layers through the fused kernel")
            except FusedKernelError as exc:
                log(f"BatchNorm+SiLU through PyTorch: the fused kernel is unavailable ({exc})")
        train = self.splits.train
        self.groups = (
            indices_by_group(group_names(train, config.group_pattern))
            if config.one_copy_per_epoch
            else [[index] for index in range(len(train))]
        )

    def run(self) -> Path:
        config, state = self.config, self.state
        train = self.splits.train
        source = CachedSource(train) if config.cache else train
        augment = AugmentConfig.for_model(
            config.model_name, config.flip_prob, self.mirror, config.mosaic_scale
        )
        processes = f" x {self.world.size} processes" if self.world.size > 1 else ""
        self.log(
            f"training {config.model_name} on {self.device}{processes}: {len(train)} images "
            f"({len(self.groups)} per epoch), validating on {len(self.splits.val)}; "
            f"classes {list(config.class_names)}"
        )
        # After the agreed set-up: wrapping is a collective (rank 0's weights go to all).
        self.forward_model = self.world.wrap(state.model, config.sync_bn)
        start_time = time.monotonic()
        stopped = False
        with self.stop_requests:
            while not stopped and state.next_epoch < state.epochs:
                stopped = self._train_until(source, augment, start_time)
        self.progress.close()
        if not self.world.is_main:
            return config.output / "model.onnx"  # rank 0 writes it
        return self._export()

    def _schedule(self, batches_per_epoch: int) -> WarmCosineSchedule:
        config = self.config
        return WarmCosineSchedule.from_epochs(
            config.batch_lr,
            batches_per_epoch,
            self.state.epochs,
            config.warmup_epochs,
            config.no_aug_epochs,
        )

    def _train_until(self, source, augment: AugmentConfig, start_time: float) -> bool:
        """Train from ``next_epoch`` on; returns True on early stop.

        Returns False, with ``state.epochs`` changed, when a time budget re-planned the run
        after its first epoch (the loader is then rebuilt for the new length).
        """
        config, state, world = self.config, self.state, self.world
        batches = EpochBatches(
            self.groups, config.batch_size, config.seed, state.next_epoch, state.epochs
        )
        samples = AugmentedSamples(
            source,
            config.train_size,
            augment,
            config.seed,
            state.epochs - config.no_aug_epochs,
        )
        loader = batch_loader(
            samples, world.share(batches), config.workers, self.device.type == "cuda"
        )
        per_epoch = batches.batches_per_epoch
        schedule = self._schedule(per_epoch)
        progress = self.progress
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16) if config.amp else nullcontext()
        )
        steady_start = time.monotonic()
        size_in_use = 0
        for step, (images, targets) in enumerate(loader):
            epoch, in_epoch = divmod(step, per_epoch)
            epoch += batches.start
            iteration = epoch * per_epoch + in_epoch
            if in_epoch == 0:
                progress.begin_epoch(epoch, state.epochs, per_epoch)
            lr = schedule.lr(iteration)
            for group in state.optimizer.param_groups:
                group["lr"] = lr
            images = model_input(images, self.device)
            targets = targets.to(self.device, non_blocking=True)
            size = multiscale_size(config, iteration)
            if size != size_in_use and self.device.type == "cpu":
                release_freed_memory()  # the last size's blocks fit the new size badly
            size_in_use = size
            images, targets = resize_batch(images, targets, size)
            with autocast:
                outputs = self.forward_model(images)
            strong = epoch < state.epochs - config.no_aug_epochs
            outputs = [output.float() for output in outputs]
            terms = yolox_loss(outputs, targets, state.model.head.strides, not strong)
            loss, terms = world.global_loss(terms)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            state.optimizer.step()
            state.ema.update(state.model)
            progress.step(iteration, images.shape[0] * world.size, size, lr, terms)
            if in_epoch == 0:
                steady_start = time.monotonic()
            if not math.isfinite(progress.last_total):
                raise FloatingPointError(f"loss {progress.last_total} at iteration {iteration}")
            if self.stop_requests.signal_number:
                self._stop(epoch, in_epoch)
            if in_epoch < per_epoch - 1:
                continue
            state.next_epoch = epoch + 1
            # Rank 0 evaluates; every rank follows its decision.
            stop = world.decide(self._end_epoch(epoch) if world.is_main else False)
            if world.is_main:
                save_atomically(state.checkpoint(config, True), config.output / "last.pt")
            if stop:
                return True
            if config.time_budget_s and epoch == batches.start == 0:
                # Timed from the second batch on: the first pays for starting the workers
                # and warming up the device, once per run.
                steady = time.monotonic() - steady_start
                epoch_seconds = steady * per_epoch / max(per_epoch - 1, 1)
                elapsed = time.monotonic() - start_time
                # Ranks time themselves apart: rank 0's plan is the run's.
                epochs = world.decide(planned_epochs(config, epoch_seconds, elapsed))
                if epochs != state.epochs:
                    self.log(
                        f"time budget {config.time_budget_s:.0f} s: {epochs} epochs "
                        f"of {epoch_seconds:.1f} s"
                    )
                    state.epochs = config.epochs = epochs
                    if world.is_main:
                        config.save(config.output / "config.yaml")
                    return False
        return False

    def _stop(self, epoch: int, in_epoch: int) -> None:
        """Leave what the partial run made (last.pt of the last whole epoch, curves) and say so."""
        number = self.stop_requests.signal_number
        self.progress.close()
        if self.world.is_main:
            plot_curves(self.config.output / "metrics.jsonl", self.config.output / "curves.png")
        done = self.state.next_epoch
        kept = f"last.pt holds the end of epoch {done}" if done else "no epoch was completed"
        raise TrainingInterruptedError(
            f"stopped by {signal.Signals(number).name} at epoch {epoch + 1}, step {in_epoch + 1}: "
            f"{kept}; continue with --output {self.config.output} --resume",
            number,
        )

    def _end_epoch(self, epoch: int) -> bool:
        """Evaluate when due, keep the best checkpoint; True when early stopping ends the run."""
        config, state = self.config, self.state
        in_no_aug_tail = epoch >= state.epochs - config.no_aug_epochs
        is_last = epoch == state.epochs - 1
        due = in_no_aug_tail or is_last or (epoch + 1) % config.eval_interval == 0
        metrics = evaluate(state.ema.ema, self.splits.val, config.test_size) if due else None
        self.progress.end_epoch(metrics)
        if metrics is None:
            return False
        if metrics.ap > state.best_ap:
            self.log(f"new best:\n{metrics.table(config.class_names)}")
            state.best_ap, state.evals_without_gain = metrics.ap, 0
            save_atomically(state.checkpoint(config, False), config.output / "best.pt")
            with (config.output / "best_metrics.json").open("w") as out:
                json.dump({"epoch": epoch + 1, **metrics.as_dict(config.class_names)}, out)
            return False
        state.evals_without_gain += 1
        if config.patience and state.evals_without_gain >= config.patience:
            self.log(
                f"early stop after epoch {epoch + 1}: no AP gain in {config.patience} evaluations"
            )
            return True
        return False

    def _export(self) -> Path:
        config, state = self.config, self.state
        best = torch.load(config.output / "best.pt", map_location=self.device, weights_only=True)
        state.ema.ema.load_state_dict(best["model"])
        onnx_path = export_onnx(
            state.ema.ema,
            config.output / "model.onnx",
            class_names=config.class_names,
            input_size=config.test_size,
            model_name=config.model_name,
        )
        self.log(f"exported {onnx_path} (best val AP@[.5:.95] {state.best_ap:.4f})")
        self._report(state.ema.ema)
        return onnx_path

    def _report(self, best: YOLOX) -> None:
        output, val = self.config.output, self.splits.val
        if plot_curves(output / "metrics.jsonl", output / "curves.png"):
            self.log(f"wrote {output / 'curves.png'}")
        else:
            self.log("no curves.png: matplotlib is not installed")
        sample = val.subset(range(min(SHEET_IMAGES, len(val))))
        sample_sheet(
            sample,
            predict(best, sample, self.config.test_size),
            output / "val_samples.jpg",
            SHEET_CONF,
        )
        self.log(f"wrote {output / 'val_samples.jpg'}")


def _silent(line: str) -> None:
    pass


def train(config: TrainConfig, log: Callable[[str], None] = print, world: World = SINGLE) -> Path:
    """Train, evaluate, checkpoint and export ``<output>/model.onnx``; returns that path."""
    return Trainer(config, log, world).run()
