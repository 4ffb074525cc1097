"""The models the package ships, as the node and the detect command load them."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from support import STREET_MODEL, VIA_MODEL, demo_frames, detections_agree, needs

from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.core.postprocess import iou_above
from yolox_ros.metadata import ModelMetadata
from yolox_ros.synthetic import CLASS_NAMES, TRACK_CLASS_NAMES, render_scene


def test_the_via_model_carries_the_via_classes_and_its_input_size():
    detector = Detector(DetectorConfig(str(VIA_MODEL)))
    assert detector.class_names == TRACK_CLASS_NAMES
    assert detector.input_size == (576, 768)  # height, width: the 4:3 camera's shape


@pytest.mark.parametrize(
    ("backend", "model"),
    [
        pytest.param("openvino", VIA_MODEL, marks=needs("openvino")),
        pytest.param("torch", VIA_MODEL.with_suffix(".pt"), marks=needs("torch")),
    ],
)
def test_the_rectangular_via_model_detects_alike_on_every_engine(backend, model):
    """576x768 through OpenVINO, and its weights through PyTorch, as through ONNX Runtime."""
    frames = demo_frames(6)
    expected = Detector(DetectorConfig(str(VIA_MODEL), num_threads=1)).detect_batch(frames)
    engine = Detector(DetectorConfig(str(model), backend=backend, num_threads=1))
    assert engine.input_size == (576, 768)
    assert sum(len(d) for d in expected) >= len(frames)
    for want, got in zip(expected, engine.detect_batch(frames), strict=True):
        detections_agree(want, got)


def test_the_street_model_carries_the_synthetic_street_classes():
    assert Detector(DetectorConfig(str(STREET_MODEL))).class_names == CLASS_NAMES


@pytest.mark.parametrize("class_id", range(len(CLASS_NAMES)))
def test_street_model_finds_a_sign_placed_at_a_known_box(class_id):
    detector = Detector(DetectorConfig(model_path=str(STREET_MODEL), conf_threshold=0.3))
    box = (260.0, 150.0, 340.0, 230.0) if class_id != 5 else (285.0, 130.0, 317.0, 210.0)
    image, boxes, _ = render_scene(np.random.default_rng(100 + class_id), signs=[(class_id, box)])
    detections = detector.detect(image)
    same_class = detections.boxes[detections.class_ids == class_id]
    assert iou_above(same_class, boxes[:1], 0.7).any(), detections.to_dicts()


def test_model_files_are_complete_onnx_with_metadata():
    import onnx

    for path in (VIA_MODEL, STREET_MODEL):
        proto = onnx.load(str(path))
        metadata = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
        assert metadata.model_name == "nano" and not metadata.decoded, path


def test_the_default_model_finds_the_signs_of_the_bundled_demo_drive():
    from support import REPO_ROOT

    from yolox_ros.datasets import open_dataset
    from yolox_ros.datasets.metrics import recall_by_size

    drive = open_dataset(REPO_ROOT / "data" / "demo_sequence")
    threshold = yaml.safe_load((REPO_ROOT / "config" / "traffic_sign.yaml").read_text())["/**"][
        "ros__parameters"
    ]["conf_threshold"]  # the node's, as the shipped config runs it
    detector = Detector(DetectorConfig(str(VIA_MODEL), conf_threshold=threshold, num_threads=1))
    found = []
    for index in range(len(drive)):
        result = detector.detect(drive.load(index)[0])
        found.append(result)
    bins = recall_by_size(drive, found, conf_threshold=threshold)
    # A model of real photos on drawn signs: measured 31 of 31 at 0.3.
    assert sum(b.found for b in bins) >= 0.9 * sum(b.boxes for b in bins)
