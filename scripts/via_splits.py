"""The VIA traffic-sign splits: whole recordings held out, and a far view of them.

    python scripts/via_splits.py --data ../shared/datasets/via_traffic_sign --out /tmp/via

The frame numbers at the start of the file names run in recordings (a jump of
more than ``MAX_GAP`` starts another: 24 recordings in the training split). The
recordings that start at ``HELDOUT_RECORDINGS`` are held out whole, never a
frame of a recording that is partly in training: two from the indoor hall
track, two from the simulator's outdoor scenes, one from the tiled corridor
(214 of the 2100 frames, 10.2 %). Written:

- ``OUT/train.json``: up to ``--train-copies`` Roboflow copies of each frame of
  the other recordings; ``OUT/val.json``: one copy of each held-out frame (the
  trainer's validation set); their images are copied to ``OUT/images/``;
- ``OUT/heldout/heldout.json``: every copy of the held-out frames ("held-out
  recordings"), naming the original images;
- ``OUT/far/far.json`` + ``OUT/far/images/``: the same images zoomed out
  (``yolox_ros.datasets.zoom_out``) by ``FAR_FACTOR``, so that their boxes
  have the sizes of the dataset's own validation split (median longer side
  12 px, 70 % under 16 px) on the same 240x180 canvas ("far view").
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from yolox_ros.datasets import DetectionDataset, group_names, open_dataset
from yolox_ros.datasets.coco import write_coco
from yolox_ros.datasets.recordings import held_out_frames, recordings
from yolox_ros.datasets.zoom_out import zoom_out_dataset
from yolox_ros.training.batches import indices_by_group

MAX_GAP = 20
# First frame of each held-out recording: hall 1169 and 1390, simulator 4555 and 4695,
# corridor 8445.
HELDOUT_RECORDINGS = (1169, 1390, 4555, 4695, 8445)
FAR_FACTOR = 0.65
FAR_CENTRE = (0.5, 0.45)  # a little above the middle: the horizon stays near where it was


def first_copies(dataset: DetectionDataset, copies: int) -> DetectionDataset:
    """At most ``copies`` images of each frame: the first by file name."""
    groups = indices_by_group(group_names(dataset))
    names = [record.path.name for record in dataset.records]
    kept = [i for group in groups for i in sorted(group, key=names.__getitem__)[:copies]]
    return dataset.subset(sorted(kept))


def longer_sides(dataset: DetectionDataset) -> np.ndarray:
    boxes = np.concatenate([record.boxes for record in dataset.records])
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def describe(name: str, dataset: DetectionDataset) -> str:
    sides = longer_sides(dataset)
    return (
        f"{name}: {len(dataset)} images, {len(sides)} boxes, longer side median "
        f"{np.median(sides):.1f} px, {np.mean(sides < 16):.0%} under 16 px"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the VIA dataset folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-copies", type=int, default=3)
    args = parser.parse_args()
    data = open_dataset(args.data)
    frames = [int(name) for name in group_names(data)]
    heldout = held_out_frames(recordings(frames, MAX_GAP), HELDOUT_RECORDINGS)
    train = data.subset([i for i, frame in enumerate(frames) if frame not in heldout])
    val = data.subset([i for i, frame in enumerate(frames) if frame in heldout])
    train_part, val_part = first_copies(train, args.train_copies), first_copies(val, 1)
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for record in [*train_part.records, *val_part.records]:
        shutil.copyfile(record.path, images / record.path.name)
    write_coco(args.out / "train.json", train_part)
    write_coco(args.out / "val.json", val_part)
    write_coco(args.out / "heldout" / "heldout.json", val)
    link = args.out / "heldout" / "images"
    if not link.exists():
        link.symlink_to(data.records[0].path.parent.resolve())
    far = zoom_out_dataset(val, FAR_FACTOR, FAR_CENTRE, args.out / "far" / "images")
    write_coco(args.out / "far" / "far.json", far)
    print(f"held out {len(heldout)} of {len(set(frames))} frames")
    for name, dataset in (("train", train_part), ("held-out", val), ("far view", far)):
        print(describe(name, dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
