"""The YOLOX training loop (reference section 6), checkpoints and evaluation on a held-out set.

SGD (momentum 0.9, Nesterov), weight decay on conv/linear weights only,
``lr = 0.01 / 64 * batch`` under the ``yoloxwarmcos`` schedule, EMA of the
weights, a new square input size every 10 iterations, and in the last
``no_aug_epochs`` no mosaic/affine/mixup but the L1 loss. Evaluation and
checkpoints use the EMA weights.

Checkpoints (``last.pt`` every epoch, ``best.pt`` at the best mAP@0.5:0.95)::

    {"model": EMA state dict, "meta": {"model_name", "class_names", "input_size"},
     "train_state": {"model", "optimizer", "ema_updates", "next_epoch", "best_map"}}
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from yolox_ros.model import YOLOX, build_model, canonical_name, standard_input_size
from yolox_ros.model.export import export_onnx
from yolox_ros.training.augment import AugmentConfig
from yolox_ros.training.batches import GeneratedScenes, SceneDirectory, SceneSource, TrainBatches
from yolox_ros.training.ema import ModelEMA
from yolox_ros.training.evaluate import ImageResult, MeanAP, mean_average_precision, predict
from yolox_ros.training.loss import yolox_loss
from yolox_ros.training.schedule import WarmCosineSchedule

LR_PER_IMAGE = 0.01 / 64
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
MULTISCALE_INTERVAL = 10  # iterations between input-size changes
VAL_SEED_OFFSET = 1_000_003  # the synthetic validation scenes never equal training scenes


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as ``config.json`` in the output directory."""

    output: Path
    model_name: str = "nano"
    data: str = "synthetic"  # a dataset directory or "synthetic" (rendered on the fly)
    val: str = "synthetic"
    epochs: int = 300
    batch_size: int = 64
    train_size: int | None = None  # square training size; default the model's standard size
    test_size: int | None = None  # evaluation / export size; default the model's standard size
    # min, max training size (multiples of 32); None: the official range
    multiscale: tuple[int, int] | None = None
    warmup_epochs: int = 5
    no_aug_epochs: int = 15
    flip_prob: float = 0.5
    synthetic_train_count: int = 10000
    synthetic_val_count: int = 200
    seed: int = 0
    eval_interval: int = 10
    log_interval: int = 20
    resume: bool = False
    class_names: tuple[str, ...] = field(default_factory=tuple)  # filled from the data

    def __post_init__(self) -> None:
        self.model_name = canonical_name(self.model_name)
        standard = standard_input_size(self.model_name)[0]
        self.train_size = self.train_size or standard
        self.test_size = self.test_size or standard
        if self.multiscale is None:
            # Official: nano/tiny draw 320..640; larger models input +- 160.
            low, high = (
                (320, 640)
                if self.model_name in ("nano", "tiny")
                else (self.train_size - 160, self.train_size + 160)
            )
            self.multiscale = (low, high)
        sizes = (self.train_size, self.test_size, *self.multiscale)
        if any(s <= 0 or s % 32 for s in sizes) or self.multiscale[0] > self.multiscale[1]:
            raise ValueError(
                f"sizes must be positive multiples of 32 and multiscale min <= max, got {sizes}"
            )
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(
                f"batch size and epochs must be >= 1, got {self.batch_size}, {self.epochs}"
            )
        if self.warmup_epochs < 0 or self.no_aug_epochs < 0 or self.eval_interval < 1:
            raise ValueError(
                f"warmup_epochs and no_aug_epochs must be >= 0 and eval_interval >= 1, got "
                f"{self.warmup_epochs}, {self.no_aug_epochs}, {self.eval_interval}"
            )
        if not self.warmup_epochs + self.no_aug_epochs < self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) + no_aug_epochs ({self.no_aug_epochs}) "
                f"must be fewer than epochs ({self.epochs}); "
                "for short runs set --warmup-epochs and --no-aug-epochs"
            )


def open_source(spec: str, count: int, seed: int) -> SceneSource:
    return GeneratedScenes(count, seed) if spec == "synthetic" else SceneDirectory(spec)


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


def multiscale_size(config: TrainConfig, iteration: int) -> int:
    """The input size in force at ``iteration``: 32 * randint, redrawn every 10 iterations."""
    low, high = config.multiscale[0] // 32, config.multiscale[1] // 32
    block = iteration // MULTISCALE_INTERVAL
    return 32 * int(np.random.default_rng([config.seed, block, 3]).integers(low, high + 1))


def resize_batch(
    images: torch.Tensor, targets: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear resize of a batch to ``size`` x ``size``, targets scaled alike."""
    height, width = images.shape[2:]
    if (height, width) == (size, size):
        return images, targets
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    targets = targets.clone()
    targets[..., 1::2] *= size / width
    targets[..., 2::2] *= size / height
    return images, targets


def load_val_set(config: TrainConfig) -> tuple[list[np.ndarray], list[ImageResult]]:
    source = open_source(config.val, config.synthetic_val_count, config.seed + VAL_SEED_OFFSET)
    images, truths = [], []
    for index in range(len(source)):
        image, labels = source.load(index)
        images.append(image)
        truths.append(ImageResult(labels[:, :4], labels[:, 4].astype(np.int64)))
    # Without ground truth the mAP is NaN, no epoch is ever best and the export has no best.pt.
    if not any(len(truth.boxes) for truth in truths):
        raise ValueError(f"validation set {config.val!r} has no labelled boxes")
    return images, truths


def evaluate_model(
    model: YOLOX, images: list[np.ndarray], truths: list[ImageResult], test_size: int
) -> MeanAP:
    predictions = predict(model, images, (test_size, test_size))
    return mean_average_precision(predictions, truths, model.head.num_classes)


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
    next_epoch: int = 0
    best_map: float = -1.0

    def checkpoint(self, config: TrainConfig, with_train_state: bool) -> dict:
        content = {
            "model": self.ema.ema.state_dict(),
            "meta": {
                "model_name": config.model_name,
                "class_names": list(config.class_names),
                "input_size": [config.test_size, config.test_size],
            },
        }
        if with_train_state:
            content["train_state"] = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "ema_updates": self.ema.updates,
                "next_epoch": self.next_epoch,
                "best_map": self.best_map,
            }
        return content


def initial_state(config: TrainConfig, log: Callable[[str], None]) -> TrainState:
    """A fresh model, or the state saved in ``last.pt`` when resuming."""
    model = build_model(config.model_name, len(config.class_names))
    model.train()
    optimizer = optimizer_for(model, LR_PER_IMAGE * config.batch_size)
    if not config.resume:
        return TrainState(model, optimizer, ModelEMA(model))
    last_path = config.output / "last.pt"
    if not last_path.is_file():
        raise FileNotFoundError(f"cannot resume: {last_path} does not exist")
    saved = torch.load(last_path, map_location="cpu", weights_only=True)
    train_state = saved["train_state"]
    model.load_state_dict(train_state["model"])
    optimizer.load_state_dict(train_state["optimizer"])
    ema = ModelEMA(model, updates=train_state["ema_updates"])
    ema.ema.load_state_dict(saved["model"])
    log(f"resumed from {last_path} at epoch {train_state['next_epoch'] + 1}")
    return TrainState(model, optimizer, ema, train_state["next_epoch"], train_state["best_map"])


def train_epoch(
    config: TrainConfig,
    state: TrainState,
    batches: TrainBatches,
    schedule: WarmCosineSchedule,
    epoch: int,
    log: Callable[[str], None],
) -> None:
    strong = epoch < config.epochs - config.no_aug_epochs
    iters_per_epoch = len(batches.source) // config.batch_size
    order = batches.epoch_order(epoch)
    start = time.time()
    for step in range(iters_per_epoch):
        iteration = epoch * iters_per_epoch + step
        lr = schedule.lr(iteration)
        for group in state.optimizer.param_groups:
            group["lr"] = lr
        indices = order[step * config.batch_size : (step + 1) * config.batch_size]
        images, targets = batches.batch(indices, iteration, strong)
        images, targets = resize_batch(images, targets, multiscale_size(config, iteration))
        terms = yolox_loss(state.model(images), targets, state.model.head.strides, not strong)
        values = terms.values()
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"loss became {values['total']} at iteration {iteration}")
        state.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        state.optimizer.step()
        state.ema.update(state.model)
        if step % config.log_interval == 0 or step == iters_per_epoch - 1:
            log(
                f"epoch {epoch + 1}/{config.epochs} iter {step + 1}/{iters_per_epoch} "
                f"size {images.shape[2]} lr {lr:.5f} loss {values['total']:.3f} "
                f"(iou {values['iou']:.3f} obj {values['obj']:.3f} cls {values['cls']:.3f} "
                f"l1 {values['l1']:.3f}) fg/gt {terms.num_fg / max(terms.num_gt, 1):.1f} "
                f"{(time.time() - start) / (step + 1):.2f} s/iter"
            )


def train(config: TrainConfig, log: Callable[[str], None] = print) -> Path:
    """Train, evaluate, checkpoint and export ``<output>/model.onnx``; returns that path."""
    config.output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    source = open_source(config.data, config.synthetic_train_count, config.seed)
    if len(source) < config.batch_size:
        raise ValueError(
            f"{len(source)} training images are fewer than a batch ({config.batch_size})"
        )
    config.class_names = tuple(source.class_names)
    (config.output / "config.json").write_text(
        json.dumps(asdict(config), default=str, indent=2) + "\n"
    )
    state = initial_state(config, log)
    iters_per_epoch = len(source) // config.batch_size
    schedule = WarmCosineSchedule.from_epochs(
        LR_PER_IMAGE * config.batch_size,
        iters_per_epoch,
        config.epochs,
        config.warmup_epochs,
        config.no_aug_epochs,
    )
    augment = AugmentConfig.for_model(config.model_name, flip_prob=config.flip_prob)
    batches = TrainBatches(source, (config.train_size, config.train_size), augment, config.seed)
    val_images, val_truths = load_val_set(config)
    log(
        f"training {config.model_name} on {len(source)} images ({config.data}), "
        f"{iters_per_epoch} iterations of {config.batch_size} per epoch, {config.epochs} epochs, "
        f"validating on {len(val_images)} images"
    )
    best_path = config.output / "best.pt"
    for epoch in range(state.next_epoch, config.epochs):
        train_epoch(config, state, batches, schedule, epoch, log)
        state.next_epoch = epoch + 1
        # As the reference: evaluate every epoch once the augmentation is off.
        in_no_aug_tail = epoch >= config.epochs - config.no_aug_epochs
        is_last = epoch == config.epochs - 1
        if in_no_aug_tail or is_last or (epoch + 1) % config.eval_interval == 0:
            result = evaluate_model(state.ema.ema, val_images, val_truths, config.test_size)
            log(
                f"epoch {epoch + 1}: val mAP@0.5 {result.map50:.4f} "
                f"mAP@0.5:0.95 {result.map50_95:.4f}"
            )
            with (config.output / "metrics.jsonl").open("a") as metrics:
                metrics.write(json.dumps({"epoch": epoch + 1, **asdict(result)}) + "\n")
            if result.map50_95 > state.best_map:
                state.best_map = result.map50_95
                save_atomically(state.checkpoint(config, with_train_state=False), best_path)
        save_atomically(state.checkpoint(config, with_train_state=True), config.output / "last.pt")

    best = torch.load(best_path, map_location="cpu", weights_only=True)
    state.ema.ema.load_state_dict(best["model"])
    onnx_path = export_onnx(
        state.ema.ema,
        config.output / "model.onnx",
        class_names=config.class_names,
        input_size=(config.test_size, config.test_size),
        model_name=config.model_name,
    )
    log(f"exported {onnx_path} (best val mAP@0.5:0.95 {state.best_map:.4f})")
    return onnx_path
