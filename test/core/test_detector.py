"""The detector end to end: boxes in original pixels, configuration, errors on bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from support.onnx_models import write_yolox_like_onnx
from support.rectangle_backend import ENTRY_POINT_NAME, declare_entry_points, write_rectangle_model

from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.errors import ConfigError, InvalidImageError, ModelLoadError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.synthetic import CLASS_NAMES as NANO_NAMES

TARGET_BGR = (0, 0, 255)
BACKGROUND_BGR = (90, 140, 60)


@pytest.fixture
def rectangle_backend(tmp_path, monkeypatch):
    """Registers the rectangle test backend through an entry point, as a plugin package would."""
    site = tmp_path / "site"
    declare_entry_points(site, {ENTRY_POINT_NAME: "support.rectangle_backend:RectangleBackend"})
    monkeypatch.syspath_prepend(str(site))


@pytest.fixture
def rectangle_model(tmp_path, rectangle_backend):
    def make(**kwargs) -> Path:
        kwargs.setdefault("class_names", ["car", "stop", "person"])
        return write_rectangle_model(
            tmp_path / "rectangle.json",
            color_bgr=TARGET_BGR,
            background_bgr=BACKGROUND_BGR,
            **kwargs,
        )

    return make


def rectangle_detector(model: Path, **config) -> Detector:
    return Detector(DetectorConfig(model, backend=ENTRY_POINT_NAME, **config))


def scene(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BACKGROUND_BGR
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = TARGET_BGR
    return image


def pixel_tolerance(height: int, width: int, input_hw=(416, 416)) -> float:
    # The network sees the box to within half an input pixel, which is 0.5 / r original pixels.
    ratio = min(input_hw[0] / height, input_hw[1] / width)
    return 0.5 / ratio + 0.5


SCENES = [
    pytest.param(480, 640, (100, 80, 300, 200), id="landscape-larger"),
    pytest.param(800, 300, (40, 500, 260, 760), id="portrait-larger"),
    pytest.param(60, 100, (10, 20, 70, 50), id="landscape-smaller"),
    pytest.param(200, 90, (5, 30, 85, 190), id="portrait-smaller"),
    pytest.param(720, 1280, (900, 100, 1200, 400), id="hd"),
    pytest.param(416, 416, (0, 0, 50, 416), id="input-size-touching-edges"),
    pytest.param(2000, 150, (20, 1500, 130, 1990), id="very-tall"),
]


@pytest.mark.parametrize(("height", "width", "box"), SCENES)
@pytest.mark.parametrize("decoded", [False, True], ids=["raw-output", "decoded-output"])
def test_box_of_a_rectangle_comes_back_in_original_pixels(
    rectangle_model, height, width, box, decoded
):
    detector = rectangle_detector(rectangle_model(decoded=decoded))
    detections = detector.detect(scene(height, width, box))
    assert len(detections) == 1  # the weaker duplicate anchor is suppressed by NMS
    np.testing.assert_allclose(detections.boxes[0], box, atol=pixel_tolerance(height, width))
    assert detections.class_names == ("stop",) and detections.class_ids.tolist() == [1]
    np.testing.assert_allclose(detections.scores, [0.9 * 0.95], rtol=1e-6)


@pytest.mark.parametrize("fixed_batch", [None, 1, 2])
def test_batches_of_mixed_sizes_give_each_image_its_own_boxes(rectangle_model, fixed_batch):
    detector = rectangle_detector(rectangle_model(batch=fixed_batch))
    scenes = [
        (480, 640, (100, 80, 300, 200)),
        (60, 100, (10, 20, 70, 50)),
        (800, 300, (40, 500, 260, 760)),
    ]
    results = detector.detect_batch([scene(*s) for s in scenes])
    assert len(results) == 3
    for (height, width, box), detections in zip(scenes, results, strict=True):
        assert len(detections) == 1
        np.testing.assert_allclose(detections.boxes[0], box, atol=pixel_tolerance(height, width))
    assert detector.detect_batch([]) == []


def test_detect_leaves_the_image_untouched(rectangle_model):
    image = scene(480, 640, (100, 80, 300, 200))
    before = image.copy()
    rectangle_detector(rectangle_model()).detect(image)
    np.testing.assert_array_equal(image, before)


def test_concurrent_calls_each_get_their_own_result(rectangle_model):
    detector = rectangle_detector(rectangle_model())
    boxes = [(10 * i, 20, 10 * i + 100, 200) for i in range(6)]
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        for _ in range(5):
            results[index] = detector.detect(scene(480, 640, boxes[index])).boxes[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(boxes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, box in enumerate(boxes):
        np.testing.assert_allclose(results[index], box, atol=pixel_tolerance(480, 640))


def test_class_names_come_from_the_model_or_the_configuration(rectangle_model):
    assert rectangle_detector(rectangle_model()).class_names == ("car", "stop", "person")
    unnamed = rectangle_model(class_names=None)
    assert rectangle_detector(unnamed).class_names == ("class_0", "class_1", "class_2")
    renamed = rectangle_detector(unnamed, class_names=["a", "b", "c"])
    assert renamed.detect(scene(100, 100, (10, 10, 50, 50))).class_names == ("b",)


def test_class_names_not_fitting_the_model_are_a_config_error(rectangle_model):
    with pytest.raises(ConfigError, match="lists 2 names but the model predicts 3 classes"):
        rectangle_detector(rectangle_model(), class_names=["a", "b"])
    with pytest.raises(ConfigError, match="duplicates"):
        rectangle_detector(rectangle_model(), class_names=["a", "b", "a"])


def test_class_filter_keeps_only_named_classes(rectangle_model):
    image = scene(100, 100, (10, 10, 50, 50))
    model = rectangle_model()
    assert len(rectangle_detector(model, class_filter=["car", "person"]).detect(image)) == 0
    assert len(rectangle_detector(model, class_filter=["stop"]).detect(image)) == 1
    assert len(rectangle_detector(model, class_filter=[]).detect(image)) == 1
    with pytest.raises(ConfigError, match=r"unknown classes \['bus'\].*'car', 'stop', 'person'"):
        rectangle_detector(model, class_filter=["bus"])


def test_thresholds_change_live_and_bad_values_change_nothing(rectangle_model):
    detector = rectangle_detector(rectangle_model())
    image = scene(100, 100, (10, 10, 50, 50))
    detector.update_thresholds(conf_threshold=0.9)
    assert len(detector.detect(image)) == 0
    detector.update_thresholds(conf_threshold=0.5, class_filter=["car"])
    assert len(detector.detect(image)) == 0
    with pytest.raises(ConfigError, match="nms_threshold must be a number in \\[0, 1\\], got 1.5"):
        detector.update_thresholds(nms_threshold=1.5, class_filter=None)
    assert detector.settings.nms_threshold == 0.45 and detector.class_filter == ("car",)
    detector.update_thresholds(class_filter=None)
    assert len(detector.detect(image)) == 1
    detector.update_thresholds(max_detections=3)  # class filter untouched
    assert detector.class_filter is None and detector.settings.conf_threshold == 0.5


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"conf_threshold": 1.5}, "conf_threshold must be a number in \\[0, 1\\], got 1.5"),
        ({"conf_threshold": -0.1}, "conf_threshold"),
        ({"conf_threshold": float("nan")}, "conf_threshold"),
        ({"nms_threshold": 2}, "nms_threshold"),
        ({"max_detections": 0}, "max_detections must be an integer >= 1, got 0"),
        ({"max_detections": 2.5}, "max_detections"),
        ({"num_threads": -1}, "num_threads"),
        ({"class_agnostic": "yes"}, "class_agnostic"),
        ({"class_filter": "stop"}, "class_filter must be a list of names, got 'stop'"),
        ({"input_size": (0, 416)}, "input_size"),
        ({"backend_options": ["x"]}, "backend_options"),
    ],
)
def test_invalid_configuration_is_a_config_error_naming_the_value(rectangle_model, config, message):
    with pytest.raises(ConfigError, match=message):
        rectangle_detector(rectangle_model(), **config)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((48, 64, 3), np.float32), "dtype uint8"),
        (np.zeros((48, 64), np.uint8), "single-channel"),
        (np.zeros((48, 64, 4), np.uint8), "4 channels"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
    ],
)
def test_bad_images_raise_invalid_image_error(rectangle_model, image, message):
    detector = rectangle_detector(rectangle_model())
    with pytest.raises(InvalidImageError, match=message):
        detector.detect(image)
    with pytest.raises(InvalidImageError, match=f"image 1 of 2: .*{message}"):
        detector.detect_batch([scene(48, 64, (1, 1, 5, 5)), image])


def test_missing_and_corrupted_model_files_raise_model_load_error(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelLoadError, match=f"model file not found: {missing}"):
        Detector(DetectorConfig(missing))
    corrupted = tmp_path / "corrupted.onnx"
    corrupted.write_bytes(b"\x08\x07 this is not protobuf" * 10)
    with pytest.raises(ModelLoadError, match=f"cannot load ONNX model {corrupted}"):
        Detector(DetectorConfig(corrupted))


def reference_detections(decoded: np.ndarray, conf: float, iou_threshold: float, ratio: float):
    """Straightforward per-box transcription of the official postprocess (class-aware)."""
    candidates = []
    for row in decoded:
        class_id = int(np.argmax(row[5:]))
        score = float(row[4] * row[5 + class_id])
        if score >= conf:
            cx, cy, w, h = (float(v) for v in row[:4])
            candidates.append((score, class_id, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    candidates.sort(key=lambda c: -c[0])

    def iou(a, b):
        inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = inter_w * inter_h
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    kept = []
    for candidate in candidates:
        if all(k[1] != candidate[1] or iou(k[2], candidate[2]) <= iou_threshold for k in kept):
            kept.append(candidate)
    return kept


def test_nano_model_detections_match_the_official_pipeline(data_dir, golden_io):
    image, decoded = golden_io["image_bgr"], golden_io["decoded_output"][0]
    detector = Detector(
        DetectorConfig(data_dir / "yolox_nano_c7.onnx", conf_threshold=0.001, num_threads=1)
    )
    assert detector.class_names == NANO_NAMES
    assert detector.input_size == (416, 416) and detector.decoded is False
    detections = detector.detect(image)

    # Boxes are clipped to the image; one found wholly above the image is dropped.
    expected = []
    for score, class_id, box in reference_detections(decoded, 0.001, 0.45, 0.65):
        x1, y1, x2, y2 = np.clip(np.array(box) / 0.65, 0, [640, 480, 640, 480])
        if x2 > x1 and y2 > y1:
            expected.append((score, class_id, (x1, y1, x2, y2)))
    assert len(detections) == len(expected) > 10
    expected_boxes = np.array([e[2] for e in expected])
    np.testing.assert_allclose(detections.boxes, expected_boxes, atol=0.05)
    np.testing.assert_allclose(detections.scores, [e[0] for e in expected], atol=1e-5)
    assert detections.class_ids.tolist() == [e[1] for e in expected]
    assert detections.class_names == tuple(NANO_NAMES[e[1]] for e in expected)


def test_model_names_mismatching_its_classes_is_a_model_load_error(tmp_path):
    model = write_yolox_like_onnx(
        tmp_path / "m.onnx", num_classes=3, metadata=ModelMetadata(class_names=("a", "b"))
    )
    with pytest.raises(ModelLoadError, match="lists 2 class names but the model predicts 3"):
        Detector(DetectorConfig(model))


def test_dynamic_models_take_the_input_size_from_metadata_or_configuration(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (120, 200, 3), np.uint8)
    dynamic = write_yolox_like_onnx(tmp_path / "dynamic.onnx", dynamic=True)
    with pytest.raises(ConfigError, match="dynamic input shape and no input_size metadata"):
        Detector(DetectorConfig(dynamic))
    with pytest.raises(ConfigError, match="multiples of 32"):
        Detector(DetectorConfig(dynamic, input_size=(64, 100)))
    detector = Detector(DetectorConfig(dynamic, input_size=(64, 96), conf_threshold=0.05))
    assert detector.input_size == (64, 96)

    static = write_yolox_like_onnx(tmp_path / "static.onnx", input_size=(64, 96))
    with pytest.raises(ConfigError, match="fixed at \\(64, 96\\)"):
        Detector(DetectorConfig(static, input_size=(128, 128)))
    reference = Detector(DetectorConfig(static, conf_threshold=0.05)).detect(image)
    assert len(reference) > 0
    np.testing.assert_allclose(detector.detect(image).boxes, reference.boxes, atol=1e-3)


def test_decoded_output_is_recognised_without_metadata(tmp_path):
    image = np.random.default_rng(2).integers(0, 256, (120, 200, 3), np.uint8)
    raw = Detector(
        DetectorConfig(write_yolox_like_onnx(tmp_path / "raw.onnx"), conf_threshold=0.05)
    )
    decoded = Detector(
        DetectorConfig(
            write_yolox_like_onnx(tmp_path / "dec.onnx", decoded=True), conf_threshold=0.05
        )
    )
    assert raw.decoded is False and decoded.decoded is True
    assert raw.class_names == ("class_0", "class_1", "class_2")
    expected, actual = raw.detect(image), decoded.detect(image)
    assert len(expected) > 0
    np.testing.assert_allclose(actual.boxes, expected.boxes, rtol=1e-4, atol=1e-2)
    assert actual.class_ids.tolist() == expected.class_ids.tolist()
