"""The synthetic scenes of both themes: deterministic, boxes exactly around the drawn signs.

The files written to disk are tested in test_writer.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from yolox_ros.synthetic import (
    CLASS_NAMES,
    SIGN_SIZE_RANGE,
    THEMES,
    TRACK_CLASS_NAMES,
    class_names,
    render_drive,
    render_scene,
    render_sign,
    scene_rng,
)
from yolox_ros.synthetic.track import TRACK_SIGN_SIZE_RANGE

# Pixels differing by more than this from the sign-free scene belong to a sign.
DIFF_LEVEL = 12

# Per theme: a box, a small fractional box, and corners rotated and in perspective, all
# inside the theme's default frame (street 640x480, track 320x240).
PLACEMENTS = {
    "street": [
        (100.0, 80.0, 190.0, 170.0),
        (10.3, 300.6, 24.1, 314.9),
        ((300, 100), (380, 110), (375, 200), (295, 190)),
    ],
    "track": [
        (100.0, 60.0, 160.0, 120.0),
        (10.3, 150.6, 19.1, 159.9),
        ((200, 40), (250, 46), (247, 100), (197, 94)),
    ],
}
THEME_CLASSES = [(theme, c) for theme in THEMES for c in range(len(class_names(theme)))]
TRACK = TRACK_CLASS_NAMES.index


def test_class_names_of_each_theme():
    assert class_names() == class_names("street") == CLASS_NAMES
    assert class_names("track") == ("left", "no_left", "no_right", "right", "stop", "straight")
    with pytest.raises(ValueError, match="street, track"):
        class_names("rally")


@pytest.mark.parametrize("theme", THEMES)
def test_same_seed_gives_same_scene_and_other_seed_differs(theme):
    first = render_scene(scene_rng(3, 17, theme), theme=theme)
    again = render_scene(scene_rng(3, 17, theme), theme=theme)
    other = render_scene(scene_rng(3, 18, theme), theme=theme)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_each_theme_has_its_own_scene_streams():
    street = scene_rng(3, 17).integers(0, 2**62, 4)
    np.testing.assert_array_equal(street, np.random.default_rng([3, 17]).integers(0, 2**62, 4))
    assert not np.array_equal(street, scene_rng(3, 17, "track").integers(0, 2**62, 4))


@pytest.mark.parametrize(
    ("theme", "size_range"), [("street", SIGN_SIZE_RANGE), ("track", TRACK_SIGN_SIZE_RANGE)]
)
def test_random_scenes_have_valid_boxes_inside_the_image(theme, size_range):
    for index in range(12):
        image, boxes, class_ids = render_scene(
            scene_rng(0, index, theme), 320, 240, num_signs=(2, 5), theme=theme
        )
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert boxes.dtype == np.float32 and boxes.shape == (len(class_ids), 4)
        assert 0 < len(boxes) <= 5
        assert (
            np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 320) and np.all(boxes[:, 3] <= 240)
        )
        sides = boxes[:, 2:] - boxes[:, :2]
        assert np.all(sides.max(axis=1) >= size_range[0] * 0.85)
        assert np.all(sides.max(axis=1) <= size_range[1] * 1.25)
        assert set(class_ids.tolist()) <= set(range(len(class_names(theme))))


def test_track_frames_default_to_320x240():
    image, _, _ = render_scene(np.random.default_rng(0), theme="track")
    assert image.shape == (240, 320, 3)


def _sign_pixels_box(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    changed = np.abs(image.astype(int) - background.astype(int)).max(axis=2) > DIFF_LEVEL
    ys, xs = np.nonzero(changed)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize(("theme", "class_id"), THEME_CLASSES)
@pytest.mark.parametrize("placement", [0, 1, 2], ids=["box", "small", "perspective"])
def test_box_is_tight_around_the_drawn_sign(theme, class_id, placement):
    placement = PLACEMENTS[theme][placement]
    image, boxes, class_ids = render_scene(
        np.random.default_rng(5), signs=[(class_id, placement)], theme=theme
    )
    background, no_boxes, _ = render_scene(np.random.default_rng(5), signs=[], theme=theme)
    assert len(no_boxes) == 0
    assert class_ids.tolist() == [class_id]
    np.testing.assert_allclose(boxes[0], _sign_pixels_box(image, background), atol=1.01)
    if np.asarray(placement).shape == (4,):
        np.testing.assert_allclose(boxes[0], placement, atol=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_track_box_stays_valid_under_the_camera_effects(seed):
    """Motion and lens blur, glare, noise and JPEG on: the same effects hit the scene with and
    without the sign, so what differs is the sign smeared by at most the blur and JPEG blocks."""
    box = np.array(PLACEMENTS["track"][0])
    rng = np.random.default_rng
    signs = [(TRACK("right"), box)]
    image, boxes, _ = render_scene(rng(seed), signs=signs, theme="track", effects=True)
    background, _, _ = render_scene(rng(seed), signs=[], theme="track", effects=True)
    plain, _, _ = render_scene(rng(seed), signs=[], theme="track")
    assert not np.array_equal(background, plain)  # the effects were applied
    np.testing.assert_allclose(boxes[0], box, atol=1e-3)
    drawn = _sign_pixels_box(image, background)
    smear = 16  # JPEG changes whole 16x16 blocks (4:2:0 chroma); blur spreads less
    assert np.all(drawn[:2] >= box[:2] - smear) and np.all(drawn[2:] <= box[2:] + smear)
    inter = np.prod(
        np.clip(np.minimum(drawn[2:], box[2:]) - np.maximum(drawn[:2], box[:2]), 0, None)
    )
    assert inter / np.prod(box[2:] - box[:2]) > 0.8  # glare may wash out a rim, not the sign


@pytest.mark.parametrize(("theme", "class_id"), THEME_CLASSES)
def test_render_sign_fills_its_image(theme, class_id):
    bgr, alpha = render_sign(class_id, 64, np.random.default_rng(0), theme)
    assert max(bgr.shape[:2]) == 64 and alpha.shape == bgr.shape[:2]
    covered = alpha > 0.5
    assert covered.any(axis=0).all() and covered.any(axis=1).all()


@pytest.mark.parametrize(("left", "right"), [("left", "right"), ("no_left", "no_right")])
def test_left_signs_are_the_right_signs_mirrored(left, right):
    left_bgr, left_alpha = render_sign(TRACK(left), 64, np.random.default_rng(3), "track")
    right_bgr, right_alpha = render_sign(TRACK(right), 64, np.random.default_rng(3), "track")
    np.testing.assert_array_equal(left_bgr, right_bgr[:, ::-1])
    np.testing.assert_array_equal(left_alpha, right_alpha[:, ::-1])
    asymmetry = np.abs(right_bgr.astype(int) - right_bgr[:, ::-1]).mean()
    assert asymmetry > 10  # the pair really differs: an arrow points one way


@pytest.mark.parametrize(
    ("name", "paint"),
    [
        ("left", "blue"),
        ("right", "blue"),
        ("straight", "blue"),
        ("no_left", "red and white"),
        ("no_right", "red and white"),
        ("stop", "red"),
    ],
)
def test_track_signs_have_their_real_colours(name, paint):
    bgr, alpha = render_sign(TRACK(name), 64, np.random.default_rng(0), "track")
    pixels = bgr[alpha > 0.99].astype(int)
    blue = np.mean((pixels[:, 0] > 120) & (pixels[:, 2] < 80))
    red = np.mean((pixels[:, 2] > 150) & (pixels[:, 0] < 90))
    white = np.mean(pixels.min(axis=1) > 190)
    black = np.mean(pixels.max(axis=1) < 60)
    if paint == "blue":
        assert blue > 0.6 and 0.1 < white < 0.4
    elif paint == "red":
        assert red > 0.6 and white > 0.1
    else:
        assert 0.2 < red < 0.6 and white > 0.25 and black > 0.05


@pytest.mark.parametrize(
    "kwargs",
    [
        {"signs": [(7, (0, 0, 10, 10))]},
        {"signs": [(6, (0, 0, 10, 10))], "theme": "track"},
        {"signs": [(0, (10, 10, 11, 40))]},
        {"signs": [(0, (1, 2, 3))]},
        {"num_signs": (3, 1)},
        {"width": 8},
        {"theme": "rally"},
    ],
)
def test_bad_arguments_are_rejected_with_a_message(kwargs):
    with pytest.raises(ValueError, match=r"\S"):
        render_scene(np.random.default_rng(0), **kwargs)


def test_street_drive_keeps_background_and_grows_signs():
    frames = render_drive(seed=7, count=5, width=320, height=240)
    first, last = frames[0], frames[-1]
    assert len(first[1]) == len(last[1]) > 0
    np.testing.assert_array_equal(first[2], last[2])
    first_area = np.prod(first[1][:, 2:] - first[1][:, :2], axis=1)
    last_area = np.prod(last[1][:, 2:] - last[1][:, :2], axis=1)
    assert np.all(last_area > first_area * 1.2)
    assert (
        np.all(last[1][:, :2] >= 0)
        and np.all(last[1][:, 2] <= 320)
        and np.all(last[1][:, 3] <= 240)
    )
    # Away from the signs the frames are identical: only the signs move.
    still = np.ones((240, 320), bool)
    for box in np.concatenate([first[1], last[1]]):
        x1, y1 = np.floor(box[:2]).astype(int) - 2
        x2, y2 = np.ceil(box[2:]).astype(int) + 2
        still[max(y1, 0) : y2, max(x1, 0) : x2] = False
    np.testing.assert_array_equal(first[0][still], last[0][still])


def _sign_runs(frames) -> list[tuple[int, int, list[float]]]:
    """Each sign's run of consecutive frames: (class id, first frame, longer side per frame)."""
    runs, open_runs = [], {}
    for t, (_, boxes, class_ids) in enumerate(frames):
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        now = {}
        for class_id, side in zip(class_ids.tolist(), sides.tolist(), strict=True):
            run = open_runs.get(class_id)
            if run is None or side <= run[2][-1]:  # a new sign of that class
                run = (class_id, t, [])
                runs.append(run)
            run[2].append(side)
            now[class_id] = run
        open_runs = now
    return runs


def test_track_drive_is_deterministic_with_valid_boxes_inside_the_frame():
    frames = render_drive(seed=3, count=30, theme="track")
    again = render_drive(seed=3, count=30, theme="track")
    for frame, same in zip(frames, again, strict=True):
        for a, b in zip(frame, same, strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(frames) == 30
    for image, boxes, class_ids in frames:
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert boxes.dtype == np.float32 and boxes.shape == (len(class_ids), 4)
        assert set(class_ids.tolist()) <= set(range(len(TRACK_CLASS_NAMES)))
        assert np.all(boxes[:, 2:] - boxes[:, :2] >= 2)
        # Never cut by the frame edge: a passed sign has left the frame whole.
        assert np.all(boxes[:, :2] > 0) and np.all(boxes[:, 2] < 320) and np.all(boxes[:, 3] < 240)
    # One sign at a time, two while the next comes into view; hardly a frame without one.
    counts = [len(boxes) for _, boxes, _ in frames]
    assert max(counts) <= 2 and counts.count(0) <= 1
    assert not np.array_equal(render_drive(seed=4, count=3, theme="track")[0][0], frames[0][0])


@pytest.mark.parametrize(("width", "height"), [(320, 240), (640, 480)])
@pytest.mark.parametrize("seed", range(3))
def test_track_drive_signs_grow_from_small_to_large_then_leave(seed, width, height):
    frames = render_drive(seed=seed, count=30, width=width, height=height, theme="track")
    scale = width / 320
    runs = _sign_runs(frames)
    assert len(runs) >= 4
    for class_id, first, sides in runs:
        assert np.all(np.diff(sides) > 0), (class_id, sides)  # nearer every frame
        assert min(sides) >= 10 * scale and max(sides) <= 90 * scale, sides
        if first > 0:  # comes into view small
            assert sides[0] <= 20 * scale, sides
        if first > 0 and first + len(sides) < len(frames):  # approached, then passed
            assert len(sides) >= 4 and sides[-1] >= 55 * scale, sides
    sides = np.concatenate([run[2] for run in runs])
    assert np.mean(sides >= 20 * scale) > 0.45  # most boxes are of a readable size
    floor = slice(height * 3 // 4, height)  # the car moves: the floor in front of it changes
    assert np.abs(frames[0][0][floor].astype(int) - frames[-1][0][floor]).mean() > 2


@pytest.mark.parametrize(("name", "paint"), [("right", "white"), ("no_right", "black")])
def test_track_turn_arrows_rise_from_the_bottom_and_point_right(name, paint):
    bgr, alpha = render_sign(TRACK(name), 100, np.random.default_rng(0), "track")
    pixels = bgr.astype(int)
    mask = (pixels.min(axis=2) > 190) if paint == "white" else (pixels.max(axis=2) < 60)
    mask &= alpha > 0.99
    ys, xs = np.nonzero(mask)
    stem, head = xs[ys > 70], xs[(ys > 15) & (ys < 50)]
    assert stem.mean() < 45 < head.max() - 25  # stem left of the middle, head out to the right
