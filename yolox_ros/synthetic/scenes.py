"""One random or hand-placed scene of a theme: background, signs, camera finishing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yolox_ros.synthetic import street, track
from yolox_ros.synthetic.camera import finish, small_camera
from yolox_ros.synthetic.compositing import place_sign, placement_quad
from yolox_ros.synthetic.signs import THEMES, sign_set


@dataclass(frozen=True)
class SceneStyle:
    """How a theme builds its scenes.

    ``background(rng, height, width)`` returns the float32 image and a view handed to
    ``random_signs(image, view, count_range, rng, boxes, class_ids)``, which draws the
    random signs with their distractors; ``camera(image, rng, effects)`` returns the
    final uint8 frame.
    """

    size: tuple[int, int]
    num_signs: tuple[int, int]
    background: Callable[[np.random.Generator, int, int], tuple[np.ndarray, Any]]
    random_signs: Callable[..., None]
    camera: Callable[[np.ndarray, np.random.Generator, bool], np.ndarray]


STYLES: dict[str, SceneStyle] = {
    "street": SceneStyle(
        size=(640, 480),
        num_signs=(1, 6),
        background=street.background,
        random_signs=street.random_signs,
        camera=lambda image, rng, effects: finish(image, rng, blur=effects),
    ),
    "track": SceneStyle(
        size=(320, 240),
        num_signs=(1, 4),
        background=track.background,
        random_signs=track.random_signs,
        camera=small_camera,
    ),
}


def scene_style(theme: str) -> SceneStyle:
    sign_set(theme)  # the one place that names the valid themes in its error
    return STYLES[theme]


def render_scene(
    rng: np.random.Generator,
    width: int | None = None,
    height: int | None = None,
    num_signs: tuple[int, int] | None = None,
    signs: Sequence[tuple[int, Sequence[float] | np.ndarray]] | None = None,
    *,
    theme: str = "street",
    effects: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one scene of ``theme`` with its signs.

    Without ``signs``, ``num_signs[0]..num_signs[1]`` random signs (inclusive; the
    theme's default range when None) are placed as the theme places them, some
    partly occluded, among distractor shapes. With ``signs=[(class_id, placement),
    ...]`` exactly those signs are drawn and nothing else: a placement is a box
    ``(x1, y1, x2, y2)`` the upright sign fills, or the 4x2 corners (top-left,
    top-right, bottom-right, bottom-left) its box is warped onto.

    ``width`` x ``height`` defaults to the theme's frame (street 640x480, track
    320x240). ``effects`` switches the non-local camera effects (blur; for the track
    also glare, over-exposure and JPEG); by default they are on for random scenes
    and off for placed signs, whose pixels then differ from the sign-free scene only
    where the sign is.

    Background, signs and finishing (lighting, noise) draw from separate streams of
    ``rng``, so the same ``rng`` seed gives the same background and lighting whatever
    signs are placed.

    Returns ``(bgr uint8 (height, width, 3), boxes float32 (N, 4) x1y1x2y2,
    class_ids int64 (N,))``.
    """
    style = scene_style(theme)
    width, height = width or style.size[0], height or style.size[1]
    if width < 32 or height < 32:
        raise ValueError(f"scene must be at least 32x32 pixels, got {width}x{height}")
    background_rng, sign_rng, finish_rng = (
        np.random.default_rng(int(seed)) for seed in rng.integers(0, 2**63 - 1, 3)
    )
    image, view = style.background(background_rng, height, width)
    boxes: list[np.ndarray] = []
    class_ids: list[int] = []
    if signs is not None:
        for class_id, placement in signs:
            sign_set(theme).sign(class_id)  # a bad class id fails before any drawing
            quad = placement_quad(placement)
            boxes.append(place_sign(image, int(class_id), quad, sign_rng, theme=theme))
            class_ids.append(int(class_id))
    else:
        low, high = style.num_signs if num_signs is None else num_signs
        if not 0 <= low <= high:
            raise ValueError(
                f"num_signs must be (low, high) with 0 <= low <= high, got {num_signs!r}"
            )
        style.random_signs(image, view, (low, high), sign_rng, boxes, class_ids)
    image = style.camera(image, finish_rng, signs is None if effects is None else effects)
    return (
        image,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(class_ids, np.int64),
    )


def scene_rng(seed: int, index: int, theme: str = "street") -> np.random.Generator:
    """The generator of scene ``index`` of a ``theme`` dataset with ``seed`` (random access).

    Each theme has its own streams, so datasets of two themes with one seed are unrelated.
    """
    scene_style(theme)
    key = [int(seed), int(index)]
    if theme != "street":  # the street keeps the key it had before there were themes
        key.append(THEMES.index(theme))
    return np.random.default_rng(key)
