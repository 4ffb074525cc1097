"""The YOLOX training loop and its COCO evaluation.

The official recipe: SGD (``optimizer``) at ``lr = 0.01 / 64 * batch`` (``--lr`` sets the 0.01)
under the ``yoloxwarmcos`` schedule, EMA of the weights, a new input size (of the training
input's aspect) every 10 iterations, and in the last ``no_aug_epochs`` no mosaic/affine/mixup
but the L1 loss. Evaluation and checkpoints (``checkpoints``) use the EMA weights; the best
checkpoint is the one with the best COCO AP@[.5:.95] on the validation split. A
``--time-budget`` run is planned on its first epoch (``time_budget``): the trainer measures
that epoch and follows the plan.

The official code: the loop in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/core/trainer.py
the recipe's settings (learning rate per 64 images, multiscale sizes) in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/exp/yolox_base.py
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext, suppress
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from yolox_ros.core.settings import CONF_THRESHOLD
from yolox_ros.datasets import DetectionDataset, group_names
from yolox_ros.datasets.metrics import (
    CocoMetrics,
    confusion_matrix,
    evaluate_predictions,
    precision_recall_curves,
)
from yolox_ros.model import YOLOX
from yolox_ros.model.export import export_onnx
from yolox_ros.training.allocator import release_freed_memory, reuse_freed_memory
from yolox_ros.training.augment import AugmentConfig
from yolox_ros.training.batches import (
    AugmentedSamples,
    CachedSource,
    EpochBatches,
    batch_loader,
    indices_by_group,
    model_input,
    one_line_worker_errors,
)
from yolox_ros.training.checkpoints import check_output, initial_state, save_atomically
from yolox_ros.training.config import TrainConfig, mirror_classes
from yolox_ros.training.devices import cpu_has_native_bfloat16, resolve_device
from yolox_ros.training.distributed import SINGLE, PeerError, SilentProgress, World
from yolox_ros.training.evaluate import predict
from yolox_ros.training.kernels.build import KernelBuildError
from yolox_ros.training.kernels.fused_bn_silu import fuse_batchnorm_silu
from yolox_ros.training.loss import yolox_loss
from yolox_ros.training.progress import Progress
from yolox_ros.training.report import (
    plot_confusion_matrix,
    plot_curves,
    plot_pr_curves,
    sample_sheet,
    train_batch_sheet,
)
from yolox_ros.training.schedule import WarmCosineSchedule
from yolox_ros.training.splits import load_splits
from yolox_ros.training.time_budget import (
    BudgetPlan,
    EpochCosts,
    TimeBudgetError,
    describe_plan,
    evaluation_due,
    first_epoch_refusal,
    plan_time_budget,
)

MULTISCALE_INTERVAL = 10  # iterations between input-size changes
SHEET_IMAGES = 16
SHEET_CONF = CONF_THRESHOLD.default  # show what the node would publish


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


def evaluate(model: YOLOX, val: DetectionDataset, config: TrainConfig) -> CocoMetrics:
    """COCO metrics of ``model`` on ``val`` at the run's test size and its recipe's settings."""
    return evaluate_predictions(
        val, predict(model, val, config.test_size, config.recipe.evaluation)
    )


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
        self.start_time = time.monotonic()  # a time budget counts from the set-up on
        self.config, self.world = config, world
        self.log = log if world.is_main else _silent
        self.stop_requests = _StopRequests()
        # The plan a time budget made in this process (None until then, and on --resume).
        self.budget: tuple[BudgetPlan, EpochCosts] | None = None
        self._output_existed = config.output.exists()
        # Every rank checks its setup before any leaves files or waits on the others.
        world.agree(self._set_up)
        # Only a run that could start leaves files behind.
        if world.is_main:
            config.output.mkdir(parents=True, exist_ok=True)
            config.save(config.output / "config.yaml", self.state.plan)
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
        self.mirror = mirror_classes(
            config.flip_pairs, config.class_names, config.asymmetric_classes
        )
        self.state = initial_state(config, self.device, log)
        if self.device.type == "cpu" and config.fused_bn_silu:
            try:
                layers = fuse_batchnorm_silu(self.state.model)
                log(f"BatchNorm+SiLU of {layers} layers through the fused kernel")
            except KernelBuildError as exc:
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
        augment = config.recipe.augment(
            config.flip_prob, self.mirror, config.mosaic_scale, config.antialias
        )
        processes = f" x {self.world.size} processes" if self.world.size > 1 else ""
        self.log(
            f"training {config.model_name} on {self.device}{processes}: {len(train)} images "
            f"({len(self.groups)} per epoch), validating on {len(self.splits.val)}; "
            f"classes {list(config.class_names)}"
        )
        # After the agreed set-up: wrapping is a collective (rank 0's weights go to all).
        self.forward_model = self.world.wrap(state.model, config.sync_bn)
        stopped = False
        with self.stop_requests:
            while not stopped and state.next_epoch < state.plan.epochs:
                stopped = self._train_until(source, augment)
        self.progress.close()
        if not self.world.is_main:
            return config.output / "model.onnx"  # rank 0 writes it
        return self._export()

    def _schedule(self, batches_per_epoch: int) -> WarmCosineSchedule:
        plan = self.state.plan
        return WarmCosineSchedule.from_epochs(
            self.config.batch_lr,
            batches_per_epoch,
            plan.epochs,
            plan.warmup_epochs,
            plan.no_aug_epochs,
        )

    def _train_until(self, source, augment: AugmentConfig) -> bool:
        """Train from ``next_epoch`` on; returns True on early stop.

        Returns False, with ``state.plan`` changed, when a time budget re-planned the run
        after its first epoch (the loader is then rebuilt for the new length).
        """
        config, state, world = self.config, self.state, self.world
        plan = state.plan
        loader_start = time.monotonic()
        batches = EpochBatches(
            self.groups, config.batch_size, config.seed, state.next_epoch, plan.epochs
        )
        samples = AugmentedSamples(
            source,
            config.train_size,
            augment,
            config.seed,
            plan.epochs - plan.no_aug_epochs,
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
        # A fresh run under a time budget measures its first epoch, then plans the others.
        measuring = bool(config.time_budget_s) and batches.start == 0
        steady_start = first_step_s = time.monotonic()
        size_in_use = 0
        for step, (images, targets) in enumerate(one_line_worker_errors(loader)):
            epoch, in_epoch = divmod(step, per_epoch)
            epoch += batches.start
            iteration = epoch * per_epoch + in_epoch
            if in_epoch == 0:
                progress.begin_epoch(epoch, plan.epochs, per_epoch)
            if step == 0 and epoch == 0 and world.is_main:
                # The loader's first batch as it comes (uint8 BGR), before any resize.
                path = config.output / "train_batches.jpg"
                train_batch_sheet(images, targets, config.class_names, path)
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
            strong = epoch < plan.epochs - plan.no_aug_epochs
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
                if step == 0:
                    first_step_s = steady_start - loader_start
            if not math.isfinite(progress.last_total):
                raise FloatingPointError(f"loss {progress.last_total} at iteration {iteration}")
            if self.stop_requests.signal_number:
                self._stop(epoch, in_epoch)
            if measuring and epoch == 0 and not world.distributed:
                # Ranks time themselves apart: under torchrun only the epoch's end decides.
                self._check_budget_left(in_epoch, per_epoch, steady_start, first_step_s)
            if in_epoch < per_epoch - 1:
                continue
            state.next_epoch = epoch + 1
            trained = time.monotonic()
            # Rank 0 evaluates; every rank follows its decision.
            stop = self._end_epoch(epoch) if world.is_main else False
            evaluated = time.monotonic()
            stop = world.decide(stop or (world.is_main and self._budget_spent(epoch)))
            if world.is_main:
                save_atomically(state.checkpoint(config, True), config.output / "last.pt")
            saved = time.monotonic()
            if stop:
                return True
            if measuring and epoch == 0 and state.next_epoch < plan.epochs:
                # Timed from the second batch on: the first pays for starting the workers
                # and warming up the device, once per run.
                if per_epoch > 1:
                    training = (trained - steady_start) * per_epoch / (per_epoch - 1)
                else:
                    training = trained - loader_start
                checkpoint = saved - evaluated
                costs = EpochCosts(
                    elapsed=saved - self.start_time,
                    epoch=training + checkpoint,
                    evaluation=evaluated - trained,
                    restart=max(first_step_s - training / per_epoch, 0.0) + checkpoint,
                )
                if self._follow_budget(costs):
                    return False
        return False

    def _check_budget_left(
        self, in_epoch: int, per_epoch: int, steady_start: float, first_step_s: float
    ) -> None:
        """Refuse the run as soon as the budget is spent within the first epoch."""
        config = self.config
        now = time.monotonic()
        elapsed = now - self.start_time
        if elapsed <= config.time_budget_s:
            return
        per_step = (now - steady_start) / in_epoch if in_epoch else first_step_s
        refusal = first_epoch_refusal(config, elapsed, in_epoch, per_epoch, per_step)
        self._discard_run()
        raise refusal

    def _follow_budget(self, costs: EpochCosts) -> bool:
        """Plan the run on the first epoch's ``costs`` (rank 0's plan is every rank's), or
        refuse it; True when the epochs changed (the loader is then rebuilt)."""
        config, state, world = self.config, self.state, self.world
        outcome: BudgetPlan | str | None = None
        if world.is_main:
            try:
                outcome = plan_time_budget(config, costs)
            except TimeBudgetError as exc:
                outcome = str(exc)
        outcome = world.decide(outcome)
        if isinstance(outcome, str):
            self._discard_run()
            raise TimeBudgetError(outcome) if world.is_main else PeerError(outcome)
        self.log(describe_plan(config, outcome, costs))
        self.budget = outcome, costs
        if outcome.epochs == state.plan.epochs:
            return False
        state.plan = outcome
        if world.is_main:
            config.save(config.output / "config.yaml", state.plan)
            # last.pt carries the plan, so that --resume keeps it.
            save_atomically(state.checkpoint(config, True), config.output / "last.pt")
        return True

    def _budget_spent(self, epoch: int) -> bool:
        """After a planned epoch: True (stop, then export) when the budget, less the export,
        is spent before the last epoch, so that the run overruns it by one epoch at most."""
        if self.budget is None or epoch >= self.state.plan.epochs - 1:
            return False
        elapsed = time.monotonic() - self.start_time
        _, costs = self.budget
        if elapsed + costs.finish <= self.config.time_budget_s:
            return False
        self.log(
            f"time budget {self.config.time_budget_s:g} s: stopping after epoch {epoch + 1} "
            f"of {self.state.plan.epochs}: at {elapsed:.0f} s the budget, less the export, is "
            "spent (the epochs ran slower than the first)"
        )
        return True

    def _discard_run(self) -> None:
        """What a refused run wrote goes: its only epoch was the measurement."""
        self.progress.close()
        if not self.world.is_main:
            return
        output = self.config.output
        written = ("last.pt", "best.pt", "best_metrics.json", "metrics.jsonl", "config.yaml")
        for name in (*written, "train_batches.jpg"):
            (output / name).unlink(missing_ok=True)
            (output / f"{name}.partial").unlink(missing_ok=True)
        shutil.rmtree(output / "tensorboard", ignore_errors=True)
        if not self._output_existed:
            with suppress(OSError):
                output.rmdir()

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
        due = evaluation_due(
            epoch, state.plan.epochs, state.plan.no_aug_epochs, config.eval_interval
        )
        # A time budget plans on the first epoch's costs, an evaluation's among them.
        due = due or (bool(config.time_budget_s) and epoch == 0)
        metrics = evaluate(state.ema.ema, self.splits.val, config) if due else None
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
        output, val, names = self.config.output, self.splits.val, self.config.class_names
        # One pass of the best model over the validation split (one evaluation's cost)
        # feeds the confusion matrix, the PR curves and the sample sheet.
        predictions = predict(best, val, self.config.test_size, self.config.recipe.evaluation)
        if plot_curves(output / "metrics.jsonl", output / "curves.png"):
            self.log(f"wrote {output / 'curves.png'}")
            matrix = confusion_matrix(predictions, val, SHEET_CONF)
            plot_confusion_matrix(matrix, names, output / "confusion_matrix.png", SHEET_CONF)
            self.log(
                f"wrote {output / 'confusion_matrix.png'} (best model, score >= {SHEET_CONF:g}, "
                "IoU 0.5)"
            )
            curves = precision_recall_curves(predictions, val)
            plot_pr_curves(curves, names, output / "pr_curves.png")
            self.log(f"wrote {output / 'pr_curves.png'} (best model, AP@.5 {curves.ap50:.4f})")
        else:
            self.log(
                "no curves.png, confusion_matrix.png, pr_curves.png: matplotlib is not installed"
            )
        shown = min(SHEET_IMAGES, len(val))
        sample_sheet(
            val.subset(range(shown)), predictions[:shown], output / "val_samples.jpg", SHEET_CONF
        )
        self.log(
            f"wrote {output / 'val_samples.jpg'} (left: ground truth, right: detections at "
            f"score >= {SHEET_CONF:g})"
        )
        batches = output / "train_batches.jpg"
        if batches.is_file():
            self.log(f"first augmented training batch: {batches}")


def _silent(line: str) -> None:
    pass


def train(config: TrainConfig, log: Callable[[str], None] = print, world: World = SINGLE) -> Path:
    """Train, evaluate, checkpoint and export ``<output>/model.onnx``; returns that path."""
    return Trainer(config, log, world).run()
