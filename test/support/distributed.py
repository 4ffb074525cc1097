"""One rank of a multi-process training step, started by ``torch.multiprocessing.spawn``.

It lives here, not in a test module, because spawned processes import it by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from yolox_ros.datasets import open_dataset
from yolox_ros.model import build_model
from yolox_ros.training.batches import (
    AugmentedSamples,
    EpochBatches,
    batch_loader,
    model_input,
)
from yolox_ros.training.distributed import SINGLE, World
from yolox_ros.training.loss import yolox_loss
from yolox_ros.training.recipes import recipe_for

BATCH = 4


def first_step(rank: int, size: int, init_file: str, scenes: str, output: str) -> None:
    """The first step of a run on ``scenes`` as rank ``rank`` of ``size``.

    Rank 0 saves the whole batch's loss and the gradients to ``output/<size>.pt``. BatchNorm
    keeps fixed statistics: per-rank batch statistics differ from the whole batch's (sharing
    them takes SyncBatchNorm, which needs CUDA), and the check is about the loss
    normalisation and the gradient averaging. Then every rank reports what ``agree`` raises
    when rank 1 alone fails, to ``output/agree-<rank>.json``.
    """
    torch.set_num_threads(1)
    world = World(rank, rank, size) if size > 1 else SINGLE
    if world.distributed:
        dist.init_process_group(
            "gloo", init_method=f"file://{init_file}", rank=rank, world_size=size
        )
    try:
        dataset = open_dataset(scenes)
        augment = recipe_for("nano").augment(flip_prob=0.5)
        samples = AugmentedSamples(dataset, (64, 64), augment, seed=0, strong_until=1)
        batches = EpochBatches([[i] for i in range(len(dataset))], BATCH, seed=0, start=0, end=1)
        images, targets = next(iter(batch_loader(samples, world.share(batches), 0, False)))
        torch.manual_seed(0)
        model = build_model("nano", len(dataset.class_names)).train()
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        replica = world.wrap(model, sync_bn=False)  # kept: its gradient hooks live with it
        outputs = replica(model_input(images, torch.device("cpu")))
        loss, whole = world.global_loss(yolox_loss(outputs, targets, model.head.strides, True))
        loss.backward()
        if world.is_main:
            grads = {name: parameter.grad for name, parameter in model.named_parameters()}
            content = {"loss": whole.values(), "num_fg": whole.num_fg, "grads": grads}
            torch.save(content, Path(output) / f"{size}.pt")
        if world.distributed:
            _report_agreement(world, Path(output))
            dist.barrier()  # leave together (see training.distributed.session)
    finally:
        if world.distributed:
            dist.destroy_process_group()


def _fail_on_rank_1(rank: int) -> None:
    if rank == 1:
        raise FileNotFoundError("data/missing.json")


def _report_agreement(world: World, output: Path) -> None:
    try:
        world.agree(lambda: _fail_on_rank_1(world.rank))
        outcome = {"raised": None}
    except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
        outcome = {"raised": type(exc).__name__, "message": str(exc)}
    (output / f"agree-{world.rank}.json").write_text(json.dumps(outcome))
