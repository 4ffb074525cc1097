"""Short "drives": frame sequences of one scene as the car approaches its signs (demo replay)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from yolox_ros.synthetic import track
from yolox_ros.synthetic.camera import drive_camera
from yolox_ros.synthetic.scenes import render_scene, scene_style
from yolox_ros.synthetic.signs import CLASS_NAMES, TRACK_CLASS_NAMES, sign_shape


def render_drive(
    seed: int,
    count: int,
    width: int | None = None,
    height: int | None = None,
    theme: str = "street",
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``count`` frames of a drive, each as ``render_scene`` returns it.

    street: a fixed road, four signs drifting outward and growing as the car approaches.
    track: the VIA model car's view as it drives its lane past signs on striped poles, one
    after another: each grows from about 15 to about 70 px (longer side at 320x240) over
    about 6 frames, then leaves the frame beside the car (see ``_track_drive``).
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


# The VIA car's camera: a forward view, horizon a little above the middle, 16-24 cm up.
DRIVE_LENS = track.Lens(hfov=(60, 80), horizon=(0.38, 0.48), height=(0.16, 0.24))
# Longer side of a sign (pixels at 320x240) when it comes into view, and about when it
# leaves the frame beside the car.
DRIVE_FIRST_SIZE = (13.0, 17.0)
DRIVE_LAST_SIZE = (66.0, 82.0)


def _track_drive(seed: int, count: int, width: int, height: int):
    """The VIA car drives its lane past signs on striped poles, one after another.

    As the real car's camera sees them: a forward camera 16-24 cm up, the signs beside the
    lane (mostly on its right) a little above the camera. Each sign comes into view at
    ``DRIVE_FIRST_SIZE`` (farther away it is not drawn, as if hidden by the bends and
    furniture of a real track), grows as the car nears it and is last whole in the frame at
    about ``DRIVE_LAST_SIZE``; in the next frame it has left the frame beside the car and
    the next sign comes into view (sometimes a frame earlier). The geometry is chosen per
    sign for that: its distance beside the car relative to its size sets where it leaves
    the frame, its height above the camera keeps it under the top edge, and the car's
    constant speed is just high enough that no sign is ever cut by the frame edge. Mild
    camera effects (``drive_camera``) keep the signs readable.
    """
    rng = np.random.default_rng(seed)
    world, camera = track.random_track(
        rng,
        height,
        width,
        lens=DRIVE_LENS,
        road_half_range=(0.22, 0.34),
        max_curvature=0.04,
        far_range=(5.0, 12.0),
    )
    two_lanes = len(world.lines) == 3
    lane = world.road_half / 2 if two_lanes else rng.uniform(-0.1, 0.1) * world.road_half
    scale = min(width / 320, height / 240)
    half_width = width / 2
    classes = [int(c) for c in rng.permutation(len(TRACK_CLASS_NAMES))]
    plans = []  # (sign at z = 0, forward distance it comes into view at, ... it is last whole at)
    for k in range(count // 2 + 2):  # more than the drive can pass
        # Mostly right of the car (as on the VIA tracks); left only on a one-lane road.
        side = -1 if not two_lanes and rng.random() < 0.3 else 1
        beside = world.road_half - side * lane + rng.uniform(0.03, 0.1)  # m from the car
        last = rng.uniform(*DRIVE_LAST_SIZE) * scale
        size = beside / (half_width / last - 0.5)  # so that it is last whole at ``last`` px
        # Sign centre above the camera, in sign sizes: kept under the top edge at ``last``.
        above = rng.uniform(0.25, max(0.3, min(0.7, (camera.horizon - 2) / last - 0.5)))
        first = rng.uniform(*DRIVE_FIRST_SIZE) * scale
        sign = track.PoleSign(
            class_id=classes[k % len(classes)],
            x=side * beside,  # right of the car; placed below
            z=0.0,
            size=size,
            up=camera.height + above * size,
            facing=side * rng.uniform(0.0, 0.3),  # turned a little towards the lane
            stripes=track.POLE_STRIPES[1 if rng.random() < 0.85 else 0],
            brightness=rng.uniform(0.85, 1.1),
            base=size * rng.uniform(0.5, 0.8),
        )
        # Forward distances (m) where it comes into view, where it is last whole (its outer
        # edge on the frame's side; turned, that edge is nearer), and where the next frame
        # must be for it to have left the frame (its inner edge beyond the side).
        across, depth = size / 2 * math.cos(sign.facing), size / 2 * abs(math.sin(sign.facing))
        whole = (camera.focal * (beside + across) / half_width + depth) * 1.02
        gone = camera.focal * (beside - across) / half_width - depth
        plans.append((sign, camera.focal * size / first, whole, gone))
    # The car's constant speed (m per frame): just fast enough that a sign last whole in one
    # frame has left the frame in the next (rather than being cut by its edge); each sign is
    # then in view for about 6 frames.
    jitter = 1.06  # a sign is last whole 0-6 % farther than ``whole``
    step = 1.03 * max(jitter * whole - gone for _, _, whole, gone in plans)
    signs, in_view = [], []  # each sign's (first, last) frame in view
    first_frame = -int(rng.integers(0, 3))  # the first sign may be in view a little already
    for sign, shown, whole, _ in plans:
        if first_frame >= count:
            break
        last_frame = first_frame + max(1, round((shown - whole) / step))
        # Placed from the car's view in the frame it is last whole in (on a curve the road
        # and the car turn a little in between).
        view = track.moved(camera, world, step * last_frame, lane)
        forward = whole * rng.uniform(1.0, jitter)
        for _ in range(20):  # farther while the road's curve still has it cut by the frame
            x, z = view.world(sign.x, forward)
            placed = replace(sign, x=float(x), z=float(z), facing=view.yaw + sign.facing)
            u, v, _ = view.project(*placed.corners().T)
            if u.min() >= 0 and u.max() <= width and v.min() >= 0 and v.max() <= height:
                break
            forward += 0.01 * whole
        signs.append(placed)
        in_view.append((first_frame, last_frame))
        # The next sign comes into view as this one leaves, or a frame before.
        first_frame = last_frame + 1 - int(rng.random() < 0.3)
    # One paint generator per sign and one camera generator, reseeded every frame: each
    # sign keeps its colours and the camera its settings while the car moves.
    paint_seeds = [int(s) for s in rng.integers(0, 2**63 - 1, len(signs))]
    camera_seed = int(rng.integers(0, 2**63 - 1))
    frames = []
    for t in range(count):
        view = track.moved(camera, world, step * t, lane)
        image = track.draw_floor(world, view, height, width)
        boxes, class_ids = [], []
        ahead = [float(view.view(sign.x, sign.z)[1]) for sign in signs]
        for i in sorted(range(len(signs)), key=lambda i: -ahead[i]):  # far first
            if not in_view[i][0] <= t <= in_view[i][1]:
                continue  # not in view yet, or passed
            box = track.draw_pole_sign(image, view, signs[i], np.random.default_rng(paint_seeds[i]))
            if box is not None:
                boxes.append(box)
                class_ids.append(signs[i].class_id)
        image = drive_camera(image, np.random.default_rng(camera_seed))
        frames.append(
            (image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(class_ids, np.int64))
        )
    return frames
