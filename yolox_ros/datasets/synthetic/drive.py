"""Short "drives": frame sequences of one scene as the car approaches its signs (demo replay)."""

from __future__ import annotations

import numpy as np

from yolox_ros.datasets.synthetic.scenes import render_scene, scene_style
from yolox_ros.datasets.synthetic.signs import CLASS_NAMES, sign_shape


def render_drive(
    seed: int,
    count: int,
    width: int | None = None,
    height: int | None = None,
    theme: str = "street",
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``count`` frames of a drive, each as ``render_scene`` returns it.

    street: a fixed road, four signs drifting outward and growing as the car approaches.
    """
    style = scene_style(theme)
    width, height = width or style.size[0], height or style.size[1]
    return _street_drive(seed, count, width, height)


def _street_drive(seed: int, count: int, width: int, height: int):
    rng = np.random.default_rng(seed)
    focus = np.array([width / 2, height * 0.4] * 2)  # where the road leads: signs move away from it
    layout = []  # (class id, first-frame box): two signs on each side of the road
    for k, class_id in enumerate(rng.permutation(len(CLASS_NAMES))[:4]):
        w, h = sign_shape(int(class_id), rng.uniform(18, 36))
        side = -1 if k % 2 == 0 else 1
        cx = width / 2 + side * (0.14 + 0.13 * (k // 2) + rng.uniform(0, 0.04)) * width
        cy = height * (0.28 + 0.12 * (k // 2) + rng.uniform(0, 0.04))
        layout.append((int(class_id), np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])))
    limits = np.array([width, height] * 2)
    offsets = np.stack([box for _, box in layout]) - focus
    # The largest growth that keeps every sign inside the frame.
    room = np.where(offsets < 0, focus / np.maximum(-offsets, 1e-9), (limits - focus) / offsets)
    final_growth = min(2.2, 0.98 * float(room.min()))
    frames = []
    for t in range(count):
        growth = 1 + (final_growth - 1) * t / max(count - 1, 1)
        signs = [(class_id, focus + (box - focus) * growth) for class_id, box in layout]
        # Same seed every frame: identical background, paint and lighting; only geometry moves.
        frames.append(render_scene(np.random.default_rng(seed), width, height, signs=signs))
    return frames
