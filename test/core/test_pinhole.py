"""Distance from a known object height: boxes made by projecting a sign with OpenCV,
positions recovered by ``locate``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from yolox_ros.core.pinhole import CameraModel, class_heights, locate

WIDTH, HEIGHT = 320, 240
K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
SIGN_M = 0.10
PLUMB_BOB_D = (-0.3, 0.1, 0.001, -0.001, 0.0)
RATIONAL_D = (-0.3, 0.1, 0.001, -0.001, 0.0, 0.05, 0.0, 0.02)
EQUIDISTANT_D = (0.1, -0.05, 0.01, -0.002)
OFF_AXIS = (0.3, -0.1, 2.0)


def camera(d=(), model: str = "") -> CameraModel:
    return CameraModel(WIDTH, HEIGHT, K, d, model)


def sign_box(centre, d=(), model: str = "", size_m: float = SIGN_M) -> np.ndarray:
    """Box (x1, y1, x2, y2) of a square sign facing the camera, in the detector's pixels.

    The sign's outline is projected densely so that the box bounds its distorted
    image; the detector's boxes span pixels by their edges, K's pixel centres are
    at integers, hence the half pixel.
    """
    side = np.linspace(-0.5, 0.5, 41) * size_m
    ends = np.full_like(side, 0.5 * size_m)
    outline = np.concatenate(
        [
            np.stack([side, -ends], axis=1),
            np.stack([side, ends], axis=1),
            np.stack([-ends, side], axis=1),
            np.stack([ends, side], axis=1),
        ]
    )
    points = np.column_stack([outline, np.zeros(len(outline))]) + centre
    points = points.reshape(-1, 1, 3)
    if model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(points, np.zeros(3), np.zeros(3), K, np.array(d))
    else:
        pixels, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), K, np.array(d))
    pixels = pixels.reshape(-1, 2) + 0.5
    return np.concatenate([pixels.min(axis=0), pixels.max(axis=0)])


def relative_error(found: np.ndarray, truth) -> float:
    return float(np.linalg.norm(found - truth) / np.linalg.norm(truth))


def test_a_sign_straight_ahead():
    box = sign_box((0.0, 0.0, 1.5))
    assert box[3] - box[1] == pytest.approx(20.0)  # f * H / z = 300 * 0.10 / 1.5
    position = locate(box[None], np.array([SIGN_M]), camera())
    assert position.shape == (1, 3) and position.dtype == np.float64
    np.testing.assert_allclose(position[0], (0.0, 0.0, 1.5), atol=0.01 * 1.5)


def test_an_off_axis_sign_without_distortion_is_exact():
    position = locate(sign_box(OFF_AXIS)[None], [SIGN_M], camera())
    np.testing.assert_allclose(position[0], OFF_AXIS, rtol=1e-9)


@pytest.mark.parametrize(
    ("model", "d"),
    [
        ("plumb_bob", PLUMB_BOB_D),
        ("rational_polynomial", RATIONAL_D),
        ("equidistant", EQUIDISTANT_D),
    ],
)
def test_distortion_is_undone(model, d):
    # Off-axis, straight ahead, in two corners and straddling the vertical axis.
    centres = np.array(
        [OFF_AXIS, (0.0, 0.0, 1.5), (-0.5, 0.3, 1.2), (0.6, 0.4, 1.3), (0.05, 0.4, 1.3)]
    )
    boxes = np.stack([sign_box(c, d, model) for c in centres])
    positions = locate(boxes, np.full(len(boxes), SIGN_M), camera(d, model))
    for found, truth in zip(positions, centres, strict=True):
        assert relative_error(found, truth) < 0.01, (found, truth)
    # Near the corners the distortion matters: ignoring it is several per cent off.
    ignored = locate(boxes, np.full(len(boxes), SIGN_M), camera())
    assert relative_error(ignored[3], centres[3]) > 0.04


def test_a_model_without_coefficients_or_with_zeros_does_not_distort():
    box = sign_box(OFF_AXIS)[None]
    for model in (camera((), "plumb_bob"), camera((0.0,) * 5, "plumb_bob"), camera((0.0,) * 5)):
        assert not model.distorted
        np.testing.assert_allclose(locate(box, [SIGN_M], model)[0], OFF_AXIS, rtol=1e-9)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"k": np.zeros((3, 3))}, "not calibrated"),
        ({"k": np.diag([300.0, 0.0, 1.0])}, "not calibrated"),
        ({"k": np.ones(8)}, "K has 8 values"),
        ({"k": K + [[0, 1, 0], [0, 0, 0], [0, 0, 0]]}, "skew"),
        ({"distortion_model": "kannala_brandt", "d": (0.1,) * 4}, "unknown distortion model"),
        ({"distortion_model": "plumb_bob", "d": (0.1,) * 3}, "takes 4 or 5 coefficients, D has 3"),
        ({"distortion_model": "equidistant", "d": (0.1,) * 5}, "takes 4 coefficients, D has 5"),
        ({"distortion_model": "", "d": PLUMB_BOB_D}, "without a distortion model"),
        ({"d": (np.nan,) * 5, "distortion_model": "plumb_bob"}, "not finite"),
        ({"width": 0}, "size 0x240"),
        ({"p": np.zeros(9)}, "P has 9 values"),
    ],
)
def test_invalid_calibrations_are_refused(fields, problem):
    values = {"width": WIDTH, "height": HEIGHT, "k": K, "d": (), "distortion_model": ""}
    with pytest.raises(ValueError, match=problem):
        CameraModel(**{**values, **fields})


def test_camera_info_fields_apply_binning_and_region_of_interest():
    # The 320x240 camera is the 640x480 sensor binned by 2, or a window of a sensor.
    full = np.array([[600.0, 0.0, 320.5], [0.0, 600.0, 240.5], [0.0, 0.0, 1.0]])
    binned = CameraModel.from_camera_info_fields(
        width=640, height=480, k=full.ravel(), d=(), distortion_model="", binning_x=2, binning_y=2
    )
    assert (binned.width, binned.height) == (WIDTH, HEIGHT)
    np.testing.assert_allclose(binned.k, K)
    window = CameraModel.from_camera_info_fields(
        width=640,
        height=480,
        k=[300.0, 0.0, 260.0, 0.0, 300.0, 170.0, 0.0, 0.0, 1.0],
        d=PLUMB_BOB_D,
        distortion_model="plumb_bob",
        roi_x_offset=100,
        roi_y_offset=50,
        roi_width=WIDTH,
        roi_height=HEIGHT,
    )
    assert (window.width, window.height) == (WIDTH, HEIGHT)
    np.testing.assert_allclose(window.k, K)
    with pytest.raises(ValueError, match="does not fit"):
        CameraModel.from_camera_info_fields(
            width=640, height=480, k=K, d=(), distortion_model="", roi_x_offset=400, roi_width=320
        )


def test_a_resized_image_scales_the_calibration_and_other_sizes_are_refused():
    full = CameraModel(640, 480, [[600.0, 0.0, 320.5], [0.0, 600.0, 240.5], [0.0, 0.0, 1.0]], ())
    np.testing.assert_allclose(full.for_image(WIDTH, HEIGHT).k, K)
    assert full.for_image(640, 480) is full
    box = sign_box(OFF_AXIS)[None]
    position = locate(box, [SIGN_M], full, image_size=(WIDTH, HEIGHT))
    np.testing.assert_allclose(position[0], OFF_AXIS, rtol=1e-9)
    full.for_image(416, 312)  # rounded sides of a resize are fine
    with pytest.raises(ValueError, match="not a resize"):
        locate(box, [SIGN_M], full, image_size=(WIDTH, 200))


def test_a_rectified_image_uses_the_projection_matrix():
    p = np.column_stack([K, np.zeros(3)])
    model = CameraModel(WIDTH, HEIGHT, K * [[1.1], [1.1], [1.0]], PLUMB_BOB_D, "plumb_bob", p)
    rectified = model.rectified()
    assert not rectified.distorted
    np.testing.assert_allclose(rectified.k, K)
    with pytest.raises(ValueError, match="no projection matrix"):
        camera().rectified()
    with pytest.raises(ValueError, match="not calibrated: P"):
        CameraModel(WIDTH, HEIGHT, K, (), "", np.zeros(12)).rectified()


def test_boxes_without_a_distance_give_nan_rows():
    good = sign_box(OFF_AXIS)
    boxes = np.array(
        [
            good,
            [100.0, 50.0, 120.0, 50.0],  # no height
            [100.0, 60.0, 120.0, 50.0],  # upside down
            [120.0, 50.0, 100.0, 70.0],  # negative width
            [np.nan, 50.0, 120.0, 70.0],
            [100.0, 0.0, 120.0, 30.0],  # clipped at the top
            [100.0, 200.0, 120.0, HEIGHT],  # clipped at the bottom
            good,  # height unknown
            good,  # height not positive
        ]
    )
    heights = np.array([SIGN_M] * 7 + [np.nan, -1.0])
    positions = locate(boxes, heights, camera())
    np.testing.assert_allclose(positions[0], OFF_AXIS, rtol=1e-9)
    assert np.isnan(positions[1:]).all()
    clipped = locate(boxes[5:7], heights[5:7], camera(), edge_margin_px=0.0)
    assert np.isfinite(clipped).all()


def test_no_boxes_and_mismatched_heights():
    for model in (camera(), camera(PLUMB_BOB_D, "plumb_bob"), camera(EQUIDISTANT_D, "equidistant")):
        assert locate(np.zeros((0, 4)), np.zeros(0), model).shape == (0, 3)
        assert locate([[100.0, 0.0, 120.0, 30.0]], [SIGN_M], model).shape == (1, 3)
    with pytest.raises(ValueError, match="2 boxes but 1 heights"):
        locate(np.zeros((2, 4)), [SIGN_M], camera())


def test_class_heights_give_nan_for_classes_without_a_height():
    names = ("person", "stop sign", "car")
    table = class_heights(names, {"stop sign": 0.75, "person": 1.7})
    np.testing.assert_array_equal(table[:2], [1.7, 0.75])
    assert np.isnan(table[2])
    np.testing.assert_array_equal(class_heights(names, {"car": 1.5}, default=1.0), [1.0, 1.0, 1.5])
    boxes = np.stack([sign_box(OFF_AXIS, size_m=0.75), sign_box(OFF_AXIS)])
    positions = locate(boxes, table[[1, 2]], camera())
    np.testing.assert_allclose(positions[0], OFF_AXIS, rtol=1e-9)
    assert np.isnan(positions[1]).all()


@pytest.mark.parametrize(
    ("heights", "default", "problem"),
    [
        ({"stop_sign": 0.75}, None, "unknown classes: \\['stop_sign'\\]"),
        ({"car": 0.0}, None, "'car' is 0.0"),
        ({"car": float("inf")}, None, "'car' is inf"),
        ({}, -1.0, "default object height is -1.0"),
    ],
)
def test_class_heights_refuse_bad_heights(heights, default, problem):
    with pytest.raises(ValueError, match=problem):
        class_heights(("person", "stop sign", "car"), heights, default)
