"""Fixtures of the training tests: one torch thread each, a few synthetic scenes on disk,
compiled kernels cached in a directory of the session's (never in the developer's home)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(tmp_path_factory):
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> Path:
    """Eight small synthetic scenes on disk, as the generator writes them (COCO)."""
    from yolox_ros.synthetic import write_dataset

    root = tmp_path_factory.mktemp("scenes")
    write_dataset(root, count=8, seed=1, width=128, height=96)
    return root
