"""Synthetic scenes on disk: JPEGs plus a COCO detection file, from the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.cli.synthetic import main
from yolox_ros.synthetic import (
    CLASS_NAMES,
    TRACK_CLASS_NAMES,
    render_drive,
    render_scene,
    scene_rng,
    write_dataset,
)


def _check_coco(
    path: Path,
    names: tuple[str, ...],
    image_dir: Path,
    expected: list[tuple[str, tuple[int, int], np.ndarray, np.ndarray]],
) -> None:
    """``path`` is valid COCO holding ``expected``: (file name, (w, h), boxes, class ids)."""
    coco = json.loads(path.read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == list(enumerate(names, 1))
    assert [image["id"] for image in coco["images"]] == list(range(1, len(expected) + 1))
    annotations = coco["annotations"]
    assert [a["id"] for a in annotations] == list(range(1, len(annotations) + 1))
    assert sum(len(boxes) for _, _, boxes, _ in expected) == len(annotations) > 0
    for entry, (file_name, (width, height), boxes, class_ids) in zip(
        coco["images"], expected, strict=True
    ):
        assert entry["file_name"] == file_name
        assert (entry["width"], entry["height"]) == (width, height)
        assert cv2.imread(str(image_dir / file_name)).shape == (height, width, 3)
        mine = [a for a in annotations if a["image_id"] == entry["id"]]
        assert [a["category_id"] - 1 for a in mine] == class_ids.tolist()
        xywh = np.array([a["bbox"] for a in mine], float).reshape(-1, 4)
        np.testing.assert_allclose(xywh[:, :2], boxes[:, :2], atol=0.01)
        np.testing.assert_allclose(xywh[:, :2] + xywh[:, 2:], boxes[:, 2:], atol=0.02)
        np.testing.assert_allclose([a["area"] for a in mine], xywh[:, 2] * xywh[:, 3], atol=0.01)
        assert all(a["iscrowd"] == 0 for a in mine)


def test_dataset_command_writes_images_and_coco_annotations(tmp_path: Path):
    main(["--out", str(tmp_path), "--count", "3", "--seed", "4", "--size", "160x120"])
    expected = [
        (f"{i:06d}.jpg", (160, 120), *render_scene(scene_rng(4, i), 160, 120)[1:]) for i in range(3)
    ]
    _check_coco(tmp_path / "annotations.json", CLASS_NAMES, tmp_path / "images", expected)
    assert not (tmp_path / "classes.txt").exists() and not (tmp_path / "labels").exists()


def test_track_dataset_is_320x240_with_the_track_classes(tmp_path: Path):
    main(["--out", str(tmp_path), "--count", "2", "--seed", "1", "--theme", "track"])
    expected = [
        (f"{i:06d}.jpg", (320, 240), *render_scene(scene_rng(1, i, "track"), theme="track")[1:])
        for i in range(2)
    ]
    _check_coco(tmp_path / "annotations.json", TRACK_CLASS_NAMES, tmp_path / "images", expected)


@pytest.mark.parametrize(
    ("theme", "names"), [("street", CLASS_NAMES), ("track", TRACK_CLASS_NAMES)]
)
def test_drive_writes_frames_and_one_coco_file(tmp_path: Path, theme, names):
    write_dataset(tmp_path, count=3, seed=4, width=160, height=120, theme=theme, drive=True)
    expected = [
        (f"frame_{i:04d}.jpg", (160, 120), boxes, class_ids)
        for i, (_, boxes, class_ids) in enumerate(render_drive(4, 3, 160, 120, theme))
    ]
    _check_coco(tmp_path / "annotations.json", names, tmp_path, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "annotations.json",
        *(name for name, *_ in expected),
    ]


@pytest.mark.parametrize("argv", [["--size", "640by480"], ["--theme", "rally"], ["--count", "0"]])
def test_dataset_command_rejects_bad_arguments(tmp_path: Path, argv):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--count", "1", *argv])
