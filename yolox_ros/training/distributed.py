"""Training in several processes, one per GPU, on one machine or several (``torchrun``).

``torchrun`` starts the processes and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). Every process (rank)
trains a DistributedDataParallel copy of the model on its own device
(``cuda:LOCAL_RANK``, or the CPU with the gloo backend) on its share of every
batch: ``EpochBatches`` still draws batches of ``batch_size`` sample keys
(the global batch), and rank ``r`` takes keys ``r * n .. (r + 1) * n - 1``
with ``n = batch_size / world size``. A run therefore sees the same samples
whatever the number of processes, and the learning rate stays tied to the
global batch. The loss is normalised by the foreground count of the whole
batch, so the averaged gradient is the one a single process computes on it.

Rank 0 alone logs, writes ``metrics.jsonl``/TensorBoard, evaluates, saves
checkpoints and exports; the other ranks take its decisions (early stop, the
epochs a time budget allows) by broadcast. Without ``torchrun`` (or with one
process) nothing here changes the single-process run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from yolox_ros.errors import ConfigError, YoloxRosError
from yolox_ros.training.batches import EpochBatches, SampleKey
from yolox_ros.training.loss import LossTerms

# The errors a user causes (bad option, broken dataset): one line, not a traceback.
USER_ERRORS = (YoloxRosError, ValueError, FileNotFoundError)
# The other ranks wait in a broadcast while rank 0 evaluates and writes checkpoints:
# longer than the default would allow on a large validation split.
COLLECTIVE_TIMEOUT = timedelta(hours=1)

T = TypeVar("T")


class PeerError(YoloxRosError):
    """Another rank failed; rank 0 reports the failure, so this rank stays silent."""


class RankBatches:
    """This rank's share of each batch of ``batches``: a contiguous ``1 / size`` of its keys."""

    def __init__(self, batches: EpochBatches, rank: int, size: int) -> None:
        self.batches = batches
        self.share = batches.batch_size // size
        self.first = rank * self.share

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[SampleKey]]:
        for keys in self.batches:
            yield keys[self.first : self.first + self.share]


class SilentProgress:
    """The progress of ranks other than 0: shows and writes nothing.

    It keeps the last loss, the whole batch's, so that every rank stops together
    on a non-finite loss.
    """

    last_total = 0.0

    def begin_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def step(self, iteration: int, images: int, size: int, lr: float, terms: LossTerms) -> None:
        self.last_total = terms.values()["total"]

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process by default)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @classmethod
    def from_environment(cls) -> World:
        """The place ``torchrun`` gives this process; a single process without it."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls()
        return cls(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), size)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def check(self, batch_size: int, device: torch.device, sync_bn: bool) -> torch.device:
        """The device of this rank (``cuda:LOCAL_RANK`` for CUDA) after checking the setup."""
        if not self.distributed:
            return device
        if batch_size % self.size:
            raise ConfigError(
                f"the batch ({batch_size}) is split evenly over the {self.size} processes: "
                f"make it a multiple of {self.size}"
            )
        if sync_bn and device.type != "cuda":
            raise ConfigError("--sync-bn needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only")
        if device.type != "cuda":
            return device
        if device.index is not None:
            raise ConfigError(
                f"under torchrun each process trains on cuda:LOCAL_RANK: pass --device cuda "
                f"(or auto), not {device}"
            )
        if self.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"process {self.local_rank} of this machine has no GPU of its own: it has "
                f"{torch.cuda.device_count()}; start at most that many (--nproc_per_node)"
            )
        device = torch.device("cuda", self.local_rank)
        torch.cuda.set_device(device)  # NCCL works on the current device
        return device

    def agree(self, action: Callable[[], T]) -> T:
        """``action()`` on every rank; when it fails on any rank, the run stops on every rank.

        Rank 0 raises the first failure (its own or another rank's, named), the
        other ranks a ``PeerError``, so a user error gives one line, not one per
        rank. An unexpected exception keeps its traceback on the rank it came from.
        """
        if not self.distributed:
            return action()
        result, failure = None, None
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - reported to the peers, then raised again
            failure = exc
        reports: list[str | None] = [None] * self.size
        dist.all_gather_object(reports, None if failure is None else str(failure))
        failed = [(rank, text) for rank, text in enumerate(reports) if text is not None]
        if not failed:
            return result
        if failure is not None and (self.is_main or not isinstance(failure, USER_ERRORS)):
            raise failure
        rank, text = failed[0]
        if self.is_main:
            raise ConfigError(f"rank {rank}: {text}")
        raise PeerError(f"rank {rank}: {text}")

    def decide(self, value: T) -> T:
        """Rank 0's ``value`` on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def share(self, batches: EpochBatches) -> EpochBatches | RankBatches:
        """The batch sampler of this rank's data loader."""
        return RankBatches(batches, self.rank, self.size) if self.distributed else batches

    def wrap(self, model: nn.Module, sync_bn: bool) -> nn.Module:
        """What runs the forward pass: ``model`` itself, or a DDP around it.

        ``model`` stays the module whose state dict the checkpoints hold (SyncBatchNorm
        has BatchNorm's keys, and the conversion is in place for a YOLOX, whose root is
        no BatchNorm), so they load as single-process ones.
        """
        if not self.distributed:
            return model
        if sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device = next(model.parameters()).device
        return DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )

    def global_loss(self, terms: LossTerms) -> tuple[torch.Tensor, LossTerms]:
        """The loss this rank back-propagates, and the whole batch's terms (for the log).

        ``yolox_loss`` divides this rank's sums by this rank's foreground count; one
        process with the whole batch divides the sums of all ranks by the count of all.
        DDP averages the gradients over the ranks, so each rank back-propagates
        ``size * its sums / total count``: the average is the whole batch's gradient.
        The reference YOLOX leaves each rank's own count (a noisier normalisation).
        """
        if not self.distributed:
            return terms.total, terms
        own_count = max(terms.num_fg, 1)
        parts = torch.stack([terms.total, terms.iou, terms.obj, terms.cls, terms.l1]).detach()
        counts = parts.new_tensor([terms.num_fg, terms.num_gt])
        sums = torch.cat((parts.float() * own_count, counts))
        dist.all_reduce(sums)
        total_count = max(int(sums[5]), 1)
        whole = sums[:5] / total_count
        logged = LossTerms(*whole.unbind(), num_fg=int(sums[5]), num_gt=int(sums[6]))
        return terms.total * (self.size * own_count / total_count), logged


SINGLE = World()


@contextmanager
def session() -> Iterator[World]:
    """This process's ``World``, its process group open while inside (closed on errors too)."""
    world = World.from_environment()
    if not world.distributed:
        yield world
        return
    # Object collectives and CPU runs use gloo; CUDA tensors NCCL where there is CUDA.
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield world
        # Leave together: a rank that closes its connections while another still uses them
        # makes that one abort (gloo). Not after an error: the others may never get here.
        dist.barrier()
    finally:
        dist.destroy_process_group()
