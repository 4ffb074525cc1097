"""Samples and batches: keyed by position, any number of workers, one copy per epoch, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch._utils import ExceptionWrapper

from yolox_ros.datasets import open_dataset
from yolox_ros.datasets.records import DatasetError
from yolox_ros.training.batches import (
    AugmentedSamples,
    CachedSource,
    EpochBatches,
    batch_loader,
    indices_by_group,
    model_input,
    one_line_worker_errors,
)
from yolox_ros.training.recipes import recipe_for


def _samples(dataset, seed=0) -> AugmentedSamples:
    config = recipe_for("nano").augment(flip_prob=0.5)
    return AugmentedSamples(dataset, (64, 64), config, seed, strong_until=10)


def test_a_sample_depends_on_its_key_only_not_on_workers(scenes: Path):
    dataset = open_dataset(scenes)
    samples = _samples(dataset)
    batches = EpochBatches([[i] for i in range(len(dataset))], 4, seed=3, start=0, end=2)
    in_process = [
        (images.clone(), targets.clone())
        for images, targets in batch_loader(samples, batches, 0, False)
    ]
    with_workers = list(batch_loader(samples, batches, 2, False))
    assert len(in_process) == len(with_workers) == 4
    # uint8 and channels_last on purpose (see AugmentedSamples, collate_channels_last),
    # with or without workers; the model's input keeps the layout on the CPU.
    for images, _ in in_process + with_workers:
        assert images.dtype == torch.uint8
        assert images.is_contiguous(memory_format=torch.channels_last)
        as_input = model_input(images, torch.device("cpu"))
        assert as_input.dtype == torch.float32
        assert as_input.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(as_input, images.float())
    for (a, ta), (b, tb) in zip(in_process, with_workers, strict=True):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(ta, tb)
    image, targets = samples[(1, 2, 3)]
    again, targets_again = samples[(1, 2, 3)]
    torch.testing.assert_close(image, again)
    assert not torch.equal(image, samples[(2, 2, 3)][0])  # another epoch, other randomness


def test_an_epoch_takes_one_copy_of_each_frame():
    groups = indices_by_group(["a", "b", "a", "c", "b", "a"])
    assert groups == [[0, 2, 5], [1, 4], [3]]
    batches = EpochBatches(groups, batch_size=1, seed=0, start=0, end=6)
    assert batches.batches_per_epoch == 3
    picked = [batches.epoch_images(epoch) for epoch in range(6)]
    for images in picked:
        assert sorted(next(g for g in groups if i in g)[0] for i in images) == [0, 1, 3]
    assert len({tuple(sorted(images)) for images in picked}) > 1  # the copy changes by epoch


def test_cached_source_gives_the_same_samples(scenes: Path):
    dataset = open_dataset(scenes)
    cached = CachedSource(dataset)
    for index in range(len(dataset)):
        image, labels = dataset.load(index)
        cached_image, cached_labels = cached.load(index)
        np.testing.assert_array_equal(image, cached_image)
        np.testing.assert_array_equal(labels, cached_labels)
        assert not cached_image.flags.writeable  # augmentation may never alter the cache
    torch.testing.assert_close(_samples(dataset)[(0, 1, 2)], _samples(cached)[(0, 1, 2)])


class _FailingLoader:
    """Yields one batch, then re-raises a worker's exception the way PyTorch does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __iter__(self):
        yield "batch"
        try:
            raise self.error
        except Exception:  # noqa: BLE001
            ExceptionWrapper(where="in DataLoader worker process 0").reraise()


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            DatasetError("/data/a.jpg", "image 3", "cannot be read or decoded"),
            "/data/a.jpg: image 3: cannot be read or decoded",
        ),
        (
            ValueError("operands could not be broadcast"),
            "a data-loading worker failed: ValueError: operands could not be broadcast",
        ),
    ],
    ids=["dataset-error", "other"],
)
def test_a_loading_workers_exception_is_one_line(error: Exception, line: str) -> None:
    batches = one_line_worker_errors(_FailingLoader(error))
    assert next(batches) == "batch"
    with pytest.raises(DatasetError) as raised:
        next(batches)
    assert str(raised.value) == line


def test_an_error_of_the_training_process_itself_is_left_as_it_is() -> None:
    def loader():
        yield "batch"
        raise KeyError("not a worker's")

    batches = one_line_worker_errors(loader())
    next(batches)
    with pytest.raises(KeyError):
        next(batches)
