"""Training batches: augmented samples built in ``DataLoader`` worker processes.

Every sample is keyed by ``(epoch, position, image index)`` and draws its
randomness from ``(seed, epoch, position)`` alone, so a run gives the same
batches whatever the number of workers and after a resume.

A source is anything with ``class_names``, ``len()`` and ``load(i) -> (bgr
uint8 image, labels (N, 5) float32 x1, y1, x2, y2, class_id)``: the readers of
``yolox_ros.datasets`` return such datasets.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from yolox_ros.datasets.records import DatasetError
from yolox_ros.training.augment import AugmentConfig, train_sample

MAX_LABELS = 120  # per image, as the reference

SampleKey = tuple[int, int, int]  # epoch, position in the epoch, image index


class ImageSource(Protocol):
    class_names: tuple[str, ...]

    def __len__(self) -> int: ...

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]: ...


class CachedSource:
    """Decodes every image of ``source`` once and keeps it in memory (read-only arrays).

    Built before the loader's workers start, so they share the pages instead of
    each holding a copy.
    """

    def __init__(self, source: ImageSource) -> None:
        self.class_names = source.class_names
        self._items = [source.load(index) for index in range(len(source))]
        for image, labels in self._items:
            image.flags.writeable = False
            labels.flags.writeable = False

    def __len__(self) -> int:
        return len(self._items)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self._items[index]


def labels_to_targets(labels: np.ndarray, max_labels: int = MAX_LABELS) -> np.ndarray:
    """(N, 5) x1y1x2y2+class to the loss's padded (max_labels, 5) rows ``class, cx, cy, w, h``."""
    targets = np.zeros((max_labels, 5), np.float32)
    labels = labels[:max_labels]
    targets[: len(labels), 0] = labels[:, 4]
    targets[: len(labels), 1:3] = (labels[:, 0:2] + labels[:, 2:4]) / 2
    targets[: len(labels), 3:5] = labels[:, 2:4] - labels[:, 0:2]
    return targets


class AugmentedSamples(Dataset):
    """Sample ``(epoch, position, index)``: image ``index`` augmented, as CHW uint8 + targets.

    The image is a CHW view of the augmentations' HWC array (channels_last strides),
    as ``collate_channels_last`` stacks it. It stays uint8, as the augmentations
    leave it, until ``model_input``: a quarter of the bytes of float32 to pass from
    the workers and to copy to a GPU.

    Epochs before ``strong_until`` use mosaic/affine/mixup; later ones only HSV,
    flip and letterbox (the reference's no-augmentation tail).
    """

    def __init__(
        self,
        source: ImageSource,
        input_hw: tuple[int, int],
        config: AugmentConfig,
        seed: int,
        strong_until: int,
    ) -> None:
        self.source, self.input_hw, self.config = source, input_hw, config
        self.seed, self.strong_until = seed, strong_until

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, position, index = key
        rng = np.random.default_rng([self.seed, epoch, position, 2])
        image, labels = train_sample(
            self.source.load,
            index,
            self.input_hw,
            self.config,
            rng,
            len(self.source),
            epoch < self.strong_until,
        )
        chw = torch.from_numpy(image).permute(2, 0, 1)
        return chw, torch.from_numpy(labels_to_targets(labels))


def collate_channels_last(
    samples: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack samples into a channels_last ``[B, 3, H, W]`` batch and ``[B, MAX_LABELS, 5]``.

    oneDNN trains faster on channels_last than on NCHW on CPU (docs/training.md), so
    batches are born in that layout: the HWC
    images are stacked as they are (``default_collate`` writes straight into shared
    memory in a worker) and the result is only viewed as NCHW.
    """
    images = default_collate([image.permute(1, 2, 0) for image, _ in samples])
    targets = default_collate([targets for _, targets in samples])
    return images.permute(0, 3, 1, 2), targets


class EpochBatches:
    """Batches of sample keys for epochs ``start..end - 1`` (the last partial batch dropped).

    ``groups`` lists the image indices of each group (copies of one frame):
    an epoch takes one member of every group, drawn anew each epoch, so
    augmented copies add variety without multiplying the epoch's length.
    """

    def __init__(
        self, groups: Sequence[Sequence[int]], batch_size: int, seed: int, start: int, end: int
    ) -> None:
        self.groups = [np.asarray(group, np.int64) for group in groups]
        self.batch_size, self.seed, self.start, self.end = batch_size, seed, start, end

    @property
    def batches_per_epoch(self) -> int:
        return len(self.groups) // self.batch_size

    def epoch_images(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch, 1])
        members = np.array([group[rng.integers(len(group))] for group in self.groups])
        return members[rng.permutation(len(members))]

    def __len__(self) -> int:
        return (self.end - self.start) * self.batches_per_epoch

    def __iter__(self) -> Iterator[list[SampleKey]]:
        size = self.batch_size
        for epoch in range(self.start, self.end):
            images = self.epoch_images(epoch)
            for first in range(0, self.batches_per_epoch * size, size):
                yield [
                    (epoch, position, int(images[position]))
                    for position in range(first, first + size)
                ]


def memory_format_for(device: torch.device) -> torch.memory_format:
    """The layout of the model and its input batches on ``device``.

    channels_last on CPU, where oneDNN trains nano faster on it than on NCHW
    (docs/training.md); NCHW elsewhere, where nothing measured says
    otherwise. The loader's batches are channels_last already (``collate_channels_last``).
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def model_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A loader's uint8 batch as the model's float32 input on ``device``, in its layout.

    Copied as it comes (from pinned memory when the loader pins), converted there.
    """
    images = images.to(device, non_blocking=True).float()
    return images.contiguous(memory_format=memory_format_for(device))


def indices_by_group(names: Sequence[str]) -> list[list[int]]:
    """Image indices grouped by their group name, groups in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(name, []).append(index)
    return list(groups.values())


T = TypeVar("T")


def _init_worker(worker_id: int) -> None:
    # Samples carry their own random generators, so workers need no seeding; one OpenCV
    # thread each keeps the workers from fighting over the cores.
    cv2.setNumThreads(1)
    # Ctrl-C (and a SIGTERM to the group) reaches every process: the training process stops
    # the run after its step and ends the workers; a worker killed first would turn that into
    # a DataLoader traceback. A worker whose parent died still exits (PyTorch watches it).
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def batch_loader(
    samples: AugmentedSamples, batches: EpochBatches, workers: int, pin_memory: bool
) -> DataLoader:
    """Batches ``[B, 3, H, W]`` uint8 BGR (channels_last) and ``[B, MAX_LABELS, 5]``.

    With workers, they stay alive across epochs and work ahead of the training step.
    """
    if workers:
        # OpenCV's thread pool does not survive fork: a worker forked from a process whose
        # pool has run deadlocks in its first OpenCV call. One thread here has no pool.
        cv2.setNumThreads(1)
    return DataLoader(
        samples,
        batch_sampler=batches,
        collate_fn=collate_channels_last,
        num_workers=workers,
        pin_memory=pin_memory,
        worker_init_fn=_init_worker if workers else None,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
    )


# How PyTorch re-raises a worker's exception: "Caught TYPE in DataLoader worker process N.",
# then the worker's whole traceback.
_WORKER_FAILURE = "Caught "
_TRACEBACK = "Original Traceback"


def one_line_worker_errors(loader: Iterable[T]) -> Iterator[T]:
    """``loader``'s batches; a loading worker's exception becomes one line.

    PyTorch re-raises it in the training process as its type with the worker's
    traceback as the message (tens of lines naming no file of the user's). What
    the worker raised is the traceback's last line: a DatasetError's message names
    the file and the entry; anything else keeps its type.
    """
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - only a worker's, re-raised as one line
            message = str(exc)
            if not (message.startswith(_WORKER_FAILURE) and _TRACEBACK in message):
                raise
            last = next(line for line in reversed(message.splitlines()) if line.strip())
            kind, _, text = last.partition(": ")
            if kind.rpartition(".")[2] == DatasetError.__name__:
                raise DatasetError(text) from None
            raise DatasetError(f"a data-loading worker failed: {last.strip()}") from None
        yield batch
