"""Holding images out for validation by group, so that copies of one frame never straddle the split.

Augmented exports and consecutive video frames put near-identical images in a
dataset; a random per-image split would validate on copies of training images
and measure memory rather than accuracy.
"""

from __future__ import annotations

import hashlib
import re

from yolox_ros.datasets.records import DetectionDataset
from yolox_ros.errors import ConfigError

# Roboflow exports each source image as ``<stem>_<ext>.rf.<hash>.<ext>``, once per
# augmentation: the group is ``<stem>``. Names without that suffix group by their stem.
DEFAULT_GROUP_PATTERN = (
    r"^(.+?)(?:(?:_(?i:jpe?g|png|bmp|webp|tiff?|gif|heic))?\.rf\.[A-Za-z0-9]+)?(?:\.[^.]*)?$"
)


def group_names(dataset: DetectionDataset, group_pattern: str | None = None) -> list[str]:
    """Each image's group: the first capture group of ``group_pattern`` on its file name.

    The default pattern groups Roboflow's augmented copies of one source image
    (``05988_jpg.rf.<hash>.jpg``) under ``05988``, other files under their stem.
    A file name the pattern does not match is a group of its own.
    """
    try:
        pattern = re.compile(DEFAULT_GROUP_PATTERN if group_pattern is None else group_pattern)
    except re.error as exc:
        raise ConfigError(f"group pattern {group_pattern!r} is not a regex: {exc}") from exc
    if pattern.groups < 1:
        raise ConfigError(f"group pattern {group_pattern!r} has no capture group (...)")
    names = [record.path.name for record in dataset.records]
    matches = [pattern.search(name) for name in names]
    if names and group_pattern is not None and not any(matches):
        raise ConfigError(f"group pattern {group_pattern!r} matches none of the {len(names)} files")
    return [
        match.group(1) if match and match.group(1) is not None else name
        for name, match in zip(names, matches, strict=True)
    ]


def check_val_fraction(val_fraction: float) -> None:
    """The one rule for a held-out fraction: in [0, 1) (0: nothing held out)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")


def split_by_group(
    dataset: DetectionDataset, val_fraction: float, group_pattern: str | None = None, seed: int = 0
) -> tuple[DetectionDataset, DetectionDataset]:
    """``(train, val)``: about ``val_fraction`` of the groups held out, never splitting one.

    Copies of one frame (augmented exports, consecutive video frames) must sit
    on the same side, or validation measures memory rather than accuracy.
    Groups are ranked by a hash of (seed, group name), so the same groups,
    fraction and seed give the same split on any machine, and adding images
    of new groups moves few existing ones across.
    """
    check_val_fraction(val_fraction)
    groups = group_names(dataset, group_pattern)
    keys = set(groups)
    held = min(max(round(val_fraction * len(keys)), 1), len(keys) - 1) if val_fraction else 0
    if val_fraction and held < 1:
        raise ConfigError(f"cannot hold out a group: {dataset.source} has {len(keys)} group(s)")
    val_keys = set(sorted(keys, key=lambda key: _group_rank(key, seed))[:held])
    train = [i for i, group in enumerate(groups) if group not in val_keys]
    val = [i for i, group in enumerate(groups) if group in val_keys]
    return dataset.subset(train), dataset.subset(val)


def _group_rank(group: str, seed: int) -> bytes:
    """A group's place in the held-out order: a hash, unlike ``hash()`` the same in every
    process and on every machine, and independent of the other groups."""
    return hashlib.blake2b(f"{seed}\0{group}".encode(), digest_size=8).digest()
