"""Holding images out by group, choosing classes, and the dataset summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.datasets import (
    DatasetError,
    DetectionDataset,
    ImageRecord,
    group_names,
    select_classes,
    split_by_group,
    summarize,
)
from yolox_ros.errors import ConfigError


def record(name: str, boxes=(), class_ids=(), ignored=(), folder: Path = Path("/data")):
    return ImageRecord(folder / name, 64, 48, 0, np.array(boxes).reshape(-1, 4), class_ids, ignored)


def roboflow_dataset(frames: int = 20, copies: int = 3) -> DetectionDataset:
    """``frames`` source frames, each exported ``copies`` times with a different hash."""
    records = [
        record(f"{frame:05d}_jpg.rf.{frame * 7919 + copy * 104729:x}.jpg")
        for frame in range(frames)
        for copy in range(copies)
    ]
    return DetectionDataset("roboflow", ("sign",), records)


def test_default_groups_strip_roboflow_suffix_and_extension():
    dataset = DetectionDataset(
        "mixed",
        ("a",),
        [
            record("05988_jpg.rf.abc123.jpg"),
            record("05988_jpg.rf.def456.jpg"),
            record("IMG_1.rf.0f0f.png"),
            record("street_view.2.png"),
            record("README"),
        ],
    )
    assert group_names(dataset) == ["05988", "05988", "IMG_1", "street_view.2", "README"]


def test_split_never_straddles_a_group_and_counts_groups():
    dataset = roboflow_dataset(frames=20, copies=3)
    train, val = split_by_group(dataset, 0.25, seed=1)
    train_groups, val_groups = set(group_names(train)), set(group_names(val))
    assert not train_groups & val_groups
    assert len(val_groups) == 5 and len(train_groups) == 15
    assert len(val) == 15 and len(train) == 45
    assert train.class_names == val.class_names == ("sign",)


def test_split_is_deterministic_and_depends_on_the_seed():
    dataset = roboflow_dataset()
    names = [[r.path.name for r in part.records] for part in split_by_group(dataset, 0.3, seed=4)]
    again = [[r.path.name for r in part.records] for part in split_by_group(dataset, 0.3, seed=4)]
    other = [[r.path.name for r in part.records] for part in split_by_group(dataset, 0.3, seed=5)]
    assert names == again and names != other


def test_split_does_not_depend_on_record_order():
    dataset = roboflow_dataset()
    shuffled = dataset.subset(np.random.default_rng(0).permutation(len(dataset)))
    val_names = [
        {r.path.name for r in split_by_group(d, 0.3)[1].records} for d in (dataset, shuffled)
    ]
    assert val_names[0] == val_names[1]


def test_custom_pattern_groups_by_its_first_capture_group():
    dataset = DetectionDataset(
        "video", ("a",), [record(f"drive{d}_frame{f:03d}.png") for d in range(4) for f in range(5)]
    )
    train, val = split_by_group(dataset, 0.25, group_pattern=r"^(drive\d+)_", seed=0)
    assert len(val) == 5 and len({r.path.name[:6] for r in val.records}) == 1
    with pytest.raises(ConfigError, match="matches none"):
        split_by_group(dataset, 0.25, group_pattern=r"^(cam\d)_")
    with pytest.raises(ConfigError, match="no capture group"):
        split_by_group(dataset, 0.25, group_pattern=r"^drive")


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_fraction_out_of_range_is_refused(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        split_by_group(roboflow_dataset(), fraction)


def test_zero_fraction_keeps_everything_and_one_group_cannot_be_split():
    train, val = split_by_group(roboflow_dataset(), 0.0)
    assert (len(train), len(val)) == (60, 0)
    with pytest.raises(ConfigError, match="1 group"):
        split_by_group(roboflow_dataset(frames=1), 0.2)


def classes_dataset() -> DetectionDataset:
    return DetectionDataset(
        "three",
        ("car", "truck", "person"),
        [
            record("a.jpg", [[0, 0, 5, 5], [1, 1, 9, 9], [2, 2, 4, 4]], [0, 1, 2]),
            record("b.jpg", [[3, 3, 8, 8]], [2], ignored=[[0, 0, 10, 10]]),
        ],
    )


def test_select_classes_keeps_reorders_and_drops_boxes():
    selected = select_classes(classes_dataset(), keep=["person", "car"])
    assert selected.class_names == ("person", "car")
    np.testing.assert_array_equal(selected.records[0].class_ids, [1, 0])
    np.testing.assert_array_equal(selected.records[0].boxes, [[0, 0, 5, 5], [2, 2, 4, 4]])
    np.testing.assert_array_equal(selected.records[1].ignored, [[0, 0, 10, 10]])
    only_truck = select_classes(classes_dataset(), keep=["truck"])
    assert len(only_truck.records[1].boxes) == 0  # b.jpg becomes a negative, not dropped


def test_rename_and_merge_classes():
    renamed = select_classes(classes_dataset(), rename={"car": "vehicle", "truck": "vehicle"})
    assert renamed.class_names == ("vehicle", "person")
    np.testing.assert_array_equal(renamed.records[0].class_ids, [0, 0, 1])


@pytest.mark.parametrize("kwargs", [{"keep": ["bus"]}, {"rename": {"bus": "car"}}])
def test_unknown_class_names_are_refused(kwargs):
    with pytest.raises(DatasetError, match=r"three: classes: unknown class 'bus' \(known: car"):
        select_classes(classes_dataset(), **kwargs)


def test_summary_counts_and_finds_broken_images(tmp_path):
    good, small, broken = tmp_path / "good.png", tmp_path / "small.png", tmp_path / "broken.jpg"
    cv2.imwrite(str(good), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(small), np.zeros((10, 10, 3), np.uint8))
    broken.write_bytes(b"\xff\xd8 truncated")
    boxes = [[0, 0, 10, 5], [0, 0, 20, 30], [5, 5, 45, 15], [1, 1, 2, 2]]
    dataset = DetectionDataset(
        "mine",
        ("a", "b", "c"),
        [
            record("good.png", boxes, [0, 0, 2, 2], ignored=[[0, 0, 4, 4]], folder=tmp_path),
            record("small.png", folder=tmp_path),
            record("broken.jpg", folder=tmp_path),
        ],
    )
    summary = summarize(dataset)
    assert (summary.images, summary.negatives, summary.ignored) == (3, 2, 1)
    assert summary.boxes_per_class == (2, 0, 2)
    np.testing.assert_allclose(summary.longer_side, np.percentile([10, 30, 40, 1], [5, 50, 95]))
    assert len(summary.problems) == 2
    assert summary.problems[0].startswith(f"{small}: image 0: is 10x10 but annotated as 64x48")
    assert summary.problems[1].startswith(f"{broken}: image 0: is not a readable JPEG, PNG or BMP")


def test_summary_of_a_dataset_without_boxes():
    summary = summarize(DetectionDataset("empty", ("a",), []))
    assert summary.longer_side is None and summary.boxes_per_class == (0,)


def test_the_datasets_package_imports_neither_torch_nor_ros():
    code = (
        "import sys, yolox_ros.datasets, yolox_ros.cli.check\n"
        "heavy = {'torch', 'rclpy', 'sensor_msgs', 'yolox_ros.training', 'yolox_ros.model'}\n"
        "sys.exit(str(sorted(heavy & set(sys.modules))) if heavy & set(sys.modules) else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert result.returncode == 0, result.stderr
