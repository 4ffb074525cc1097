"""Letterbox preprocessing: identical to the official YOLOX preproc, robust to odd images."""

from __future__ import annotations

import numpy as np
import pytest

from yolox_ros.core.preprocess import LetterboxBuffers, letterbox_ratio, resized_hw, validate_image
from yolox_ros.errors import InvalidImageError


def test_letterbox_matches_the_official_preproc_bit_for_bit(golden_io):
    tensor, ratios = LetterboxBuffers((416, 416)).fill([golden_io["image_bgr"]])
    np.testing.assert_array_equal(tensor, golden_io["input"])
    assert ratios == [0.65]


def test_reused_buffer_is_refreshed_when_the_image_size_changes(golden_io):
    buffers = LetterboxBuffers((416, 416))
    buffers.fill([golden_io["image_bgr"]])
    tall = np.full((900, 200, 3), 7, np.uint8)
    tensor, _ = buffers.fill([tall])
    # Content on the left, 114 padding where the landscape image used to be.
    assert tensor[0, :, :, :92].max() == 7
    assert (tensor[0, :, :, 92:] == 114).all()
    tensor, _ = buffers.fill([golden_io["image_bgr"]])
    np.testing.assert_array_equal(tensor, golden_io["input"])


@pytest.mark.parametrize(
    ("image_hw", "input_hw", "expected_hw"),
    [
        ((480, 640), (416, 416), (312, 416)),  # landscape, scaled down
        ((800, 300), (416, 416), (416, 156)),  # portrait
        ((60, 100), (416, 416), (249, 416)),  # smaller than the input: scaled up
        ((720, 1280), (416, 640), (360, 640)),  # non-square input
        ((416, 416), (416, 416), (416, 416)),  # same size
        ((1, 5000), (416, 416), (1, 416)),  # would be 0 rows officially; kept at 1
    ],
)
def test_content_size_follows_the_official_rounding(image_hw, input_hw, expected_hw):
    assert resized_hw(image_hw, input_hw) == expected_hw
    ratio = letterbox_ratio(image_hw, input_hw)
    assert ratio == min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])


def test_content_is_at_the_top_left_and_padding_is_114():
    image = np.full((100, 200, 3), (10, 20, 30), np.uint8)
    tensor, ratios = LetterboxBuffers((416, 416)).fill([image])
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    assert ratios == [2.08]
    # BGR order kept, values 0..255 (no normalisation).
    assert tensor[0, :, 0, 0].tolist() == [10.0, 20.0, 30.0]
    assert tensor[0, :, 207, 415].tolist() == [10.0, 20.0, 30.0]
    assert (tensor[0, :, 208:, :] == 114).all()


def test_batch_slots_hold_each_image_with_its_own_ratio():
    small = np.full((50, 100, 3), 1, np.uint8)
    large = np.full((832, 416, 3), 2, np.uint8)
    tensor, ratios = LetterboxBuffers((416, 416)).fill([small, large], batch_size=3)
    assert tensor.shape == (3, 3, 416, 416)
    assert ratios == [4.16, 0.5]
    assert (tensor[0, :, :208, :] == 1).all() and (tensor[0, :, 208:, :] == 114).all()
    assert (tensor[1, :, :, :208] == 2).all() and (tensor[1, :, :, 208:] == 114).all()


def test_non_contiguous_images_are_letterboxed_like_contiguous_ones():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), np.uint8)
    flipped = image[:, ::-1]
    expected, _ = LetterboxBuffers((416, 416)).fill([np.ascontiguousarray(flipped)])
    expected = expected.copy()
    actual, _ = LetterboxBuffers((416, 416)).fill([flipped])
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        (np.zeros((10, 10), np.uint8), "single-channel"),
        (np.zeros((10, 10, 4), np.uint8), "BGRA"),
        (np.zeros((10, 10, 2), np.uint8), "3 channels"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 0, 3), np.uint8), "empty"),
        (np.zeros((2, 10, 10, 3), np.uint8), "4 dimensions"),
        ([[1, 2, 3]], "numpy array"),
        (None, "numpy array"),
    ],
)
def test_invalid_images_are_rejected_naming_the_problem(image, message):
    with pytest.raises(InvalidImageError, match=message):
        validate_image(image)
