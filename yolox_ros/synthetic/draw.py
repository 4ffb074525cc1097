"""Sub-pixel drawing primitives shared by the sign painters and the scene backgrounds."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

SHIFT = 4  # fractional bits for cv2 drawing calls (sub-pixel outlines)


def jitter(color: Sequence[int], rng: np.random.Generator, amount: int = 18) -> tuple:
    """``color`` with each channel moved by up to ``amount`` (no two signs are painted alike)."""
    values = np.clip(np.asarray(color) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return tuple(int(v) for v in values)


def fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * (1 << SHIFT)).astype(np.int32)


def fill(canvas: np.ndarray, points: np.ndarray, color) -> None:
    """Fill a polygon given in (fractional) pixel-centre coordinates, anti-aliased."""
    cv2.fillPoly(canvas, [fixed(points)], color, cv2.LINE_AA, SHIFT)


def disc(canvas: np.ndarray, centre, radius: float, color) -> None:
    centre = tuple(int(v) for v in fixed(centre))
    cv2.circle(canvas, centre, round(radius * (1 << SHIFT)), color, -1, cv2.LINE_AA, SHIFT)


def text(canvas: np.ndarray, label: str, centre, width: float, height: float, color) -> None:
    """Draw ``label`` fitted into a ``width`` x ``height`` box centred at ``centre``."""
    font = cv2.FONT_HERSHEY_DUPLEX
    (tw, th), _ = cv2.getTextSize(label, font, 1.0, 1)
    scale = min(width / tw, height / th)
    thickness = max(1, round(scale * 2.2))
    (tw, th), _ = cv2.getTextSize(label, font, scale, thickness)
    origin = (round(centre[0] - tw / 2), round(centre[1] + th / 2))
    cv2.putText(canvas, label, origin, font, scale, color, thickness, cv2.LINE_AA)


def vertical_gradient(h: int, w: int, top, bottom) -> np.ndarray:
    """A float32 ``(h, w, 3)`` image fading from ``top`` to ``bottom``."""
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    column = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return np.broadcast_to(column, (h, w, 3)).copy()
