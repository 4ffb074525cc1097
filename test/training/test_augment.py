"""Augmentations: mosaic, affine, flip, mixup, HSV, flip pairs, clipping."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from yolox_ros.errors import ConfigError
from yolox_ros.model import build_model
from yolox_ros.training.augment import (
    NO_MIRROR,
    AugmentConfig,
    augment_hsv,
    mixup,
    random_affine_matrix,
    random_flip,
    train_sample,
    warp_affine,
)
from yolox_ros.training.batches import (
    labels_to_targets,
)
from yolox_ros.training.config import mirror_classes
from yolox_ros.training.loss import yolox_loss

COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)]


def _rectangle_image(class_id: int, box, size=(120, 160)) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((*size, 3), 90, np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = COLOURS[class_id]
    return image, np.array([[x1, y1, x2, y2, class_id]], np.float32)


def _assert_boxes_follow_pixels(image, labels, tolerance=1.6):
    """Each box is tight around its object's pixels (contains them where cut by the border).

    A box cut by the image border is the clipped extent of the whole (rotated)
    object, as in the reference, so it may be looser than the visible part.
    """
    assert len(labels) > 0
    height, width = image.shape[:2]
    for box in labels:
        distance = np.abs(image.astype(int) - np.array(COLOURS[int(box[4])])).max(axis=2)
        x1, y1 = np.maximum(np.floor(box[:2]).astype(int) - 3, 0)
        x2, y2 = np.ceil(box[2:4]).astype(int) + 3
        ys, xs = np.nonzero(distance[y1:y2, x1:x2] < 60)
        assert len(xs), f"no pixels of the object of box {box}"
        found = np.array([xs.min() + x1, ys.min() + y1, xs.max() + x1 + 1, ys.max() + y1 + 1])
        at_border = box[0] < 0.5 or box[1] < 0.5 or box[2] > width - 0.5 or box[3] > height - 0.5
        if at_border:
            assert np.all(found[:2] >= box[:2] - tolerance) and np.all(
                found[2:] <= box[2:4] + tolerance
            )
        else:
            np.testing.assert_allclose(box[:4], found, atol=tolerance)


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_and_affine_move_boxes_with_pixels(seed):
    sources = [
        _rectangle_image(0, (20, 30, 70, 90)),
        _rectangle_image(1, (90, 10, 150, 50)),
        _rectangle_image(2, (40, 60, 120, 110)),
        _rectangle_image(3, (5, 5, 60, 40)),
    ]
    config = AugmentConfig(
        mosaic_prob=1.0, mixup_prob=0.0, mosaic_scale=(0.5, 1.5), hsv_gains=(0, 0, 0), flip_prob=0.5
    )
    image, labels = train_sample(
        lambda i: sources[i], seed % 4, (128, 160), config, np.random.default_rng(seed), 4, True
    )
    assert image.shape == (128, 160, 3)
    # Truncated boxes at the image border follow the visible part only.
    _assert_boxes_follow_pixels(image, labels)


def test_affine_rotation_gives_the_extent_of_the_rotated_object():
    image, labels = _rectangle_image(4, (50, 40, 110, 80))
    matrix = random_affine_matrix(
        np.random.default_rng(1), (80, 60), (120, 160), 10, 0.1, (0.8, 1.2), 2
    )
    warped, moved = warp_affine(image, labels, matrix, (120, 160))
    _assert_boxes_follow_pixels(warped, moved)


@pytest.mark.parametrize("seed", range(4))
def test_antialiased_shrink_moves_boxes_with_pixels(seed):
    image, labels = _rectangle_image(4, (50, 40, 110, 80))
    matrix = random_affine_matrix(
        np.random.default_rng(seed), (80, 60), (120, 160), 10, 0.1, (0.3, 0.6), 2
    )
    warped, moved = warp_affine(image, labels, matrix, (120, 160), antialias=True)
    plain, same = warp_affine(image, labels, matrix, (120, 160))
    np.testing.assert_array_equal(moved, same)
    _assert_boxes_follow_pixels(warped, moved)
    # The object lands on the same pixels either way.
    object_pixels = [np.abs(w.astype(int) - COLOURS[4]).max(axis=2) < 60 for w in (warped, plain)]
    assert (object_pixels[0] != object_pixels[1]).mean() < 0.01


def test_antialiased_shrink_averages_detail_the_bilinear_warp_aliases():
    checkerboard = ((np.indices((240, 320)).sum(axis=0) % 2) * 255).astype(np.uint8)
    image = np.repeat(checkerboard[..., None], 3, axis=2)
    matrix = np.array([[0.25, 0.0, 10.0], [0.0, 0.25, 10.0]])
    no_labels = np.zeros((0, 5), np.float32)
    plain, _ = warp_affine(image, no_labels, matrix, (60, 80))
    smooth, _ = warp_affine(image, no_labels, matrix, (60, 80), antialias=True)
    # A 1-pixel checkerboard shrunk 4 times is an even grey to a camera.
    assert np.abs(smooth[12:60, 12:80].astype(int) - 127).max() <= 2
    assert np.abs(plain[12:60, 12:80].astype(int) - 127).mean() > 40


def test_horizontal_flip_mirrors_boxes_exactly():
    image, labels = _rectangle_image(2, (10, 20, 50, 60))
    flipped, moved = random_flip(image, labels, np.random.default_rng(0), prob=1.0)
    np.testing.assert_array_equal(moved[0], [110, 20, 150, 60, 2])
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    _assert_boxes_follow_pixels(flipped, moved, tolerance=0)


def test_mixup_keeps_both_images_labels():
    image, labels = _rectangle_image(0, (10, 10, 60, 60))
    other, other_labels = _rectangle_image(1, (90, 60, 150, 110))
    mixed, mixed_labels = mixup(image, labels, other, other_labels, np.random.default_rng(3))
    assert mixed.shape == image.shape
    np.testing.assert_array_equal(mixed_labels[0], labels[0])
    assert mixed_labels[1:, 4].tolist() == [1]
    # Inside its box the pasted object is blended half and half with the first image.
    box = mixed_labels[1]
    x, y = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
    np.testing.assert_allclose(mixed[y, x], (image[y, x] + np.array(COLOURS[1])) // 2, atol=2)


def test_tiny_boxes_are_dropped_and_targets_are_centre_size():
    image, labels = _rectangle_image(1, (10, 10, 60, 60))
    labels = np.concatenate([labels, [[100, 100, 101, 130, 2]]]).astype(np.float32)
    config = AugmentConfig(mosaic_prob=0, hsv_gains=(0, 0, 0), flip_prob=0)
    _, kept = train_sample(
        lambda i: (image, labels), 0, (96, 128), config, np.random.default_rng(0), 1, True
    )
    assert kept[:, 4].tolist() == [1]  # the 1-px wide box is gone
    targets = labels_to_targets(kept)
    ratio = 0.8  # 120x160 letterboxed into 96x128
    np.testing.assert_allclose(targets[0], [1, 35 * ratio, 35 * ratio, 50 * ratio, 50 * ratio])
    assert not targets[1:].any()


def test_hsv_shifts_wrap_the_hue_and_clip_saturation_and_value():
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int16)
    gains = (90.0, 200.0, 200.0)  # large shifts: many pixels wrap or clip
    for seed in range(8):
        draw = np.random.default_rng(seed)
        shifts = (draw.uniform(-1, 1, 3) * gains * draw.integers(0, 2, 3)).astype(np.int16)
        expected = hsv.copy()
        expected[..., 0] = (hsv[..., 0] + shifts[0]) % 180
        expected[..., 1:] = (hsv[..., 1:] + shifts[1:]).clip(0, 255)
        expected = cv2.cvtColor(expected.astype(np.uint8), cv2.COLOR_HSV2BGR)
        np.testing.assert_array_equal(
            augment_hsv(image, np.random.default_rng(seed), gains), expected
        )


def test_flip_pairs_swap_mirror_image_classes():
    names = ("left", "no_left", "no_right", "right", "stop")
    mirror = mirror_classes(("left:right", "no_left:no_right"), names)
    assert mirror == (3, 2, 1, 0, 4)
    image, labels = _rectangle_image(0, (10, 20, 50, 60))
    labels = np.array([[10, 20, 50, 60, 0], [60, 20, 80, 40, 4]], np.float32)
    _, moved = random_flip(image, labels, np.random.default_rng(0), 1.0, mirror)
    assert moved[:, 4].tolist() == [3, 4]  # left became right, stop stayed stop
    assert mirror_classes((), names) == ()
    for bad, message in (
        ("left:up", "unknown class 'up'"),
        ("left", "two different"),
        ("left:left", "two different"),
    ):
        with pytest.raises(ConfigError, match=message):
            mirror_classes((bad,), names)
    with pytest.raises(ConfigError, match="in two pairs"):
        mirror_classes(("left:right", "right:stop"), names)


def test_an_image_holding_an_asymmetric_class_is_never_flipped():
    names = ("left", "no_left", "no_right", "right", "stop")
    mirror = mirror_classes(("left:right",), names, ("no_left", "no_right"))
    assert mirror == (3, NO_MIRROR, NO_MIRROR, 0, 4)
    image, _ = _rectangle_image(0, (10, 20, 50, 60))
    turns = np.array([[10, 20, 50, 60, 0], [60, 20, 80, 40, 4]], np.float32)
    flipped, moved = random_flip(image, turns, np.random.default_rng(0), 1.0, mirror)
    assert moved[:, 4].tolist() == [3, 4]
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    with_no_left = np.array([[10, 20, 50, 60, 0], [60, 20, 80, 40, 1]], np.float32)
    kept, labels = random_flip(image, with_no_left, np.random.default_rng(0), 1.0, mirror)
    assert kept is image and labels is with_no_left
    # Mixup flips the image it blends in half the time: never one holding no_left.
    for seed in range(8):
        _, blended = mixup(
            np.zeros_like(image), turns[:0], image, with_no_left, np.random.default_rng(seed),
            scale=(1.0, 1.0), mirror_classes=mirror,
        )  # fmt: skip
        np.testing.assert_array_equal(blended[:, 4], with_no_left[:, 4])
        np.testing.assert_allclose(blended[:, :4], with_no_left[:, :4])
    with pytest.raises(ConfigError, match="unknown"):
        mirror_classes((), names, ("up",))
    with pytest.raises(ConfigError, match="in a flip pair and asymmetric"):
        mirror_classes(("left:right",), names, ("left",))


def test_a_box_with_its_centre_off_the_input_trains_without_error():
    model = build_model("nano", 2).train()
    targets = torch.zeros(1, 4, 5)
    targets[0, 0] = torch.tensor([1, 200.0, 20.0, 6.0, 6.0])  # far right of a 64-wide input
    terms = yolox_loss(model(torch.zeros(1, 3, 64, 64)), targets, model.head.strides, False)
    assert terms.num_fg == 0 and math.isfinite(terms.values()["total"])


def test_boxes_reaching_past_the_image_are_clipped_without_mosaic():
    image, _ = _rectangle_image(1, (10, 10, 60, 60))
    labels = np.array([[-20, 10, 60, 60, 1], [100, 70, 190, 140, 0]], np.float32)
    config = AugmentConfig(mosaic_prob=0, hsv_gains=(0, 0, 0), flip_prob=0)
    _, kept = train_sample(
        lambda i: (image, labels), 0, (120, 160), config, np.random.default_rng(0), 1, False
    )
    assert kept[:, :4].min() >= 0 and kept[:, 2].max() <= 160 and kept[:, 3].max() <= 120
