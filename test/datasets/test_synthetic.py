"""The synthetic traffic-scene generator: deterministic, boxes exactly around the drawn signs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.cli.synthetic import main
from yolox_ros.datasets.synthetic import (
    CLASS_NAMES,
    SIGN_SIZE_RANGE,
    render_drive,
    render_scene,
    render_sign,
    scene_rng,
)

# Pixels differing by more than this from the sign-free scene belong to a sign.
DIFF_LEVEL = 12


def test_same_seed_gives_same_scene_and_other_seed_differs():
    first = render_scene(scene_rng(3, 17))
    again = render_scene(scene_rng(3, 17))
    other = render_scene(scene_rng(3, 18))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_random_scenes_have_valid_boxes_inside_the_image():
    for index in range(12):
        image, boxes, class_ids = render_scene(scene_rng(0, index), 320, 240, num_signs=(2, 5))
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert boxes.dtype == np.float32 and boxes.shape == (len(class_ids), 4)
        assert 0 < len(boxes) <= 5
        assert (
            np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 320) and np.all(boxes[:, 3] <= 240)
        )
        sides = boxes[:, 2:] - boxes[:, :2]
        assert np.all(sides.max(axis=1) >= SIGN_SIZE_RANGE[0] * 0.85)
        assert np.all(sides.max(axis=1) <= SIGN_SIZE_RANGE[1] * 1.25)
        assert set(class_ids.tolist()) <= set(range(len(CLASS_NAMES)))


def _sign_pixels_box(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    changed = np.abs(image.astype(int) - background.astype(int)).max(axis=2) > DIFF_LEVEL
    ys, xs = np.nonzero(changed)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize("class_id", range(len(CLASS_NAMES)))
@pytest.mark.parametrize(
    "placement",
    [
        (100.0, 80.0, 190.0, 170.0),
        (10.3, 300.6, 24.1, 314.9),  # a small sign, fractional box
        ((300, 100), (380, 110), (375, 200), (295, 190)),  # rotated, in perspective
    ],
    ids=["box", "small", "perspective"],
)
def test_box_is_tight_around_the_drawn_sign(class_id, placement):
    image, boxes, class_ids = render_scene(np.random.default_rng(5), signs=[(class_id, placement)])
    background, no_boxes, _ = render_scene(np.random.default_rng(5), signs=[])
    assert len(no_boxes) == 0
    assert class_ids.tolist() == [class_id]
    np.testing.assert_allclose(boxes[0], _sign_pixels_box(image, background), atol=1.01)
    if np.asarray(placement).shape == (4,):
        np.testing.assert_allclose(boxes[0], placement, atol=1e-3)


def test_render_sign_fills_its_image():
    for class_id in range(len(CLASS_NAMES)):
        bgr, alpha = render_sign(class_id, 64, np.random.default_rng(0))
        assert max(bgr.shape[:2]) == 64 and alpha.shape == bgr.shape[:2]
        covered = alpha > 0.5
        assert covered.any(axis=0).all() and covered.any(axis=1).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"signs": [(7, (0, 0, 10, 10))]},
        {"signs": [(0, (10, 10, 11, 40))]},
        {"signs": [(0, (1, 2, 3))]},
        {"num_signs": (3, 1)},
        {"width": 8},
    ],
)
def test_bad_arguments_are_rejected_with_a_message(kwargs):
    with pytest.raises(ValueError, match=r"\S"):
        render_scene(np.random.default_rng(0), **kwargs)


def test_drive_keeps_background_and_grows_signs():
    frames = render_drive(seed=7, count=5, width=320, height=240)
    first, last = frames[0], frames[-1]
    assert len(first[1]) == len(last[1]) > 0
    np.testing.assert_array_equal(first[2], last[2])
    first_area = np.prod(first[1][:, 2:] - first[1][:, :2], axis=1)
    last_area = np.prod(last[1][:, 2:] - last[1][:, :2], axis=1)
    assert np.all(last_area > first_area * 1.2)
    assert (
        np.all(last[1][:, :2] >= 0)
        and np.all(last[1][:, 2] <= 320)
        and np.all(last[1][:, 3] <= 240)
    )
    # Away from the signs the frames are identical: only the signs move.
    still = np.ones((240, 320), bool)
    for box in np.concatenate([first[1], last[1]]):
        x1, y1 = np.floor(box[:2]).astype(int) - 2
        x2, y2 = np.ceil(box[2:]).astype(int) + 2
        still[max(y1, 0) : y2, max(x1, 0) : x2] = False
    np.testing.assert_array_equal(first[0][still], last[0][still])


def test_dataset_command_writes_images_and_coco_annotations(tmp_path: Path):
    main(["--out", str(tmp_path), "--count", "3", "--seed", "4", "--size", "160x120"])
    coco = json.loads((tmp_path / "annotations.json").read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == list(enumerate(CLASS_NAMES, 1))
    assert [image["id"] for image in coco["images"]] == [1, 2, 3]
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    for index, entry in enumerate(coco["images"]):
        assert entry["file_name"] == f"{index:06d}.jpg"
        assert (entry["width"], entry["height"]) == (160, 120)
        image = cv2.imread(str(tmp_path / "images" / entry["file_name"]))
        assert image.shape == (120, 160, 3)
        annotations = [a for a in coco["annotations"] if a["image_id"] == entry["id"]]
        _, boxes, class_ids = render_scene(scene_rng(4, index), 160, 120)
        assert [a["category_id"] - 1 for a in annotations] == class_ids.tolist()
        xywh = np.array([a["bbox"] for a in annotations]).reshape(-1, 4)
        np.testing.assert_allclose(xywh[:, :2], boxes[:, :2], atol=0.01)
        np.testing.assert_allclose(xywh[:, :2] + xywh[:, 2:], boxes[:, 2:], atol=0.02)
        np.testing.assert_allclose(
            [a["area"] for a in annotations], xywh[:, 2] * xywh[:, 3], rtol=1e-3
        )
        assert all(a["iscrowd"] == 0 for a in annotations)


def test_dataset_command_rejects_bad_size(tmp_path: Path):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--count", "1", "--size", "640by480"])
