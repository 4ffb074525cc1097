"""The ``street`` theme: a city road seen from a car, signs anywhere from far to near."""

from __future__ import annotations

import math

import cv2
import numpy as np

from yolox_ros.synthetic.compositing import (
    draw_distractors,
    occlude,
    overlaps,
    place_sign,
    random_quad,
)
from yolox_ros.synthetic.draw import fill, vertical_gradient
from yolox_ros.synthetic.signs import CLASS_NAMES, sign_shape

SIGN_SIZE_RANGE = (12, 160)  # longest side of a sign in scene pixels


def sky(rng: np.random.Generator, height: int, width: int, horizon: int) -> np.ndarray:
    """A float32 sky gradient with buildings and tree masses standing on ``horizon``."""
    sky_top = np.array([rng.uniform(150, 235), rng.uniform(110, 190), rng.uniform(60, 150)])
    image = vertical_gradient(height, width, sky_top, sky_top * 0.6 + 90)
    for _ in range(int(rng.integers(2, 9))):
        x0 = rng.uniform(-0.1, 1.0) * width
        bw, bh = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.45) * horizon
        colour = (
            rng.uniform(40, 200, 3)
            if rng.random() < 0.6
            else (rng.uniform(20, 70), rng.uniform(70, 140), rng.uniform(20, 70))
        )
        cv2.rectangle(
            image,
            (int(x0), int(horizon - bh)),
            (int(x0 + bw), horizon),
            tuple(float(c) for c in colour),
            -1,
        )
    return image


def background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, float]:
    """Sky, buildings/trees, verge, road with lane marks; returns ``(image, horizon_y)``."""
    horizon = int(height * rng.uniform(0.3, 0.55))
    image = sky(rng, height, width, horizon)
    ground = np.array([rng.uniform(40, 90), rng.uniform(90, 150), rng.uniform(60, 120)])
    image[horizon:] = vertical_gradient(height - horizon, width, ground * 0.7, ground)
    vanishing_x = width * rng.uniform(0.3, 0.7)
    half_bottom = width * rng.uniform(0.4, 0.9)
    road = np.array(
        [
            [vanishing_x - 4, horizon],
            [vanishing_x + 4, horizon],
            [vanishing_x + half_bottom, height],
            [vanishing_x - half_bottom, height],
        ]
    )
    grey = rng.uniform(60, 130)
    fill(image, road, (grey, grey, grey + rng.uniform(-8, 8)))
    for side in (-0.97, 0.0, 0.97):  # edge lines and a dashed centre line
        for k in range(12):
            t0, t1 = (k / 12) ** 1.6, ((k + 0.5) / 12) ** 1.6
            if side != 0 and t1 < 0.05:
                continue
            p = [
                (vanishing_x + side * half_bottom * t, horizon + (height - horizon) * t)
                for t in (t0, t1)
            ]
            thick = max(1, int(1 + 8 * t1))
            cv2.line(
                image,
                (int(p[0][0]), int(p[0][1])),
                (int(p[1][0]), int(p[1][1])),
                (225, 225, 225),
                thick,
                cv2.LINE_AA,
            )
    noise = rng.normal(0, rng.uniform(3, 14), (height // 8 + 1, width // 8 + 1, 1)).astype(
        np.float32
    )
    image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    return image, float(horizon)


def _draw_pole(image: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> None:
    bottom_x = float(quad[2:, 0].mean())
    bottom_y = float(quad[2:, 1].max())
    width = max(1, int(0.08 * (quad[:, 0].max() - quad[:, 0].min())))
    length = rng.uniform(0.5, 3) * (quad[:, 1].max() - quad[:, 1].min())
    grey = float(rng.uniform(80, 170))
    cv2.line(
        image,
        (int(bottom_x), int(bottom_y)),
        (int(bottom_x), int(bottom_y + length)),
        (grey, grey, grey),
        width,
    )


def _random_size(rng: np.random.Generator, limit: float) -> float:
    """Log-uniform over SIGN_SIZE_RANGE (far signs are as common as near ones)."""
    low, high = SIGN_SIZE_RANGE
    high = max(low, min(high, limit))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def random_signs(
    image: np.ndarray,
    horizon: float,
    count_range: tuple[int, int],
    rng: np.random.Generator,
    boxes: list[np.ndarray],
    class_ids: list[int],
) -> None:
    """Distractors, then non-overlapping random signs (some on poles), then occluders."""
    height, width = image.shape[:2]
    draw_distractors(image, rng, int(rng.integers(0, 6)))
    occluded = []
    for _ in range(int(rng.integers(count_range[0], count_range[1] + 1))):
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        size = _random_size(rng, 0.45 * min(width, height))
        w, h = sign_shape(class_id, size)
        margin = 0.15 * size + 1
        for _attempt in range(20):
            centre = np.array(
                [
                    rng.uniform(w / 2 + margin, width - w / 2 - margin),
                    rng.uniform(h / 2 + margin, height - h / 2 - margin),
                ]
            )
            quad = random_quad(centre, w, h, rng)
            rough = np.concatenate([quad.min(axis=0), quad.max(axis=0)])
            if not overlaps(rough, boxes, 2.0):
                break
        else:
            continue
        if centre[1] < horizon + 0.3 * (height - horizon) and rng.random() < 0.7:
            _draw_pole(image, quad, rng)
        box = place_sign(image, class_id, quad, rng, brightness=rng.uniform(0.65, 1.15))
        boxes.append(box)
        class_ids.append(class_id)
        if rng.random() < 0.15:
            occluded.append(box)
    for box in occluded:
        occlude(image, box, rng)
