"""Short "drives": frame sequences of one scene as the car approaches its signs (demo replay)."""

from __future__ import annotations

import numpy as np

from yolox_ros.datasets.synthetic import track
from yolox_ros.datasets.synthetic.camera import small_camera
from yolox_ros.datasets.synthetic.scenes import render_scene, scene_style
from yolox_ros.datasets.synthetic.signs import CLASS_NAMES, TRACK_CLASS_NAMES, sign_shape


def render_drive(
    seed: int,
    count: int,
    width: int | None = None,
    height: int | None = None,
    theme: str = "street",
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``count`` frames of a drive, each as ``render_scene`` returns it.

    street: a fixed road, four signs drifting outward and growing as the car approaches.
    track: the model car drives along its lane past five signs on poles, alternately right
    and left of the road; the floor moves, signs grow and leave the frame as they are passed
    (a sign cut by the frame edge keeps its clipped box).
    """
    style = scene_style(theme)
    width, height = width or style.size[0], height or style.size[1]
    drive = _street_drive if theme == "street" else _track_drive
    return drive(seed, count, width, height)


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


def _track_drive(seed: int, count: int, width: int, height: int):
    rng = np.random.default_rng(seed)
    world, camera = track.random_track(rng, height, width)
    lane = camera.x  # the car keeps the lateral place it starts at
    signs = []
    z = rng.uniform(0.8, 1.2)
    for k, class_id in enumerate(rng.permutation(len(TRACK_CLASS_NAMES))[:5]):
        side = 1 if k % 2 == 0 else -1
        size = rng.uniform(0.08, 0.12)
        signs.append(
            track.PoleSign(
                class_id=int(class_id),
                x=float(world.centre(z)) + side * (world.road_half + rng.uniform(0.05, 0.2)),
                z=z,
                size=size,
                up=max(size / 2 + 0.03, camera.height + rng.uniform(-0.03, 0.05)),
                facing=world.heading(z) + rng.uniform(-0.2, 0.2),
                stripes=track.POLE_STRIPES[int(rng.integers(0, 2))],
                brightness=rng.uniform(0.85, 1.1),
            )
        )
        z += rng.uniform(0.5, 0.8)
    travel = signs[-1].z - 0.35  # the last sign ends near; the others have been passed
    # One paint generator per sign and one camera generator, reseeded every frame: each
    # sign keeps its colours and the camera its settings while the car moves.
    paint_seeds = [int(s) for s in rng.integers(0, 2**63 - 1, len(signs))]
    camera_seed = int(rng.integers(0, 2**63 - 1))
    frames = []
    for t in range(count):
        view = track.moved(camera, world, travel * t / max(count - 1, 1), lane)
        image = track.draw_floor(world, view, height, width)
        boxes, class_ids = [], []
        order = sorted(range(len(signs)), key=lambda i: -view.view(signs[i].x, signs[i].z)[1])
        for i in order:  # far first: a near sign or pole hides a far one
            box = track.draw_pole_sign(image, view, signs[i], np.random.default_rng(paint_seeds[i]))
            if box is not None:
                boxes.append(box)
                class_ids.append(signs[i].class_id)
        image = small_camera(image, np.random.default_rng(camera_seed), effects=True)
        frames.append(
            (image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(class_ids, np.int64))
        )
    return frames
