"""The VIA traffic-sign splits the shipped VIA model was trained and measured on.

    python scripts/via_splits.py --data ../shared/datasets/via_traffic_sign --out /tmp/via

writes ``OUT/train.json`` and ``OUT/val.json`` (COCO) with their images copied
to ``OUT/images/``, and ``OUT/heldout/heldout_all.json`` naming the original images:

- the 210 held-out frames (10 %; all Roboflow copies of one photo go together):
  the first 10 % of the sorted frame names in the order of
  ``numpy.random.default_rng(0).permutation`` (the rule the shipped model was split by);
- ``train.json`` keeps at most ``--train-copies`` copies of each training frame
  and ``val.json`` one copy of each held-out frame, so that the copy fits the
  64 MiB that a GPU machine of this workplace receives;
- ``heldout_all.json`` has every copy of the held-out frames: the figures of
  ``models/README.md`` are measured on it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from yolox_ros.datasets import DetectionDataset, group_names, open_dataset
from yolox_ros.datasets.coco import write_coco
from yolox_ros.training.batches import indices_by_group

SEED = 0
HELDOUT_FRACTION = 0.1


def heldout_frames(frames: list[str]) -> set[str]:
    """The held-out frame names: a seeded permutation of the sorted names, its first 10 %."""
    names = sorted(set(frames))
    order = np.random.default_rng(SEED).permutation(len(names))
    return {names[i] for i in order[: round(HELDOUT_FRACTION * len(names))]}


def first_copies(dataset: DetectionDataset, copies: int) -> DetectionDataset:
    """At most ``copies`` images of each frame: the first by file name."""
    groups = indices_by_group(group_names(dataset))
    names = [record.path.name for record in dataset.records]
    kept = [i for group in groups for i in sorted(group, key=names.__getitem__)[:copies]]
    return dataset.subset(sorted(kept))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the VIA dataset folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-copies", type=int, default=2)
    args = parser.parse_args()
    data = open_dataset(args.data)
    frames = group_names(data)
    heldout = heldout_frames(frames)
    train = data.subset([i for i, frame in enumerate(frames) if frame not in heldout])
    val = data.subset([i for i, frame in enumerate(frames) if frame in heldout])
    train_part, val_part = first_copies(train, args.train_copies), first_copies(val, 1)
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for record in [*train_part.records, *val_part.records]:
        shutil.copyfile(record.path, images / record.path.name)
    write_coco(args.out / "train.json", train_part)
    write_coco(args.out / "val.json", val_part)
    write_coco(args.out / "heldout_all.json", val)
    # heldout_all.json names the original images: point an images folder at them.
    link = args.out / "heldout" / "images"
    link.parent.mkdir(exist_ok=True)
    if not link.exists():
        os.symlink(data.records[0].path.parent.resolve(), link)
    (args.out / "heldout_all.json").rename(args.out / "heldout" / "heldout_all.json")
    size = sum(p.stat().st_size for p in images.iterdir())
    print(
        f"train: {len(train_part)} images of {len(train)} ({args.train_copies} copies/frame); "
        f"val: {len(val_part)} of {len(val)}; {size / 2**20:.1f} MiB of images in {images}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
