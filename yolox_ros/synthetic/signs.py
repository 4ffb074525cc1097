"""The sign sets of each theme and how every sign is painted.

A sign is painted on a canvas ``SUPERSAMPLING`` times larger than requested and
area-downsampled (anti-aliasing); its outline, normalised to the sign's own box,
gives both the alpha mask and, once warped into a scene, the exact box.

Themes:

* ``street``: road signs of a city street (the shipped default model's classes).
* ``track``: the six signs of the VIA / FPT Digital Race model-car track. Left and
  right variants are painted once and mirrored, so each pair is exactly a mirror image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from yolox_ros.synthetic.draw import disc, fill, jitter, text

SUPERSAMPLING = 4  # signs are drawn this much larger, then area-downsampled (anti-aliasing)

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


SQUARE = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
_OCTAGON = _regular_polygon(8, math.pi / 8)
_DISC = _regular_polygon(96, 0.0)  # has vertices at 0/90/180/270 degrees: touches the square
_INVERTED_TRIANGLE = np.array([[0, 0], [1, 0], [0.5, 1]], np.float64)

# Arrows of the track signs in the sign's unit box, shaped as on the printed VIA signs: a
# thin stem rising from the disc's lower edge, for a turn bending over to a head pointing
# right (the left signs are their mirror images).
_TURN_ARROW = np.array(
    [
        [0.28, 1.0],
        [0.28, 0.28],
        [0.60, 0.28],
        [0.60, 0.17],
        [0.81, 0.345],
        [0.60, 0.52],
        [0.60, 0.40],
        [0.40, 0.40],
        [0.40, 1.0],
    ]
)
# The black arrow of a no-turn sign: its stem ends on the red ring.
_NO_TURN_ARROW = np.array(
    [
        [0.33, 0.86],
        [0.33, 0.33],
        [0.58, 0.33],
        [0.58, 0.22],
        [0.77, 0.375],
        [0.58, 0.53],
        [0.58, 0.43],
        [0.43, 0.43],
        [0.43, 0.86],
    ]
)
_STRAIGHT_ARROW = np.array(
    [
        [0.445, 1.0],
        [0.445, 0.38],
        [0.33, 0.38],
        [0.5, 0.1],
        [0.67, 0.38],
        [0.555, 0.38],
        [0.555, 1.0],
    ]
)
# The red bar of a prohibition sign: along the top-left to bottom-right diagonal, reaching
# the red ring (inner radius 0.39), 0.11 wide.
_ALONG, _ACROSS = 0.39 / math.sqrt(2), 0.055 / math.sqrt(2)
_SLASH = 0.5 + np.array(
    [
        [-_ALONG + _ACROSS, -_ALONG - _ACROSS],
        [_ALONG + _ACROSS, _ALONG - _ACROSS],
        [_ALONG - _ACROSS, _ALONG + _ACROSS],
        [-_ALONG - _ACROSS, -_ALONG + _ACROSS],
    ]
)


# --------------------------------------------------------------------------- painters
# A painter draws one sign onto a black ``w`` x ``h`` canvas filling it.
def _inset(outline: np.ndarray, w: float, h: float, margin: float) -> np.ndarray:
    """The outline (in canvas pixels) shrunk towards its centroid by ``margin`` pixels."""
    points = outline * (w, h)
    centre = points.mean(axis=0)
    radius = np.linalg.norm(points - centre, axis=1).max()
    return centre + (points - centre) * max(radius - margin, 0) / radius


def _paint_stop(canvas, w, h, rng):
    fill(canvas, _OCTAGON * (w, h), jitter(_WHITE, rng))
    fill(canvas, _inset(_OCTAGON, w, h, 0.06 * w), jitter(_RED, rng))
    text(canvas, "STOP", (w / 2, h / 2), 0.72 * w, 0.3 * h, jitter(_WHITE, rng))


def _paint_yield(canvas, w, h, rng):
    fill(canvas, _INVERTED_TRIANGLE * (w, h), jitter(_RED, rng))
    fill(canvas, _inset(_INVERTED_TRIANGLE, w, h, 0.2 * w), jitter(_WHITE, rng))


def _paint_speed_limit(canvas, w, h, rng):
    fill(canvas, _DISC * (w, h), jitter(_RED, rng))
    fill(canvas, _inset(_DISC, w, h, 0.11 * w), jitter(_WHITE, rng))
    digits = str(rng.choice(["20", "30", "40", "50", "60", "70", "80", "90", "100", "120"]))
    text(canvas, digits, (w / 2, h / 2), 0.58 * w, 0.4 * h, jitter(_BLACK, rng, 10))


def _paint_no_entry(canvas, w, h, rng):
    fill(canvas, _DISC * (w, h), jitter(_RED, rng))
    bar = np.array([[0.16, 0.41], [0.84, 0.41], [0.84, 0.59], [0.16, 0.59]]) * (w, h)
    fill(canvas, bar, jitter(_WHITE, rng))


def _paint_pedestrian_crossing(canvas, w, h, rng):
    fill(canvas, SQUARE * (w, h), jitter(_BLUE, rng))
    fill(canvas, np.array([[0.5, 0.1], [0.92, 0.86], [0.08, 0.86]]) * (w, h), jitter(_WHITE, rng))
    black = jitter(_BLACK, rng, 10)
    for x0 in (0.3, 0.42, 0.54, 0.66):  # zebra stripes
        stripe = np.array([[x0, 0.76], [x0 + 0.07, 0.76], [x0 + 0.05, 0.82], [x0 - 0.02, 0.82]])
        fill(canvas, stripe * (w, h), black)
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
    fill(canvas, SQUARE * (w, h), jitter(_HOUSING, rng, 12))
    lit = int(rng.integers(0, 3))
    radius = 0.34 * w
    for i, color in enumerate(_LAMPS):
        centre = (w / 2, h * (0.2 + 0.3 * i))
        if i == lit:  # the glow makes a lit lamp stand out like a real one
            disc(canvas, centre, 1.2 * radius, tuple(np.asarray(color) * 0.5 + 20))
            disc(canvas, centre, radius, color)
        else:
            disc(canvas, centre, radius, tuple(np.asarray(color) * 0.22))


def _paint_parking(canvas, w, h, rng):
    fill(canvas, SQUARE * (w, h), jitter(_WHITE, rng))
    fill(canvas, _inset(SQUARE, w, h, 0.05 * w), jitter(_BLUE, rng))
    text(canvas, "P", (w / 2, h / 2), 0.6 * w, 0.62 * h, jitter(_WHITE, rng))


def _paint_mandatory(canvas, w, h, rng, arrow: np.ndarray):
    """Blue disc, white arrow (turn right / go straight)."""
    fill(canvas, _DISC * (w, h), jitter(_BLUE, rng))
    fill(canvas, arrow * (w, h), jitter(_WHITE, rng))


def _paint_no_turn(canvas, w, h, rng):
    """White disc in a red ring, black turn arrow struck through by a red bar (no right turn)."""
    fill(canvas, _DISC * (w, h), jitter(_RED, rng))
    fill(canvas, _inset(_DISC, w, h, 0.11 * w), jitter(_WHITE, rng))
    fill(canvas, _NO_TURN_ARROW * (w, h), jitter(_BLACK, rng, 10))
    fill(canvas, _SLASH * (w, h), jitter(_RED, rng))


# --------------------------------------------------------------------------- sign sets
@dataclass(frozen=True)
class Sign:
    """How one class is drawn.

    ``paint(canvas, w, h, rng)`` fills a black canvas; ``outline`` is the sign's edge in
    its own unit box (alpha mask and scene box), symmetric for a mirrored sign;
    ``aspect`` is width / height; a ``mirrored`` sign is its partner's painting and
    mask flipped left to right.
    """

    paint: Callable[[np.ndarray, int, int, np.random.Generator], None]
    outline: np.ndarray
    aspect: float = 1.0
    mirrored: bool = False


@dataclass(frozen=True)
class SignSet:
    class_names: tuple[str, ...]
    signs: tuple[Sign, ...]

    def sign(self, class_id: int) -> Sign:
        if not 0 <= int(class_id) < len(self.signs):
            raise ValueError(f"class_id must be in 0..{len(self.signs) - 1}, got {class_id!r}")
        return self.signs[int(class_id)]


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

TRACK_CLASS_NAMES: tuple[str, ...] = ("left", "no_left", "no_right", "right", "stop", "straight")

_TURN = partial(_paint_mandatory, arrow=_TURN_ARROW)
SIGN_SETS: dict[str, SignSet] = {
    "street": SignSet(
        CLASS_NAMES,
        (
            Sign(_paint_stop, _OCTAGON),
            Sign(_paint_yield, _INVERTED_TRIANGLE, aspect=1 / 0.88),
            Sign(_paint_speed_limit, _DISC),
            Sign(_paint_no_entry, _DISC),
            Sign(_paint_pedestrian_crossing, SQUARE),
            Sign(_paint_traffic_light, SQUARE, aspect=0.4),
            Sign(_paint_parking, SQUARE),
        ),
    ),
    "track": SignSet(
        TRACK_CLASS_NAMES,
        (
            Sign(_TURN, _DISC, mirrored=True),
            Sign(_paint_no_turn, _DISC, mirrored=True),
            Sign(_paint_no_turn, _DISC),
            Sign(_TURN, _DISC),
            Sign(_paint_stop, _OCTAGON),
            Sign(partial(_paint_mandatory, arrow=_STRAIGHT_ARROW), _DISC),
        ),
    ),
}
THEMES: tuple[str, ...] = tuple(SIGN_SETS)


def sign_set(theme: str) -> SignSet:
    try:
        return SIGN_SETS[theme]
    except KeyError:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}; got {theme!r}") from None


def class_names(theme: str = "street") -> tuple[str, ...]:
    """The class names of ``theme``, class id ``i`` at index ``i``."""
    return sign_set(theme).class_names


def sign_shape(class_id: int, size: float, theme: str = "street") -> tuple[float, float]:
    """Width and height (pixels) of a sign of ``class_id`` whose longest side is ``size``."""
    aspect = sign_set(theme).sign(class_id).aspect
    return (size, size / aspect) if aspect >= 1 else (size * aspect, size)


def render_sign(
    class_id: int, size: float, rng: np.random.Generator, theme: str = "street"
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one sign upright, its longest side ``size`` pixels.

    Returns ``(bgr uint8 (h, w, 3), alpha float32 (h, w) in [0, 1])``; the sign's
    outline touches all four sides of the image.
    """
    sign = sign_set(theme).sign(class_id)
    if not size >= 2:
        raise ValueError(f"sign size must be at least 2 pixels, got {size!r}")
    w, h = sign_shape(class_id, size, theme)
    out_w, out_h = max(2, round(w)), max(2, round(h))
    big_w, big_h = out_w * SUPERSAMPLING, out_h * SUPERSAMPLING
    canvas = np.zeros((big_h, big_w, 3), np.uint8)
    sign.paint(canvas, big_w, big_h, rng)
    mask = np.zeros((big_h, big_w), np.uint8)
    fill(mask, sign.outline * (big_w, big_h), 255)
    if sign.mirrored:  # flip the mask too: its rasterisation is not exactly symmetric
        canvas, mask = cv2.flip(canvas, 1), cv2.flip(mask, 1)
    bgr = cv2.resize(canvas, (out_w, out_h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return bgr, alpha
