"""Helpers shared by the test suite (importable as ``support`` from any test).

Sub-modules: ``onnx_models`` (small YOLOX-like ONNX files), ``rectangle_backend``
(a backend declared through an entry point), ``ros`` (rclpy probes and image
messages; needs rclpy), ``ros_stack_peer`` (a process on the other end of a
ROS graph).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TEST_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = TEST_DIR / "data"
REPO_ROOT = TEST_DIR.parent
# The shipped models: the default (real VIA photos) and the synthetic street-sign one.
VIA_MODEL = REPO_ROOT / "models" / "track_sign_nano.onnx"
STREET_MODEL = REPO_ROOT / "models" / "street_sign_nano.onnx"


def street_scenes(count: int, seed: int = 7) -> list:
    """``count`` synthetic 640x480 street scenes (BGR): what the street model was trained on."""
    from yolox_ros.synthetic import render_scene, scene_rng

    return [render_scene(scene_rng(seed, index))[0] for index in range(count)]


def demo_frames(count: int) -> list:
    """The first ``count`` frames (BGR) of the bundled drive on a model-car track."""
    import cv2

    paths = sorted((REPO_ROOT / "data" / "demo_sequence").glob("frame_*.jpg"))[:count]
    return [cv2.imread(str(path)) for path in paths]


def detections_agree(
    expected, actual, box_tolerance_px: float = 0.5, score_tolerance: float = 1e-3
) -> None:
    """Two engines' detections of one frame: the same count and names, boxes and scores close."""
    import numpy as np

    assert len(actual) == len(expected)
    assert actual.class_names == expected.class_names
    np.testing.assert_allclose(actual.boxes, expected.boxes, atol=box_tolerance_px)
    np.testing.assert_allclose(actual.scores, expected.scores, atol=score_tolerance)


def make_detections(boxes, scores, class_ids):
    """A ``Detections`` from plain lists; the names ("class N") matter to no metric."""
    import numpy as np

    from yolox_ros.core.detections import Detections

    ids = np.array(class_ids, np.int64)
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores, np.float32),
        ids,
        tuple(f"class {c}" for c in ids.tolist()),
    )


def needs(module: str) -> pytest.MarkDecorator:
    """Skip a test when an optional runtime (openvino, torch, ncnn...) is not installed."""
    missing = importlib.util.find_spec(module) is None
    return pytest.mark.skipif(missing, reason=f"{module} is not installed")
