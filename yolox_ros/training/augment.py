"""Training augmentations of the YOLOX recipe, in numpy/OpenCV.

Labels travel as ``(N, 5)`` float32 rows ``x1, y1, x2, y2, class_id`` in the
pixels of the image they belong to; every geometric operation moves them
exactly as it moves the pixels. Canvases are filled with 114, as the
network's letterbox padding.

Horizontal flip (p = 0.5, as the reference) turns a sign into its mirror
image: for class sets with mirror-image classes (turn left / turn right) the
flip must swap their labels, which ``AugmentConfig.mirror_classes`` does;
classes without a partner keep their label. A class whose mirror image is no
class at all (``NO_MIRROR``: a sign printed asymmetrically) is never flipped: an
image holding one keeps its orientation.

The official code: HSV, flip and the random affine in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/data/data_augment.py
mosaic and mixup in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/data/datasets/mosaicdetection.py
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from yolox_ros.core.preprocess import PAD_VALUE, letterbox_ratio, resize_for_input

MIN_BOX_SIDE = 1.0  # boxes whose shorter side is not larger than this are dropped
NO_MIRROR = -1  # in mirror_classes: the class's mirror image is no class
ANTIALIAS_BELOW = 0.9  # affine scales under which ``AugmentConfig.antialias`` pre-shrinks


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths; ``training.recipes`` gives each model size's official ones."""

    mosaic_prob: float = 1.0
    mixup_prob: float = 1.0
    degrees: float = 10.0
    translate: float = 0.1
    mosaic_scale: tuple[float, float] = (0.1, 2.0)
    mixup_scale: tuple[float, float] = (0.5, 1.5)
    shear: float = 2.0
    hsv_gains: tuple[float, float, float] = (5.0, 30.0, 30.0)
    flip_prob: float = 0.5
    # Class id a horizontal flip turns each class into (``mirror_classes[c]``, NO_MIRROR: an
    # image holding it is not flipped); empty: itself.
    mirror_classes: tuple[int, ...] = ()
    # Shrink by area averaging where the affine step scales below ANTIALIAS_BELOW (off: the
    # reference's bilinear warp, which aliases a sign shrunk several times into sparkle no
    # camera makes).
    antialias: bool = False


def drop_small_boxes(labels: np.ndarray, min_side: float = MIN_BOX_SIDE) -> np.ndarray:
    sides = np.minimum(labels[:, 2] - labels[:, 0], labels[:, 3] - labels[:, 1])
    return labels[sides > min_side]


def clip_boxes(labels: np.ndarray, height: float, width: float) -> np.ndarray:
    clipped = labels.copy()
    clipped[:, 0:4:2] = clipped[:, 0:4:2].clip(0, width)
    clipped[:, 1:4:2] = clipped[:, 1:4:2].clip(0, height)
    return clipped


def scale_labels(
    labels: np.ndarray, ratio: float, offset: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    moved = labels.copy()
    moved[:, 0:4:2] = labels[:, 0:4:2] * ratio + offset[0]
    moved[:, 1:4:2] = labels[:, 1:4:2] * ratio + offset[1]
    return moved


def resize_to_fit(
    image: np.ndarray, labels: np.ndarray, out_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Resize as the network letterbox does (ratio ``min(H/h, W/w)``, no padding)."""
    resized = resize_for_input(image, out_hw)
    return resized, scale_labels(labels, letterbox_ratio(image.shape[:2], out_hw))


def letterbox(
    image: np.ndarray, labels: np.ndarray, out_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The network letterbox: resize to fit, paste top-left on a 114 canvas."""
    resized, labels = resize_to_fit(image, labels, out_hw)
    canvas = np.full((*out_hw, 3), PAD_VALUE, np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas, labels


def mosaic(
    samples: Sequence[tuple[np.ndarray, np.ndarray]],
    out_hw: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Four images around a random centre in ``[0.5, 1.5] * size`` of a ``2 * size`` canvas.

    Each image is first resized to fit ``out_hw``; they meet at the centre as
    top-left, top-right, bottom-left and bottom-right quadrants.
    """
    if len(samples) != 4:
        raise ValueError(f"mosaic needs 4 images, got {len(samples)}")
    out_h, out_w = out_hw
    canvas = np.full((2 * out_h, 2 * out_w, 3), PAD_VALUE, np.uint8)
    center_x = int(rng.uniform(0.5 * out_w, 1.5 * out_w))
    center_y = int(rng.uniform(0.5 * out_h, 1.5 * out_h))
    all_labels = []
    for quadrant, (image, labels) in enumerate(samples):
        image, labels = resize_to_fit(image, labels, out_hw)
        h, w = image.shape[:2]
        right, bottom = quadrant % 2 == 1, quadrant >= 2
        x0 = center_x if right else center_x - w  # where the image's (0, 0) lands on the canvas
        y0 = center_y if bottom else center_y - h
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + w, 2 * out_w), min(y0 + h, 2 * out_h)
        canvas[cy0:cy1, cx0:cx1] = image[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        shifted = scale_labels(labels, 1.0, (x0, y0))
        # Only the visible part of each image counts: clip to its pasted window.
        shifted[:, 0:4:2] = shifted[:, 0:4:2].clip(cx0, cx1)
        shifted[:, 1:4:2] = shifted[:, 1:4:2].clip(cy0, cy1)
        all_labels.append(shifted)
    return canvas, drop_small_boxes(np.concatenate(all_labels).reshape(-1, 5))


def random_affine_matrix(
    rng: np.random.Generator,
    source_center: tuple[float, float],
    out_hw: tuple[int, int],
    degrees: float,
    translate: float,
    scale: tuple[float, float],
    shear: float,
) -> np.ndarray:
    """2x3 matrix: rotate/scale/shear about ``source_center``, put at output centre ± translate."""
    angle = rng.uniform(-degrees, degrees)
    zoom = rng.uniform(*scale)
    rotation = cv2.getRotationMatrix2D((0.0, 0.0), angle, zoom)
    shear_x = math.tan(math.radians(rng.uniform(-shear, shear)))
    shear_y = math.tan(math.radians(rng.uniform(-shear, shear)))
    linear = np.array([[1.0, shear_x], [shear_y, 1.0]]) @ rotation[:, :2]
    out_h, out_w = out_hw
    destination = np.array(
        [
            (0.5 + rng.uniform(-translate, translate)) * out_w,
            (0.5 + rng.uniform(-translate, translate)) * out_h,
        ]
    )
    offset = destination - linear @ np.asarray(source_center, float)
    return np.concatenate([linear, offset[:, None]], axis=1)


def warp_affine(
    image: np.ndarray,
    labels: np.ndarray,
    matrix: np.ndarray,
    out_hw: tuple[int, int],
    antialias: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp image and labels; a box becomes the extent of its warped corners, clipped.

    With ``antialias``, a matrix that shrinks is applied as an area-averaging resize by
    its scale followed by the remaining warp, whose scale is then about 1.
    """
    pixels_matrix = matrix
    zoom = math.sqrt(abs(np.linalg.det(matrix[:, :2]))) if antialias else 1.0
    if zoom < ANTIALIAS_BELOW:
        height, width = image.shape[:2]
        small_w, small_h = max(1, round(width * zoom)), max(1, round(height * zoom))
        image = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
        # cv2.resize maps pixel centres: x_small = (x + 0.5) * f - 0.5.
        factors = np.array([small_w / width, small_h / height])
        linear = matrix[:, :2] / factors
        offset = matrix[:, 2] + matrix[:, :2] @ (0.5 / factors - 0.5)
        pixels_matrix = np.concatenate([linear, offset[:, None]], axis=1)
    warped = cv2.warpAffine(
        image, pixels_matrix, (out_hw[1], out_hw[0]), borderValue=(PAD_VALUE,) * 3
    )
    if len(labels) == 0:
        return warped, labels
    x1, y1, x2, y2 = labels[:, 0], labels[:, 1], labels[:, 2], labels[:, 3]
    corners = np.stack(
        [
            np.stack([x1, y1], 1),
            np.stack([x2, y1], 1),
            np.stack([x2, y2], 1),
            np.stack([x1, y2], 1),
        ],
        1,
    )
    moved = corners @ matrix[:, :2].T + matrix[:, 2]
    boxes = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    out = np.concatenate([boxes, labels[:, 4:5]], axis=1).astype(np.float32)
    return warped, drop_small_boxes(clip_boxes(out, *out_hw))


def mixup(
    image: np.ndarray,
    labels: np.ndarray,
    other_image: np.ndarray,
    other_labels: np.ndarray,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.5, 1.5),
    mirror_classes: tuple[int, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``image`` 0.5/0.5 with a rescaled (and 50% flipped) random crop of ``other_image``."""
    out_h, out_w = image.shape[:2]
    jitter = rng.uniform(*scale)
    ratio = letterbox_ratio(other_image.shape[:2], (out_h, out_w)) * jitter
    new_w = max(1, int(other_image.shape[1] * ratio))
    new_h = max(1, int(other_image.shape[0] * ratio))
    resized = cv2.resize(other_image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    moved = scale_labels(other_labels, ratio)
    if rng.random() < 0.5 and can_flip(moved, mirror_classes):
        resized = resized[:, ::-1]
        moved = flip_labels(moved, new_w, mirror_classes)
    canvas = np.full((max(out_h, new_h), max(out_w, new_w), 3), PAD_VALUE, np.uint8)
    canvas[:new_h, :new_w] = resized
    x_off = int(rng.integers(0, canvas.shape[1] - out_w + 1))
    y_off = int(rng.integers(0, canvas.shape[0] - out_h + 1))
    crop = canvas[y_off : y_off + out_h, x_off : x_off + out_w]
    moved = drop_small_boxes(clip_boxes(scale_labels(moved, 1.0, (-x_off, -y_off)), out_h, out_w))
    blended = (0.5 * image.astype(np.float32) + 0.5 * crop.astype(np.float32)).astype(np.uint8)
    return blended, np.concatenate([labels, moved]).astype(np.float32)


def augment_hsv(
    image: np.ndarray, rng: np.random.Generator, gains: tuple[float, float, float] = (5, 30, 30)
) -> np.ndarray:
    """Shift hue (OpenCV units, of 180), saturation, value by up to ± gains; each half the time."""
    shifts = (rng.uniform(-1, 1, 3) * gains * rng.integers(0, 2, 3)).astype(np.int16)
    # As a table of the 256 values of each channel: several times faster than per-pixel arithmetic.
    values = np.arange(256, dtype=np.int16)
    table = np.stack(
        (
            (values + shifts[0]) % 180,
            (values + shifts[1]).clip(0, 255),
            (values + shifts[2]).clip(0, 255),
        ),
        axis=-1,
    ).astype(np.uint8)
    hsv = cv2.LUT(cv2.cvtColor(image, cv2.COLOR_BGR2HSV), table[None])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def can_flip(labels: np.ndarray, mirror_classes: tuple[int, ...] = ()) -> bool:
    """Whether every labelled class has a mirror image (``NO_MIRROR`` has none)."""
    if not mirror_classes or not len(labels):
        return True
    return bool((np.asarray(mirror_classes)[labels[:, 4].astype(np.int64)] != NO_MIRROR).all())


def flip_labels(
    labels: np.ndarray, width: float, mirror_classes: tuple[int, ...] = ()
) -> np.ndarray:
    """Labels of the horizontally flipped image; mirror-image classes swap their ids."""
    flipped = labels.copy()
    flipped[:, 0] = width - labels[:, 2]
    flipped[:, 2] = width - labels[:, 0]
    if mirror_classes and len(labels):
        flipped[:, 4] = np.asarray(mirror_classes, np.float32)[labels[:, 4].astype(np.int64)]
    return flipped


def random_flip(
    image: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    prob: float,
    mirror_classes: tuple[int, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() >= prob or not can_flip(labels, mirror_classes):
        return image, labels
    flipped = cv2.flip(image, 1)  # the same pixels as image[:, ::-1], several times faster
    return flipped, flip_labels(labels, image.shape[1], mirror_classes)


def train_sample(
    load: Callable[[int], tuple[np.ndarray, np.ndarray]],
    index: int,
    out_hw: tuple[int, int],
    config: AugmentConfig,
    rng: np.random.Generator,
    num_images: int,
    strong: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One training image of the network input size and its labels.

    ``load(i) -> (bgr, labels)``. With ``strong`` (all but the last epochs):
    mosaic with probability ``mosaic_prob`` followed by the random affine and
    optionally mixup. Always: HSV, flip, letterbox, drop boxes of side <= 1 px.
    """
    image, labels = load(index)
    if strong and rng.random() < config.mosaic_prob:
        others = rng.integers(0, num_images, 3)
        image, labels = mosaic([(image, labels)] + [load(int(i)) for i in others], out_hw, rng)
        matrix = random_affine_matrix(
            rng,
            (out_hw[1], out_hw[0]),
            out_hw,
            config.degrees,
            config.translate,
            config.mosaic_scale,
            config.shear,
        )
        image, labels = warp_affine(image, labels, matrix, out_hw, config.antialias)
        if len(labels) and rng.random() < config.mixup_prob:
            image, labels = mixup(
                image,
                labels,
                *load(int(rng.integers(0, num_images))),
                rng,
                config.mixup_scale,
                config.mirror_classes,
            )
    image = augment_hsv(image, rng, config.hsv_gains)
    image, labels = random_flip(image, labels, rng, config.flip_prob, config.mirror_classes)
    # Boxes reaching past the image (annotation slack, the mosaic's edges) would teach the
    # model to predict outside it, and a centre off the anchor grid cannot be assigned.
    labels = clip_boxes(labels, *image.shape[:2])
    image, labels = letterbox(image, labels, out_hw)
    return image, drop_small_boxes(labels)
