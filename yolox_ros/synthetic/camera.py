"""What the camera does to a rendered scene: lighting, sensor noise, blur, compression.

Every function takes the scene's own finishing generator, so the same scene seed
gives the same effects whatever signs were placed (placed-sign tests compare a
scene with and without its sign pixel for pixel).
"""

from __future__ import annotations

import cv2
import numpy as np


def finish(
    image: np.ndarray, rng: np.random.Generator, blur: bool, noise: float = 5.0
) -> np.ndarray:
    """Global lighting, colour cast, sensor noise (sigma up to ``noise``) and maybe lens blur."""
    gain = rng.uniform(0.6, 1.3)
    cast = rng.uniform(0.92, 1.08, 3)
    x = np.linspace(-1, 1, image.shape[1], dtype=np.float32)
    vignette = 1 - rng.uniform(0, 0.25) * x[None, :, None] ** 2
    image = image * (gain * cast).astype(np.float32) * vignette + rng.normal(
        0, rng.uniform(0, noise), image.shape
    ).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if blur and rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.2))
    return image


def small_camera(image: np.ndarray, rng: np.random.Generator, effects: bool) -> np.ndarray:
    """The cheap wide-angle camera of a model car: ``finish`` plus, with ``effects``, glare,
    over-exposure and motion blur (before the sensor clips) and JPEG artefacts (after)."""
    if effects:
        image = _glare(image, rng)
        image = _motion_blur(image, rng)
    image = finish(image, rng, blur=effects, noise=10.0)
    if effects and rng.random() < 0.8:
        quality = int(rng.integers(30, 91))
        _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image


def _glare(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lamp reflections on a glossy floor, sun spots, and an auto-exposure that overshoots."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(int(rng.choice(4, p=(0.45, 0.3, 0.15, 0.1)))):
        cx, cy = rng.uniform(0, width), rng.uniform(0.1, 1.0) * height
        rx = rng.uniform(0.03, 0.25) * width
        ry = rx * rng.uniform(0.3, 1.0)  # reflections on the floor are squashed by perspective
        spot = np.exp(-(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2))
        image = image + (rng.uniform(40, 220) * spot)[..., None]
    if rng.random() < 0.3:
        image = image * rng.uniform(1.1, 1.6)
    return image


def _motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A straight streak, mostly sideways (the car turns) at up to 8 px per 320 px of width."""
    if rng.random() < 0.4:
        return image
    length = rng.uniform(1.5, 8.0) * image.shape[1] / 320
    angle = rng.uniform(-0.35, 0.35) if rng.random() < 0.7 else rng.uniform(0, np.pi)
    size = 2 * int(np.ceil(length / 2)) + 1
    centre = size // 2
    dx, dy = 0.5 * length * np.cos(angle), 0.5 * length * np.sin(angle)
    kernel = np.zeros((size * 4, size * 4), np.float32)  # drawn 4x larger: sub-pixel streaks
    start = (round((centre - dx) * 4 + 1.5), round((centre - dy) * 4 + 1.5))
    end = (round((centre + dx) * 4 + 1.5), round((centre + dy) * 4 + 1.5))
    cv2.line(kernel, start, end, 1.0, 4, cv2.LINE_AA)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def drive_camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The model car's camera during a drive, milder than ``small_camera``: the signs stay
    readable. Exposure and colour cast, dark corners, a short motion streak (at most 3 px per
    320 px of width), sensor noise and JPEG artefacts."""
    height, width = image.shape[:2]
    gain = rng.uniform(0.8, 1.25)
    cast = rng.uniform(0.94, 1.06, 3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = ((xs / width - 0.5) ** 2 + (ys / height - 0.5) ** 2) * 4  # 2 at the corners
    vignette = 1 - rng.uniform(0.05, 0.3) * (radius / 2) ** 2
    image = image * (gain * cast).astype(np.float32) * vignette[..., None]
    length = rng.uniform(0, 3) * width / 320
    if length >= 1:
        angle = rng.uniform(-0.3, 0.3)
        size = 2 * int(np.ceil(length / 2)) + 1
        kernel = np.zeros((size * 4, size * 4), np.float32)  # drawn 4x larger: sub-pixel streak
        centre, dx, dy = size * 2, 2 * length * np.cos(angle), 2 * length * np.sin(angle)
        start = (round(centre - dx), round(centre - dy))
        end = (round(centre + dx), round(centre + dy))
        cv2.line(kernel, start, end, 1.0, 4, cv2.LINE_AA)
        kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
        image = cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    image = image + rng.normal(0, rng.uniform(1, 5), image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    quality = int(rng.integers(55, 91))
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)
