"""Putting signs into a scene: warping, alpha blending, exact boxes; shapes that are not signs.

Boxes are ``x1, y1, x2, y2`` in pixel-edge coordinates: pixel ``i`` covers
``[i, i + 1)``, so a sign filling columns 10..19 has ``x1 = 10, x2 = 20``. Each box
is the exact extent of the sign's outline after its perspective warp (computed
from the outline polygon, not from thresholded pixels); occluders drawn over a
sign do not shrink its box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from yolox_ros.synthetic.draw import fill
from yolox_ros.synthetic.signs import SQUARE, render_sign, sign_set


def _edge_homography(quad: np.ndarray, w: int, h: int) -> np.ndarray:
    """Homography from sign pixel centres to scene pixel centres, the sign's edges onto ``quad``."""
    unit_to_quad = cv2.getPerspectiveTransform(SQUARE.astype(np.float32), quad.astype(np.float32))
    sign_centres_to_unit = np.array([[1 / w, 0, 0.5 / w], [0, 1 / h, 0.5 / h], [0, 0, 1]])
    edges_to_centres = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    return edges_to_centres @ unit_to_quad @ sign_centres_to_unit


def _project(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(
        points.reshape(-1, 1, 2).astype(np.float64), homography
    ).reshape(-1, 2)


def _composite(
    scene: np.ndarray, bgr: np.ndarray, alpha: np.ndarray, homography: np.ndarray
) -> None:
    """Warp a sign into ``scene`` in place (alpha blending, clipped to the image)."""
    sh, sw = alpha.shape
    corners = _project(np.array([[-1, -1], [sw, -1], [sw, sh], [-1, sh]], float), homography)
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(
        np.ceil(corners.max(axis=0)).astype(int) + 1, (scene.shape[1], scene.shape[0])
    )
    if x1 <= x0 or y1 <= y0:
        return
    to_patch = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], float) @ homography
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(
        bgr, to_patch, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    weight = cv2.warpPerspective(alpha, to_patch, size, flags=cv2.INTER_LINEAR)[..., None]
    patch = scene[y0:y1, x0:x1].astype(np.float32)
    scene[y0:y1, x0:x1] = np.clip(patch + (warped - patch) * weight + 0.5, 0, 255).astype(np.uint8)


def place_sign(
    scene: np.ndarray,
    class_id: int,
    quad: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 1.0,
    theme: str = "street",
) -> np.ndarray:
    """Draw a sign with its box corners on ``quad`` (4x2, scene pixel edges); return its box.

    The box is clipped to the image: a sign cut by the frame edge keeps its visible part.
    """
    size = float(np.max(quad.max(axis=0) - quad.min(axis=0)))
    bgr, alpha = render_sign(class_id, max(size, 2.0), rng, theme)
    if brightness != 1.0:
        bgr = np.clip(bgr.astype(np.float32) * brightness, 0, 255).astype(np.uint8)
    homography = _edge_homography(quad, bgr.shape[1], bgr.shape[0])
    _composite(scene, bgr, alpha, homography)
    unit_to_quad = cv2.getPerspectiveTransform(SQUARE.astype(np.float32), quad.astype(np.float32))
    outline = _project(sign_set(theme).sign(class_id).outline, unit_to_quad)
    height, width = scene.shape[:2]
    box = np.concatenate([outline.min(axis=0), outline.max(axis=0)])
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def random_quad(centre: np.ndarray, w: float, h: float, rng: np.random.Generator) -> np.ndarray:
    """Corners of a ``w`` x ``h`` rectangle, slightly rotated and in perspective."""
    angle = math.radians(rng.uniform(-8, 8))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = (SQUARE - 0.5) * (w, h)
    corners = corners @ rotation.T + rng.uniform(-0.06, 0.06, (4, 2)) * max(w, h)
    return corners + centre


def placement_quad(placement: Sequence[float] | np.ndarray) -> np.ndarray:
    """A user's sign placement, a box ``(x1, y1, x2, y2)`` or 4x2 corners, as corners."""
    values = np.asarray(placement, dtype=np.float64)
    if values.shape == (4,):
        x1, y1, x2, y2 = values
        if not (x2 - x1 >= 2 and y2 - y1 >= 2):
            raise ValueError(f"sign box must be x1, y1, x2, y2 with sides >= 2 px, got {values!r}")
        return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    if values.shape == (4, 2) and np.all(np.isfinite(values)):
        if np.ptp(values[:, 0]) < 2 or np.ptp(values[:, 1]) < 2:
            raise ValueError(f"sign corners must span at least 2 px, got {values.tolist()!r}")
        return values
    raise ValueError(
        f"sign placement must be a box (x1, y1, x2, y2) or 4x2 corners, got shape {values.shape}"
    )


def overlaps(box: np.ndarray, boxes: list[np.ndarray], margin: float) -> bool:
    for other in boxes:
        if (
            box[0] < other[2] + margin
            and other[0] < box[2] + margin
            and box[1] < other[3] + margin
            and other[1] < box[3] + margin
        ):
            return True
    return False


def draw_distractors(image: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Shapes that are not signs (cars, blobs, posters), so the model learns what is not a sign."""
    height, width = image.shape[:2]
    for _ in range(count):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cx, cy = rng.uniform(0, width), rng.uniform(0.2, 1.0) * height
        s = rng.uniform(8, 90)
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(
                image,
                (int(cx - s), int(cy - s * 0.5)),
                (int(cx + s), int(cy + s * 0.5)),
                colour,
                -1,
            )
        elif kind == 1:
            cv2.ellipse(
                image,
                (int(cx), int(cy)),
                (int(s * 0.6), int(s * 0.35)),
                float(rng.uniform(0, 180)),
                0,
                360,
                colour,
                -1,
                cv2.LINE_AA,
            )
        else:
            n = int(rng.integers(3, 7))
            fill(
                image,
                np.stack([cx + rng.uniform(-s, s, n), cy + rng.uniform(-s, s, n)], axis=1),
                colour,
            )


def occlude(image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Cover up to ~30% of a sign from one side (a branch, a post, another vehicle)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    side = rng.integers(0, 4)
    depth = rng.uniform(0.1, 0.3)
    if side == 0:
        rect = (x1 - 2, y1 - 2, x1 + depth * w, y2 + 2)
    elif side == 1:
        rect = (x2 - depth * w, y1 - 2, x2 + 2, y2 + 2)
    elif side == 2:
        rect = (x1 - 2, y1 - 2, x2 + 2, y1 + depth * h)
    else:
        rect = (x1 - 2, y2 - depth * h, x2 + 2, y2 + 2)
    colour = (
        (rng.uniform(20, 70), rng.uniform(60, 130), rng.uniform(20, 70))
        if rng.random() < 0.6
        else tuple(rng.uniform(0, 255, 3))
    )
    cv2.rectangle(
        image,
        (int(rect[0]), int(rect[1])),
        (int(rect[2]), int(rect[3])),
        tuple(float(c) for c in colour),
        -1,
    )
