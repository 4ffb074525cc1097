"""The ``track`` theme: a model-car track seen by the car's low, wide-angle forward camera.

The floor is a plane seen by a pinhole camera a few centimetres above it. The
camera looks down: modelled as a level camera whose optical axis (the horizon
row) sits high in the frame, so the floor fills most of the image and vertical
poles stay vertical. Floors are indoor tiles or carpet
with taped lane lines, or outdoor asphalt with painted ones. Signs stand beside
the lane on striped poles; a sign is a square in the world, so its image is an
exact perspective quad. The same world renders from any camera pose, which is
how ``drive`` moves the car along the track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from yolox_ros.synthetic.compositing import (
    draw_distractors,
    occlude,
    overlaps,
    place_sign,
)
from yolox_ros.synthetic.draw import disc, fill, vertical_gradient
from yolox_ros.synthetic.signs import TRACK_CLASS_NAMES
from yolox_ros.synthetic.street import sky

# Longest side of a sign in pixels at 320x240; scales with the frame.
TRACK_SIGN_SIZE_RANGE = (8, 80)
NEAR = 0.03  # m: nothing nearer to the lens than this is drawn
STRIPE = 0.04  # m: height of one painted band of a pole

_WHITE_PAINT = (235, 235, 235)
_YELLOW_PAINT = (30, 195, 230)
POLE_STRIPES = (((20, 20, 20), (230, 230, 230)), ((35, 35, 200), (230, 230, 230)))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera ``height`` m above the floor at floor point (x, z), heading ``yaw``.

    World: x to the right, z forward along the track, ``up`` above the floor (m); yaw is
    the heading's angle from +z towards +x. Image: u to the right, v down (pixels).
    """

    focal: float  # pixels
    cx: float  # image column of the optical axis
    horizon: float  # image row of the floor's vanishing line
    height: float
    x: float = 0.0
    z: float = 0.0
    yaw: float = 0.0

    def view(self, x, z):
        """World floor point(s) -> (right, forward) metres from the camera."""
        dx, dz = np.subtract(x, self.x), np.subtract(z, self.z)
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return c * dx - s * dz, s * dx + c * dz

    def world(self, right, forward):
        """Inverse of ``view``."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return self.x + c * right + s * forward, self.z - s * right + c * forward

    def project(self, x, z, up):
        """World point(s) -> (u, v, forward); only meaningful where forward > 0."""
        right, forward = self.view(x, z)
        depth = np.maximum(forward, 1e-9)
        return (
            self.cx + self.focal * right / depth,
            self.horizon + self.focal * (self.height - np.asarray(up)) / depth,
            forward,
        )


@dataclass(frozen=True)
class Track:
    """The floor: a tiled texture, a (possibly curving) road with lane lines, a backdrop.

    The road's centre line is ``x = curvature * z**2 / 2``. ``lines`` holds
    ``(offset from the centre line m, width m, bgr, dash period m or 0 for solid)``.
    """

    texture: np.ndarray  # float32 (n, n, 3), repeated over the floor
    texel: float  # m per texture pixel
    curvature: float
    road_half: float  # m from the centre line to the outer lines
    lines: tuple[tuple[float, float, tuple, float], ...]
    verge: np.ndarray | None  # bgr beyond the road (outdoors); None: the floor goes on
    far: float  # m: the floor ends here (an indoor wall); inf outdoors
    backdrop: np.ndarray  # float32 image behind the floor (wall or sky), frame-fixed

    def centre(self, z):
        return self.curvature * np.square(z) / 2

    def heading(self, z) -> float:
        return math.atan(self.curvature * z)


@dataclass(frozen=True)
class PoleSign:
    """A sign on a striped pole standing at floor point (x, z)."""

    class_id: int
    x: float
    z: float
    size: float  # m, side of the (square) sign
    up: float  # m, height of the sign's centre
    facing: float  # yaw of the cars that read it (its face looks back at them)
    stripes: tuple[tuple, tuple]
    brightness: float
    base: float = 0.0  # m, side of the white plate the pole stands on (0: none)

    def corners(self) -> np.ndarray:
        """(top-left, top-right, bottom-right, bottom-left) as world (x, z, up), 4x3."""
        right = np.array([math.cos(self.facing), -math.sin(self.facing)]) * self.size / 2
        half = self.size / 2
        return np.array(
            [
                [self.x - right[0], self.z - right[1], self.up + half],
                [self.x + right[0], self.z + right[1], self.up + half],
                [self.x + right[0], self.z + right[1], self.up - half],
                [self.x - right[0], self.z - right[1], self.up - half],
            ]
        )


# --------------------------------------------------------------------------- the world
def _texture(rng: np.random.Generator, indoor: bool) -> tuple[np.ndarray, float]:
    """A repeating floor texture (tiles or carpet indoors, asphalt outdoors), its texel size."""
    n = 64
    kind = ("tiles" if rng.random() < 0.55 else "carpet") if indoor else "asphalt"
    grain = rng.normal(0, 1, (n, n, 1)).astype(np.float32)
    if kind == "tiles":
        base = rng.uniform(150, 230) * rng.uniform(0.9, 1.05, 3)
        per_tile = 16  # texels, 4 x 4 tiles per table
        gains = np.kron(rng.uniform(0.93, 1.07, (4, 4)), np.ones((per_tile, per_tile)))
        texture = base * gains[..., None] + 3 * grain
        grout = (np.arange(n) % per_tile) == 0
        texture[grout] = texture[:, grout] = base * rng.uniform(0.6, 0.85)
        return texture.astype(np.float32), rng.uniform(0.2, 0.6) / per_tile
    if kind == "carpet":
        base = rng.uniform(40, 160, 3)
        grain = cv2.GaussianBlur(grain, (0, 0), 0.7)[..., None] * 3
        return (base + rng.uniform(8, 16) * grain).astype(np.float32), rng.uniform(0.003, 0.008)
    base = rng.uniform(55, 110) + np.array([rng.uniform(0, 10), 0, 0])
    speckles = (rng.random((n, n, 1)) < 0.04) * rng.uniform(-40, 40, (n, n, 1))
    return (base + 12 * grain + speckles).astype(np.float32), rng.uniform(0.006, 0.015)


def _lines(rng: np.random.Generator, road_half: float) -> tuple:
    """Two outer lines and maybe a dashed centre line (two lanes), white or yellow."""
    width = rng.uniform(0.02, 0.05)
    edge = _YELLOW_PAINT if rng.random() < 0.3 else _WHITE_PAINT
    lines = [(-road_half, width, edge, 0.0), (road_half, width, _WHITE_PAINT, 0.0)]
    if rng.random() < 0.5:
        centre = _YELLOW_PAINT if rng.random() < 0.4 else _WHITE_PAINT
        lines.append((0.0, width, centre, rng.uniform(0.15, 0.5)))
    return tuple(lines)


def _wall(rng: np.random.Generator, height: int, width: int, floor_row: float) -> np.ndarray:
    """An indoor wall: doors, cupboards and windows standing on the floor line, a skirting."""
    colour = rng.uniform(150, 235) * rng.uniform(0.9, 1.05, 3)
    image = vertical_gradient(height, width, colour * 0.85, colour)
    for _ in range(int(rng.integers(0, 5))):
        x0 = rng.uniform(-0.1, 1.0) * width
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.2, 1.2) * max(floor_row, 1)
        shade = tuple(float(c) for c in rng.uniform(30, 240, 3))
        cv2.rectangle(
            image, (int(x0), int(floor_row - h)), (int(x0 + w), int(floor_row)), shade, -1
        )
    skirting = max(1, round(0.004 * width))
    cv2.rectangle(
        image,
        (0, int(floor_row) - skirting),
        (width, int(floor_row)),
        tuple(float(c) for c in rng.uniform(20, 240) * np.ones(3)),
        -1,
    )
    return image


@dataclass(frozen=True)
class Lens:
    """The ranges a random track draws its camera from."""

    hfov: tuple[float, float]  # degrees, horizontal field of view
    horizon: tuple[float, float]  # image row of the horizon, as a share of the frame height
    height: tuple[float, float]  # m above the floor


# The random scenes' camera: wide-angle, looking down (the horizon high in the frame).
WIDE_LENS = Lens(hfov=(95, 125), horizon=(0.1, 0.35), height=(0.1, 0.25))


def random_track(
    rng: np.random.Generator,
    height: int,
    width: int,
    lens: Lens = WIDE_LENS,
    road_half_range: tuple[float, float] = (0.25, 0.45),
    max_curvature: float = 0.5,
    far_range: tuple[float, float] = (2.5, 10),
) -> tuple[Track, Camera]:
    """A random track and the car's camera on it (at z = 0, in its lane, roughly aligned).

    The ranges only scale the draws: every choice takes the same draws from ``rng``.
    """
    indoor = rng.random() < 0.6
    texture, texel = _texture(rng, indoor)
    hfov = math.radians(rng.uniform(*lens.hfov))
    focal = width / 2 / math.tan(hfov / 2)
    horizon = height * rng.uniform(*lens.horizon)
    camera_height = rng.uniform(*lens.height)
    road_half = rng.uniform(*road_half_range)
    lines = _lines(rng, road_half)
    curvature = 0.0 if rng.random() < 0.4 else rng.uniform(-max_curvature, max_curvature)
    if indoor:
        far = rng.uniform(*far_range)
        backdrop = _wall(rng, height, width, horizon + focal * camera_height / far)
        verge = None
    else:
        far = math.inf
        backdrop = sky(rng, height, width, int(horizon))
        grass = (rng.uniform(20, 70), rng.uniform(80, 150), rng.uniform(40, 100))
        verge = np.array(grass if rng.random() < 0.6 else rng.uniform(120, 200) * np.ones(3))
    track = Track(texture, texel, curvature, road_half, lines, verge, far, backdrop)
    # Two lanes: the car keeps right of the centre line; one lane: anywhere near its middle.
    lane = road_half / 2 if len(lines) == 3 else 0.0
    camera = Camera(
        focal,
        width / 2,
        horizon,
        camera_height,
        x=lane + rng.uniform(-0.35, 0.35) * road_half / (2 if lane else 1),
        yaw=rng.uniform(-0.25, 0.25),
    )
    return track, camera


# --------------------------------------------------------------------------- drawing
def _box_coverage(offset, half_width, footprint):
    """Fraction of a pixel ``footprint`` wide, centred ``offset`` from a band's centre, that
    the band of half width ``half_width`` covers (box-filtered, so thin far lines fade)."""
    offset = np.abs(offset)
    overlap = np.minimum(offset + footprint / 2, half_width) - np.maximum(
        offset - footprint / 2, -half_width
    )
    return np.clip(overlap / footprint, 0, 1)


def draw_floor(track: Track, camera: Camera, height: int, width: int) -> np.ndarray:
    """The float32 frame: backdrop, then every pixel row below the floor's far end."""
    image = track.backdrop.copy()
    far_row = camera.horizon + camera.focal * camera.height / track.far
    first = max(0, math.floor(far_row + 0.5))
    if first >= height:
        return image
    rows = np.arange(first, height, dtype=np.float64)[:, None] + 0.5  # pixel centres
    cols = np.arange(width, dtype=np.float64)[None, :] + 0.5
    forward = camera.focal * camera.height / (rows - camera.horizon)
    right = (cols - camera.cx) * forward / camera.focal
    x, z = camera.world(right, forward)
    across = forward / camera.focal  # m of floor one pixel spans sideways
    along = forward * across / camera.height  # ... and in depth
    n = track.texture.shape[0]
    sample = cv2.remap(
        track.texture,
        np.mod(x / track.texel, n).astype(np.float32),
        np.mod(z / track.texel, n).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP,
    )
    mean = track.texture.mean(axis=(0, 1))
    detail = 1 / (1 + np.maximum(across, along) / track.texel)  # far texture fades to its mean
    floor = mean + (sample - mean) * detail[..., None]
    lateral = x - track.centre(z)
    if track.verge is not None:
        # An asphalt shoulder of 0.15 m beyond the outer lines, then grass or pavement.
        beyond = np.clip((np.abs(lateral) - track.road_half - 0.15) / across + 0.5, 0, 1)
        verge = track.verge + 0.5 * (sample - mean) * detail[..., None]
        floor += (verge - floor) * beyond[..., None]
    for offset, line_width, colour, dash in track.lines:
        cover = _box_coverage(lateral - offset, line_width / 2, across)
        if dash:
            on = (np.mod(z / dash, 1) < 0.5).astype(np.float64)
            cover *= on + (0.5 - on) * np.clip(along / (dash / 2), 0, 1)
        floor += (np.asarray(colour, np.float64) - floor) * cover[..., None]
    image[first:] = floor
    return image


def _draw_pole(
    image: np.ndarray, camera: Camera, x, z, top: float, stripes, base: float = 0.0
) -> None:
    """A vertical pole of ``STRIPE`` m bands alternating the two ``stripes`` colours, from
    the floor to ``top`` m; with ``base`` > 0, standing on a white square plate that wide."""
    u, _, forward = camera.project(x, z, 0.0)
    if forward <= NEAR:
        return
    if base > 0:
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * base / 2
        bu, bv, bf = camera.project(x + corners[:, 0], z + corners[:, 1], 0.0)
        if bf.min() > NEAR:
            fill(image, np.stack([bu, bv], axis=1) - 0.5, _WHITE_PAINT)
    half = max(0.5, camera.focal * 0.006 / forward)
    heights = np.append(np.arange(0, top, STRIPE), top)
    _, rows, _ = camera.project(x, z, heights)
    for k in range(len(heights) - 1):
        band = np.array(
            [
                [u - half, rows[k + 1]],
                [u + half, rows[k + 1]],
                [u + half, rows[k]],
                [u - half, rows[k]],
            ]
        )
        fill(image, band - 0.5, stripes[k % 2])


def draw_pole_sign(
    image: np.ndarray, camera: Camera, sign: PoleSign, rng: np.random.Generator
) -> np.ndarray | None:
    """Draw a sign and its pole; its clipped box, or None when nothing of it is in view."""
    corners = sign.corners()
    u, v, forward = camera.project(corners[:, 0], corners[:, 1], corners[:, 2])
    if forward.min() <= NEAR:
        return None
    quad = np.stack([u, v], axis=1)
    height, width = image.shape[:2]
    low, high = quad.min(axis=0), quad.max(axis=0)
    if high[0] - low[0] < 2 or high[1] - low[1] < 2:
        return None
    if min(high[0], width) - max(low[0], 0) < 2 or min(high[1], height) - max(low[1], 0) < 2:
        return None
    _draw_pole(image, camera, sign.x, sign.z, sign.up - sign.size / 2, sign.stripes, sign.base)
    return place_sign(image, sign.class_id, quad, rng, sign.brightness, theme="track")


def _draw_floor_objects(
    image: np.ndarray, camera: Camera, rng: np.random.Generator, count: int
) -> None:
    """Things on the floor that are not signs: cones, bare striped poles, balls."""
    for _ in range(count):
        forward = math.exp(rng.uniform(math.log(0.15), math.log(3.0)))
        right = rng.uniform(-1.2, 1.2) * forward
        x, z = camera.world(right, forward)
        kind = rng.integers(0, 3)
        if kind == 0:  # traffic cone with a white band
            size = rng.uniform(0.04, 0.12)
            u, v, _ = camera.project(x, z, np.array([0.0, 0.45, 0.65, 1.0]) * size)
            u, v = u - 0.5, v - 0.5  # fill takes pixel-centre coordinates
            half = camera.focal * size * 0.35 / forward  # at the base; narrows linearly
            fill(
                image,
                np.array([[u - half, v[0]], [u + half, v[0]], [u, v[3]]]),
                (rng.uniform(0, 40), rng.uniform(90, 150), rng.uniform(220, 255)),
            )
            band = [[u - half * 0.55, v[1]], [u + half * 0.55, v[1]]]
            band += [[u + half * 0.35, v[2]], [u - half * 0.35, v[2]]]
            fill(image, np.array(band), (235, 235, 235))
        elif kind == 1:
            stripes = POLE_STRIPES[int(rng.integers(0, 2))]
            _draw_pole(image, camera, x, z, rng.uniform(0.1, 0.4), stripes)
        else:  # a ball: round and red or blue like a sign, but not one
            radius = rng.uniform(0.02, 0.06)
            u, v, _ = camera.project(x, z, radius)
            colour = (35, 30, 200) if rng.random() < 0.5 else (165, 85, 15)
            disc(image, (u - 0.5, v - 0.5), camera.focal * radius / forward, colour)


def background(rng: np.random.Generator, height: int, width: int):
    """A random track from the car; returns ``(image, (track, camera))``."""
    track, camera = random_track(rng, height, width)
    return draw_floor(track, camera, height, width), (track, camera)


def _random_size(rng: np.random.Generator, width: int, height: int) -> float:
    """Log-uniform over TRACK_SIGN_SIZE_RANGE scaled to the frame."""
    scale = min(width / 320, height / 240)
    low, high = (s * scale for s in TRACK_SIGN_SIZE_RANGE)
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def random_signs(
    image: np.ndarray,
    view: tuple[Track, Camera],
    count_range: tuple[int, int],
    rng: np.random.Generator,
    boxes: list[np.ndarray],
    class_ids: list[int],
) -> None:
    """Distractors, then non-overlapping signs on poles beside the road, far to near."""
    track, camera = view
    height, width = image.shape[:2]
    draw_distractors(image, rng, int(rng.integers(0, 3)))
    _draw_floor_objects(image, camera, rng, int(rng.integers(0, 5)))
    planned: list[tuple[PoleSign, np.ndarray]] = []
    for _ in range(int(rng.integers(count_range[0], count_range[1] + 1))):
        placed = _random_pole_sign(rng, track, camera, width, height, [b for _, b in planned])
        if placed is not None:
            planned.append(placed)
    planned.sort(key=lambda item: -camera.view(item[0].x, item[0].z)[1])  # far first
    for sign, _ in planned:
        box = draw_pole_sign(image, camera, sign, rng)
        boxes.append(box)
        class_ids.append(sign.class_id)
        if rng.random() < 0.1:
            occlude(image, box, rng)


def _random_pole_sign(
    rng: np.random.Generator,
    track: Track,
    camera: Camera,
    width: int,
    height: int,
    taken: list[np.ndarray],
) -> tuple[PoleSign, np.ndarray] | None:
    """A sign of random class and size fully in the frame and clear of ``taken`` boxes, and
    its rough box; beside the road where it fits (a near, large sign may only fit over the
    lane: the car is about to pass it). None when 20 tries found no room."""
    class_id = int(rng.integers(0, len(TRACK_CLASS_NAMES)))
    size = _random_size(rng, width, height)
    metres = rng.uniform(0.07, 0.15)
    forward = camera.focal * metres / size
    margin = 0.1 * size + 1
    floor_row = camera.horizon + camera.focal * camera.height / forward
    top, bottom = size / 2 + margin, min(height - size / 2 - margin, floor_row - size / 2 - 1)
    if bottom < top:
        return None
    _, z = camera.world(0.0, forward)
    for _attempt in range(20):
        side = 1 if rng.random() < 0.5 else -1
        edge_x = track.centre(z) + side * (track.road_half + rng.uniform(0.03, 0.3))
        edge_u = camera.project(edge_x, z, 0.0)[0]
        lo, hi = size / 2 + margin, width - size / 2 - margin
        if side > 0:
            lo = min(max(lo, edge_u + size / 2, width / 2), hi)
        else:
            hi = max(min(hi, edge_u - size / 2, width / 2), lo)
        u, v = rng.uniform(lo, hi), rng.uniform(top, bottom)
        x, z = camera.world((u - camera.cx) * forward / camera.focal, forward)
        up = camera.height + (camera.horizon - v) * forward / camera.focal
        sign = PoleSign(
            class_id=class_id,
            x=float(x),
            z=float(z),
            size=metres,
            up=float(up),
            facing=camera.yaw + rng.uniform(-0.35, 0.35),
            stripes=POLE_STRIPES[int(rng.integers(0, 2))],
            brightness=rng.uniform(0.7, 1.15),
        )
        u, v, _ = camera.project(*sign.corners().T)
        box = np.array([u.min(), v.min(), u.max(), v.max()])
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
        if inside and not overlaps(box, taken, 2.0):
            return sign, box
    return None


def moved(camera: Camera, track: Track, z: float, lane: float) -> Camera:
    """``camera`` driven to ``z``, ``lane`` m right of the road's centre line, along the road."""
    return replace(camera, x=float(track.centre(z)) + lane, z=z, yaw=track.heading(z))
