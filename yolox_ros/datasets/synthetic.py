"""Deterministic synthetic traffic scenes with exact traffic-sign boxes.

Everything is drawn procedurally (numpy + OpenCV only, no downloads, no
PyTorch), so the package can train, test and demo its default traffic-sign
model without any external data. The same seed always gives the same pixels.

Boxes are ``x1, y1, x2, y2`` in pixel-edge coordinates: pixel ``i`` covers
``[i, i + 1)``, so a sign filling columns 10..19 has ``x1 = 10, x2 = 20``. Each
box is the exact extent of the sign's outline after its perspective warp
(computed from the outline polygon, not from thresholded pixels); occluders
drawn over a sign do not shrink its box.

Dataset layout written by ``python -m yolox_ros synthetic --out DIR``::

    DIR/classes.txt            one class name per line (line i = class id i)
    DIR/images/000000.jpg      BGR scenes
    DIR/labels/000000.txt      one line per sign: "class_id x1 y1 x2 y2" (pixels)

``--drive`` writes a short sequence of frames instead (a car approaching its
signs), used as the demo sequence of the image replay node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "stop",
    "yield",
    "speed_limit",
    "no_entry",
    "pedestrian_crossing",
    "traffic_light",
    "parking",
)
STOP, YIELD, SPEED_LIMIT, NO_ENTRY, PEDESTRIAN_CROSSING, TRAFFIC_LIGHT, PARKING = range(7)

SIGN_SIZE_RANGE = (12, 160)  # longest side of a sign in scene pixels
SUPERSAMPLING = 4  # signs are drawn this much larger, then area-downsampled (anti-aliasing)
_SHIFT = 4  # fractional bits for cv2 drawing calls (sub-pixel outlines)

# BGR colours of sign paint; jittered per sign.
_RED = (35, 30, 200)
_WHITE = (238, 238, 238)
_BLUE = (165, 85, 15)
_BLACK = (25, 25, 25)
_HOUSING = (40, 40, 40)
_LAMPS = ((40, 40, 230), (20, 175, 250), (110, 210, 40))  # red, amber, green


# --------------------------------------------------------------------------- outlines
def _regular_polygon(sides: int, phase: float) -> np.ndarray:
    """A regular polygon stretched to touch all four sides of the unit square."""
    angles = phase + np.arange(sides) * (2 * math.pi / sides)
    points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points -= points.min(axis=0)
    return points / points.max(axis=0)


_SQUARE = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
_OCTAGON = _regular_polygon(8, math.pi / 8)
_DISC = _regular_polygon(96, 0.0)  # has vertices at 0/90/180/270 degrees: touches the square
_INVERTED_TRIANGLE = np.array([[0, 0], [1, 0], [0.5, 1]], np.float64)

# Outline (normalised to the sign's own box) and width / height of every class.
_OUTLINES = {
    STOP: _OCTAGON,
    YIELD: _INVERTED_TRIANGLE,
    SPEED_LIMIT: _DISC,
    NO_ENTRY: _DISC,
    PEDESTRIAN_CROSSING: _SQUARE,
    TRAFFIC_LIGHT: _SQUARE,
    PARKING: _SQUARE,
}
_ASPECTS = {YIELD: 1 / 0.88, TRAFFIC_LIGHT: 0.4}


def sign_shape(class_id: int, size: float) -> tuple[float, float]:
    """Width and height (pixels) of a sign of ``class_id`` whose longest side is ``size``."""
    _check_class_id(class_id)
    aspect = _ASPECTS.get(class_id, 1.0)
    return (size, size / aspect) if aspect >= 1 else (size * aspect, size)


def _check_class_id(class_id: int) -> None:
    if not 0 <= int(class_id) < len(CLASS_NAMES):
        raise ValueError(f"class_id must be in 0..{len(CLASS_NAMES) - 1}, got {class_id!r}")


# --------------------------------------------------------------------------- sign painting
def _jitter(color: Sequence[int], rng: np.random.Generator, amount: int = 18) -> tuple:
    values = np.clip(np.asarray(color) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return tuple(int(v) for v in values)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)


def _fill(canvas: np.ndarray, points: np.ndarray, color) -> None:
    cv2.fillPoly(canvas, [_fixed(points)], color, cv2.LINE_AA, _SHIFT)


def _inset(outline: np.ndarray, w: float, h: float, margin: float) -> np.ndarray:
    """The outline (in canvas pixels) shrunk towards its centroid by ``margin`` pixels."""
    points = outline * (w, h)
    centre = points.mean(axis=0)
    radius = np.linalg.norm(points - centre, axis=1).max()
    return centre + (points - centre) * max(radius - margin, 0) / radius


def _text(canvas: np.ndarray, text: str, centre, width: float, height: float, color) -> None:
    """Draw ``text`` fitted into a ``width`` x ``height`` box centred at ``centre``."""
    font = cv2.FONT_HERSHEY_DUPLEX
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(width / tw, height / th)
    thickness = max(1, round(scale * 2.2))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = (round(centre[0] - tw / 2), round(centre[1] + th / 2))
    cv2.putText(canvas, text, origin, font, scale, color, thickness, cv2.LINE_AA)


def _paint_stop(canvas, w, h, rng):
    _fill(canvas, _OCTAGON * (w, h), _jitter(_WHITE, rng))
    _fill(canvas, _inset(_OCTAGON, w, h, 0.06 * w), _jitter(_RED, rng))
    _text(canvas, "STOP", (w / 2, h / 2), 0.72 * w, 0.3 * h, _jitter(_WHITE, rng))


def _paint_yield(canvas, w, h, rng):
    _fill(canvas, _INVERTED_TRIANGLE * (w, h), _jitter(_RED, rng))
    _fill(canvas, _inset(_INVERTED_TRIANGLE, w, h, 0.2 * w), _jitter(_WHITE, rng))


def _paint_speed_limit(canvas, w, h, rng):
    _fill(canvas, _DISC * (w, h), _jitter(_RED, rng))
    _fill(canvas, _inset(_DISC, w, h, 0.11 * w), _jitter(_WHITE, rng))
    digits = str(rng.choice(["20", "30", "40", "50", "60", "70", "80", "90", "100", "120"]))
    _text(canvas, digits, (w / 2, h / 2), 0.58 * w, 0.4 * h, _jitter(_BLACK, rng, 10))


def _paint_no_entry(canvas, w, h, rng):
    _fill(canvas, _DISC * (w, h), _jitter(_RED, rng))
    bar = np.array([[0.16, 0.41], [0.84, 0.41], [0.84, 0.59], [0.16, 0.59]]) * (w, h)
    _fill(canvas, bar, _jitter(_WHITE, rng))


def _disc(canvas: np.ndarray, centre, radius: float, color) -> None:
    centre = tuple(int(v) for v in _fixed(centre))
    cv2.circle(canvas, centre, round(radius * (1 << _SHIFT)), color, -1, cv2.LINE_AA, _SHIFT)


def _paint_pedestrian_crossing(canvas, w, h, rng):
    _fill(canvas, _SQUARE * (w, h), _jitter(_BLUE, rng))
    _fill(canvas, np.array([[0.5, 0.1], [0.92, 0.86], [0.08, 0.86]]) * (w, h), _jitter(_WHITE, rng))
    black = _jitter(_BLACK, rng, 10)
    for x0 in (0.3, 0.42, 0.54, 0.66):  # zebra stripes
        stripe = np.array([[x0, 0.76], [x0 + 0.07, 0.76], [x0 + 0.05, 0.82], [x0 - 0.02, 0.82]])
        _fill(canvas, stripe * (w, h), black)
    head = (round(0.52 * w), round(0.36 * h))
    cv2.circle(canvas, head, max(1, round(0.055 * w)), black, -1, cv2.LINE_AA)
    neck, hip = (0.51, 0.44), (0.48, 0.58)
    limbs = (
        (neck, hip),
        (hip, (0.4, 0.72)),
        (hip, (0.56, 0.72)),
        (neck, (0.4, 0.5)),
        (neck, (0.6, 0.52)),
    )
    for start, end in limbs:
        start_px = tuple(int(v) for v in np.round(np.multiply(start, (w, h))))
        end_px = tuple(int(v) for v in np.round(np.multiply(end, (w, h))))
        cv2.line(canvas, start_px, end_px, black, max(1, round(0.055 * w)), cv2.LINE_AA)


def _paint_traffic_light(canvas, w, h, rng):
    _fill(canvas, _SQUARE * (w, h), _jitter(_HOUSING, rng, 12))
    lit = int(rng.integers(0, 3))
    radius = 0.34 * w
    for i, color in enumerate(_LAMPS):
        centre = (w / 2, h * (0.2 + 0.3 * i))
        if i == lit:  # the glow makes a lit lamp stand out like a real one
            _disc(canvas, centre, 1.2 * radius, tuple(np.asarray(color) * 0.5 + 20))
            _disc(canvas, centre, radius, color)
        else:
            _disc(canvas, centre, radius, tuple(np.asarray(color) * 0.22))


def _paint_parking(canvas, w, h, rng):
    _fill(canvas, _SQUARE * (w, h), _jitter(_WHITE, rng))
    _fill(canvas, _inset(_SQUARE, w, h, 0.05 * w), _jitter(_BLUE, rng))
    _text(canvas, "P", (w / 2, h / 2), 0.6 * w, 0.62 * h, _jitter(_WHITE, rng))


_PAINTERS: dict[int, Callable] = {
    STOP: _paint_stop,
    YIELD: _paint_yield,
    SPEED_LIMIT: _paint_speed_limit,
    NO_ENTRY: _paint_no_entry,
    PEDESTRIAN_CROSSING: _paint_pedestrian_crossing,
    TRAFFIC_LIGHT: _paint_traffic_light,
    PARKING: _paint_parking,
}


def render_sign(
    class_id: int, size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one sign upright, its longest side ``size`` pixels.

    Returns ``(bgr uint8 (h, w, 3), alpha float32 (h, w) in [0, 1])``; the sign's
    outline touches all four sides of the image.
    """
    _check_class_id(class_id)
    if not size >= 2:
        raise ValueError(f"sign size must be at least 2 pixels, got {size!r}")
    w, h = sign_shape(class_id, size)
    out_w, out_h = max(2, round(w)), max(2, round(h))
    big_w, big_h = out_w * SUPERSAMPLING, out_h * SUPERSAMPLING
    canvas = np.zeros((big_h, big_w, 3), np.uint8)
    _PAINTERS[class_id](canvas, big_w, big_h, rng)
    mask = np.zeros((big_h, big_w), np.uint8)
    _fill(mask, _OUTLINES[class_id] * (big_w, big_h), 255)
    bgr = cv2.resize(canvas, (out_w, out_h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return bgr, alpha


# --------------------------------------------------------------------------- compositing
def _edge_homography(quad: np.ndarray, w: int, h: int) -> np.ndarray:
    """Homography from sign pixel centres to scene pixel centres, the sign's edges onto ``quad``."""
    unit_to_quad = cv2.getPerspectiveTransform(_SQUARE.astype(np.float32), quad.astype(np.float32))
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


def _place_sign(
    scene: np.ndarray,
    class_id: int,
    quad: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 1.0,
) -> np.ndarray:
    """Draw a sign with its box corners on ``quad`` (4x2, scene pixel edges); return its box."""
    size = float(np.max(quad.max(axis=0) - quad.min(axis=0)))
    bgr, alpha = render_sign(class_id, max(size, 2.0), rng)
    if brightness != 1.0:
        bgr = np.clip(bgr.astype(np.float32) * brightness, 0, 255).astype(np.uint8)
    homography = _edge_homography(quad, bgr.shape[1], bgr.shape[0])
    _composite(scene, bgr, alpha, homography)
    unit_to_quad = cv2.getPerspectiveTransform(_SQUARE.astype(np.float32), quad.astype(np.float32))
    outline = _project(_OUTLINES[class_id], unit_to_quad)
    height, width = scene.shape[:2]
    box = np.concatenate([outline.min(axis=0), outline.max(axis=0)])
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def _random_quad(centre: np.ndarray, w: float, h: float, rng: np.random.Generator) -> np.ndarray:
    """Corners of a ``w`` x ``h`` rectangle, slightly rotated and in perspective."""
    angle = math.radians(rng.uniform(-8, 8))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = (_SQUARE - 0.5) * (w, h)
    corners = corners @ rotation.T + rng.uniform(-0.06, 0.06, (4, 2)) * max(w, h)
    return corners + centre


# --------------------------------------------------------------------------- background
def _vertical_gradient(h: int, w: int, top, bottom) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    column = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return np.broadcast_to(column, (h, w, 3)).copy()


def _draw_background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, float]:
    """Sky, buildings/trees, verge, road with lane marks; returns ``(image, horizon_y)``."""
    horizon = int(height * rng.uniform(0.3, 0.55))
    sky_top = np.array([rng.uniform(150, 235), rng.uniform(110, 190), rng.uniform(60, 150)])
    image = _vertical_gradient(height, width, sky_top, sky_top * 0.6 + 90)
    for _ in range(int(rng.integers(2, 9))):  # buildings and tree masses on the skyline
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
    ground = np.array([rng.uniform(40, 90), rng.uniform(90, 150), rng.uniform(60, 120)])
    image[horizon:] = _vertical_gradient(height - horizon, width, ground * 0.7, ground)
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
    _fill(image, road, (grey, grey, grey + rng.uniform(-8, 8)))
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


def _draw_distractors(image: np.ndarray, rng: np.random.Generator, count: int) -> None:
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
            _fill(
                image,
                np.stack([cx + rng.uniform(-s, s, n), cy + rng.uniform(-s, s, n)], axis=1),
                colour,
            )


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


def _occlude(image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
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


def _finish(image: np.ndarray, rng: np.random.Generator, blur: bool) -> np.ndarray:
    """Global lighting, colour cast, sensor noise and (optionally) lens blur."""
    gain = rng.uniform(0.6, 1.3)
    cast = rng.uniform(0.92, 1.08, 3)
    x = np.linspace(-1, 1, image.shape[1], dtype=np.float32)
    vignette = 1 - rng.uniform(0, 0.25) * x[None, :, None] ** 2
    image = image * (gain * cast).astype(np.float32) * vignette + rng.normal(
        0, rng.uniform(0, 5), image.shape
    ).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if blur and rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.2))
    return image


# --------------------------------------------------------------------------- scenes
def _overlaps(box: np.ndarray, boxes: list[np.ndarray], margin: float) -> bool:
    for other in boxes:
        if (
            box[0] < other[2] + margin
            and other[0] < box[2] + margin
            and box[1] < other[3] + margin
            and other[1] < box[3] + margin
        ):
            return True
    return False


def _random_size(rng: np.random.Generator, limit: float) -> float:
    """Log-uniform over SIGN_SIZE_RANGE (far signs are as common as near ones)."""
    low, high = SIGN_SIZE_RANGE
    high = max(low, min(high, limit))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _placement_quad(placement: Sequence[float] | np.ndarray) -> np.ndarray:
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


def render_scene(
    rng: np.random.Generator,
    width: int = 640,
    height: int = 480,
    num_signs: tuple[int, int] = (1, 6),
    signs: Sequence[tuple[int, Sequence[float] | np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one road scene with traffic signs.

    Without ``signs``, ``num_signs[0]..num_signs[1]`` random signs (inclusive)
    are placed at random, slightly rotated and in perspective, some partly
    occluded, among distractor shapes. With ``signs=[(class_id, placement),
    ...]`` exactly those signs are drawn and nothing else: a placement is a
    box ``(x1, y1, x2, y2)`` the upright sign fills, or the 4x2 corners
    (top-left, top-right, bottom-right, bottom-left) its box is warped onto.

    Background, signs and finishing (lighting, noise) draw from separate
    streams of ``rng``, so the same ``rng`` seed gives the same background and
    lighting whatever signs are placed.

    Returns ``(bgr uint8 (height, width, 3), boxes float32 (N, 4) x1y1x2y2,
    class_ids int64 (N,))``.
    """
    if width < 32 or height < 32:
        raise ValueError(f"scene must be at least 32x32 pixels, got {width}x{height}")
    background_rng, sign_rng, finish_rng = (
        np.random.default_rng(int(seed)) for seed in rng.integers(0, 2**63 - 1, 3)
    )
    image, horizon = _draw_background(background_rng, height, width)
    boxes: list[np.ndarray] = []
    class_ids: list[int] = []
    if signs is not None:
        for class_id, placement in signs:
            _check_class_id(class_id)
            quad = _placement_quad(placement)
            boxes.append(_place_sign(image, int(class_id), quad, sign_rng))
            class_ids.append(int(class_id))
    else:
        low, high = num_signs
        if not 0 <= low <= high:
            raise ValueError(
                f"num_signs must be (low, high) with 0 <= low <= high, got {num_signs!r}"
            )
        _draw_random_signs(image, horizon, (low, high), sign_rng, boxes, class_ids)
    image = _finish(image, finish_rng, blur=signs is None)
    return (
        image,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(class_ids, np.int64),
    )


def _draw_random_signs(
    image: np.ndarray,
    horizon: float,
    count_range: tuple[int, int],
    rng: np.random.Generator,
    boxes: list[np.ndarray],
    class_ids: list[int],
) -> None:
    """Distractors, then non-overlapping random signs (some on poles), then occluders."""
    height, width = image.shape[:2]
    _draw_distractors(image, rng, int(rng.integers(0, 6)))
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
            quad = _random_quad(centre, w, h, rng)
            rough = np.concatenate([quad.min(axis=0), quad.max(axis=0)])
            if not _overlaps(rough, boxes, 2.0):
                break
        else:
            continue
        if centre[1] < horizon + 0.3 * (height - horizon) and rng.random() < 0.7:
            _draw_pole(image, quad, rng)
        box = _place_sign(image, class_id, quad, rng, brightness=rng.uniform(0.65, 1.15))
        boxes.append(box)
        class_ids.append(class_id)
        if rng.random() < 0.15:
            occluded.append(box)
    for box in occluded:
        _occlude(image, box, rng)


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of a dataset with ``seed`` (random access, stable)."""
    return np.random.default_rng([int(seed), int(index)])


def render_drive(
    seed: int, count: int, width: int = 640, height: int = 480
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A short "drive": fixed road, signs drifting outward and growing as the car approaches.

    Returns ``count`` frames as ``render_scene`` does.
    """
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


# --------------------------------------------------------------------------- files
def write_labels(path: Path, boxes: np.ndarray, class_ids: np.ndarray) -> None:
    lines = [
        f"{int(c)} {b[0]:.2f} {b[1]:.2f} {b[2]:.2f} {b[3]:.2f}"
        for b, c in zip(boxes, class_ids, strict=True)
    ]
    path.write_text("".join(line + "\n" for line in lines))


def write_dataset(
    out: Path, count: int, seed: int, width: int, height: int, jpeg_quality: int = 92
) -> None:
    """Write ``count`` random scenes (scene i from ``scene_rng(seed, i)``) in the dataset layout."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("".join(name + "\n" for name in CLASS_NAMES))
    for index in range(count):
        image, boxes, class_ids = render_scene(scene_rng(seed, index), width, height)
        stem = f"{index:06d}"
        cv2.imwrite(
            str(out / "images" / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        )
        write_labels(out / "labels" / f"{stem}.txt", boxes, class_ids)


def write_drive(
    out: Path, count: int, seed: int, width: int, height: int, jpeg_quality: int = 80
) -> None:
    """Write a ``render_drive`` sequence as ``frame_0000.jpg``... plus a label file per frame."""
    out.mkdir(parents=True, exist_ok=True)
    for index, (image, boxes, class_ids) in enumerate(render_drive(seed, count, width, height)):
        cv2.imwrite(
            str(out / f"frame_{index:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        )
        write_labels(out / f"frame_{index:04d}.txt", boxes, class_ids)
