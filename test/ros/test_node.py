"""The detection node in-process, talking to it over real ROS topics and parameter services.

The test model has random weights: it cannot be made to see an object at a
given place, so the node's output is compared with ``Detector.detect`` on the
same decoded frame (the detector's geometry is tested on its own). With the
trained traffic-sign model shipped, signs drawn at known places are checked too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rcl_interfaces.msg import SetParametersResult  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from support import DATA_DIR  # noqa: E402
from support.ros import (  # noqa: E402
    LATCHED,
    RELIABLE,
    NodeHarness,
    boxes_of,
    class_ids_of,
    compressed_msg,
    image_from_msg,
    image_msg,
    same_stamp,
    scores_of,
    wait_until,
)
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

from yolox_ros.core.annotate import draw_detections  # noqa: E402
from yolox_ros.core.detections import Detections  # noqa: E402
from yolox_ros.core.detector import Detector, DetectorConfig  # noqa: E402

pytestmark = pytest.mark.ros

MODEL = DATA_DIR / "yolox_nano_c7.onnx"
# The random-weights model scores everything low: a tiny threshold gives it boxes to compare.
LOW_THRESHOLD = 0.0002
BASE_PARAMETERS = {"model_path": str(MODEL), "num_threads": 1, "conf_threshold": LOW_THRESHOLD}


@pytest.fixture(scope="module")
def reference() -> Detector:
    """The same model as the node's, to compare the node's output with."""
    return Detector(DetectorConfig(MODEL, num_threads=1, conf_threshold=LOW_THRESHOLD))


@pytest.fixture(scope="module")
def scene(golden_io) -> np.ndarray:
    return golden_io["image_bgr"]


@pytest.fixture
def harness(ros_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[NodeHarness]:
    """The node with BASE_PARAMETERS, updated by an indirect parametrization's dict."""
    with NodeHarness({**BASE_PARAMETERS, **getattr(request, "param", {})}) as node:
        yield node


def with_parameters(**parameters: object) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("harness", [parameters], indirect=True, ids=[""])


def assert_accepted(results: list) -> None:
    assert all(result.successful for result in results), [result.reason for result in results]


def assert_same_detections(msg: Detection2DArray, expected: Detections) -> None:
    assert len(expected) > 0, "the reference found nothing: the comparison would prove nothing"
    np.testing.assert_allclose(boxes_of(msg), expected.boxes, atol=1e-3)
    np.testing.assert_allclose(scores_of(msg), expected.scores, rtol=1e-5)
    assert class_ids_of(msg) == list(expected.class_names)
    for detection in msg.detections:
        assert detection.header == msg.header
        assert detection.bbox.center.theta == 0.0


@pytest.mark.parametrize(
    ("encoding", "height", "width", "row_padding"),
    [
        ("bgr8", 480, 640, 0),
        ("rgb8", 360, 500, 6),
        ("bgra8", 240, 320, 0),
        ("rgba8", 600, 800, 4),
        ("mono8", 300, 400, 3),
    ],
)
def test_raw_frame_gives_the_detector_boxes_in_original_pixels(
    harness: NodeHarness,
    reference: Detector,
    scene: np.ndarray,
    encoding: str,
    height: int,
    width: int,
    row_padding: int,
) -> None:
    results = harness.subscribe(Detection2DArray, "detections")
    images = harness.publisher(Image, "image_raw")
    bgr = cv2.resize(scene, (width, height), interpolation=cv2.INTER_AREA)
    if encoding == "mono8":
        bgr = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    frame = image_msg(bgr, encoding, harness.next_header("camera_optical"), row_padding)

    msg = harness.exchange(images, frame, results)

    assert msg.header.frame_id == "camera_optical"
    assert msg.header.stamp == frame.header.stamp
    assert_same_detections(msg, reference.detect(bgr))


@pytest.mark.parametrize("backend", ["ncnn", "auto"])
def test_the_node_runs_on_ncnn_and_auto_as_on_onnxruntime(
    ros_env: dict[str, str], scene: np.ndarray, golden_ncnn: Path, backend: str
) -> None:
    model = golden_ncnn if backend == "ncnn" else MODEL
    parameters = {"model_path": str(model), "backend": backend, "num_threads": 1}
    parameters["conf_threshold"] = 0.001  # the golden weights are random: low scores
    expected = Detector(DetectorConfig(MODEL, num_threads=1, conf_threshold=0.001)).detect(scene)
    with NodeHarness(parameters) as harness:
        results = harness.subscribe(Detection2DArray, "detections")
        images = harness.publisher(Image, "image_raw")
        msg = harness.exchange(images, image_msg(scene, "bgr8", harness.next_header()), results)
    assert len(expected) > 0 and class_ids_of(msg) == list(expected.class_names)
    np.testing.assert_allclose(boxes_of(msg), expected.boxes, atol=0.5)  # ncnn: within 0.5 px
    np.testing.assert_allclose(scores_of(msg), expected.scores, atol=1e-3)


@with_parameters(transport="compressed")
@pytest.mark.parametrize("image_format", ["jpeg", "png"])
def test_compressed_frame_gives_the_detector_boxes(
    harness: NodeHarness, reference: Detector, scene: np.ndarray, image_format: str
) -> None:
    results = harness.subscribe(Detection2DArray, "detections")
    images = harness.publisher(CompressedImage, "image_raw/compressed")
    frame = compressed_msg(scene, image_format, harness.next_header())

    msg = harness.exchange(images, frame, results)

    decoded = cv2.imdecode(np.frombuffer(bytes(frame.data), np.uint8), cv2.IMREAD_COLOR)
    assert msg.header == frame.header
    assert_same_detections(msg, reference.detect(decoded))


@with_parameters(conf_threshold=0.5)
def test_nothing_seen_gives_an_empty_array_with_the_image_header(
    harness: NodeHarness, scene: np.ndarray
) -> None:
    results = harness.subscribe(Detection2DArray, "detections")
    images = harness.publisher(Image, "image_raw")
    frame = image_msg(scene, "bgr8", harness.next_header("front_camera"))

    msg = harness.exchange(images, frame, results)

    assert msg.header == frame.header
    assert len(msg.detections) == 0


def test_label_info_reaches_late_subscribers_and_follows_the_threshold(
    harness: NodeHarness, reference: Detector
) -> None:
    harness.wait_for_publisher("label_info")
    time.sleep(0.5)  # the node published its LabelInfo well before this subscriber exists
    labels = harness.subscribe(LabelInfo, "label_info", LATCHED)

    first = labels.wait_for(lambda m: True)
    assert [(c.class_id, c.class_name) for c in first.class_map] == list(
        enumerate(reference.class_names)
    )
    assert first.threshold == pytest.approx(LOW_THRESHOLD)

    assert_accepted(harness.set_parameters({"conf_threshold": 0.6}))
    updated = labels.wait_for(lambda m: m.threshold == pytest.approx(0.6))
    assert len(updated.class_map) == len(reference.class_names)


def status_values(array: DiagnosticArray) -> dict[str, str]:
    return {kv.key: kv.value for kv in array.status[0].values}


def test_annotated_image_is_drawn_only_while_subscribed_and_enabled(
    harness: NodeHarness, reference: Detector, scene: np.ndarray
) -> None:
    results = harness.subscribe(Detection2DArray, "detections")
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.publisher(Image, "image_raw")
    unwatched = image_msg(scene, "bgr8", harness.next_header())
    harness.exchange(images, unwatched, results)

    annotated = harness.subscribe(Image, "detections/image")
    wait_until(lambda: harness.node.count_subscribers("/detections/image") > 0)
    watched = image_msg(scene, "bgr8", harness.next_header())
    harness.exchange(images, watched, results)
    drawn = annotated.wait_for(same_stamp(watched.header))
    np.testing.assert_array_equal(
        image_from_msg(drawn), draw_detections(scene, reference.detect(scene))
    )

    assert_accepted(harness.set_parameters({"publish_annotated_image": False}))
    disabled = image_msg(scene, "bgr8", harness.next_header())
    harness.exchange(images, disabled, results)

    # Every image the node drew reached this subscriber: none was drawn for the
    # frame before it subscribed nor for the one after the parameter change.
    def all_counted(array: DiagnosticArray) -> bool:
        values = status_values(array)
        return int(values["frames_processed"]) == len(results.snapshot())

    values = status_values(diagnostics.wait_for(all_counted))
    assert int(values["annotated_images"]) == len(annotated.snapshot())
    assert {m.header.stamp.nanosec for m in annotated.snapshot()} == {watched.header.stamp.nanosec}


def test_live_parameter_changes_apply_to_the_next_frame(
    harness: NodeHarness, reference: Detector, scene: np.ndarray
) -> None:
    results = harness.subscribe(Detection2DArray, "detections")
    images = harness.publisher(Image, "image_raw")

    def detect() -> Detection2DArray:
        return harness.exchange(images, image_msg(scene, "bgr8", harness.next_header()), results)

    everything = detect()
    assert len({d.results[0].hypothesis.class_id for d in everything.detections}) > 1

    assert_accepted(harness.set_parameters({"class_filter": ["stop"], "class_id_format": "index"}))
    stops = detect()
    assert stops.detections and set(class_ids_of(stops)) == {"0"}  # "stop" is class 0

    # `ros2 param set /yolox class_filter "[]"` sends an empty bool array.
    assert_accepted(
        harness.set_parameters([Parameter("class_filter", Parameter.Type.BOOL_ARRAY, [])])
    )
    assert len(detect().detections) == len(everything.detections)

    assert_accepted(harness.set_parameters({"max_detections": 3, "class_id_format": "name"}))
    top3 = detect()
    assert class_ids_of(top3) == class_ids_of(everything)[:3]

    assert_accepted(harness.set_parameters({"use_sim_time": False}))  # rclpy's own still works
    assert_accepted(harness.set_parameters({"max_detections": 100, "conf_threshold": 0.005}))
    reference.update_thresholds(conf_threshold=0.005)
    try:
        assert_same_detections(detect(), reference.detect(scene))
    finally:
        reference.update_thresholds(conf_threshold=LOW_THRESHOLD)


def test_a_change_refused_by_any_callback_leaves_the_node_unchanged(
    harness: NodeHarness,
) -> None:
    # Another on-set callback of the same node (a component of the user's, say) refuses
    # what this node's validation accepts: nothing may have been applied.
    harness.node.add_on_set_parameters_callback(
        lambda parameters: SetParametersResult(
            successful=all(p.name != "max_detections" for p in parameters), reason="not today"
        )
    )
    label_info = harness.subscribe(LabelInfo, "label_info", LATCHED)
    label_info.wait_for(lambda m: True)
    before = harness.node.pipeline.detector.settings

    results = harness.set_parameters_atomically({"conf_threshold": 0.5, "max_detections": 7})

    assert not results.successful and results.reason == "not today"
    assert harness.node.pipeline.detector.settings == before
    assert harness.node.settings.conf_threshold == LOW_THRESHOLD
    assert harness.node.get_parameter("conf_threshold").value == LOW_THRESHOLD
    time.sleep(0.3)  # a label_info republished for the refused threshold would be here by now
    assert [m.threshold for m in label_info.snapshot()] == [pytest.approx(LOW_THRESHOLD)]

    # One valid and one invalid value at once: neither is applied.
    results = harness.set_parameters_atomically({"conf_threshold": 0.5, "nms_threshold": 2.0})
    assert not results.successful
    assert harness.node.pipeline.detector.settings == before


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("conf_threshold", 1.5, "conf_threshold out of range"),
        ("nms_threshold", -0.1, "nms_threshold out of range"),
        ("max_detections", 0, "max_detections must be an integer >= 1, got 0"),
        ("class_filter", ["stop", "unicorn"], "unknown classes ['unicorn']"),
        ("class_id_format", "label", "class_id_format must be one of name, index, got 'label'"),
        ("conf_threshold", "high", "Wrong parameter type"),
        ("model_path", "other.onnx", "read-only parameter: model_path"),
        ("transport", "compressed", "read-only parameter: transport"),
    ],
)
def test_invalid_parameter_change_is_refused_with_a_reason(
    harness: NodeHarness, name: str, value: object, reason: str
) -> None:
    before = harness.node.get_parameter(name).value

    (result,) = harness.set_parameters({name: value})

    assert not result.successful
    assert reason in result.reason
    assert harness.node.get_parameter(name).value == before


@with_parameters(input_topics=["front/image_raw", "rear/image_raw"])
def test_two_cameras_share_the_model_and_publish_in_their_own_namespace(
    harness: NodeHarness, reference: Detector, scene: np.ndarray
) -> None:
    cameras = {
        "front": cv2.resize(scene, (320, 240), interpolation=cv2.INTER_AREA),
        "rear": cv2.resize(scene, (800, 600), interpolation=cv2.INTER_AREA),
    }
    results = {name: harness.subscribe(Detection2DArray, f"{name}/detections") for name in cameras}
    publishers = {name: harness.publisher(Image, f"{name}/image_raw") for name in cameras}
    frames = {
        name: image_msg(bgr, "bgr8", harness.next_header(f"{name}_camera"))
        for name, bgr in cameras.items()
    }
    for name, frame in frames.items():
        publishers[name].publish(frame)

    for name, bgr in cameras.items():
        msg = harness.exchange(publishers[name], frames[name], results[name])
        assert msg.header == frames[name].header
        assert_same_detections(msg, reference.detect(bgr))
        other = "rear" if name == "front" else "front"
        assert not [m for m in results[other].snapshot() if m.header == frames[name].header]


BAD_FRAMES = ["unknown_encoding", "data_too_short", "step_too_small", "empty_image", "corrupt_jpeg"]


def bad_frame(case: str, scene: np.ndarray, header) -> tuple[Image | CompressedImage, str]:
    """A malformed frame and the problem the node must name in its log."""
    if case == "corrupt_jpeg":
        data = b"\xff\xd8\xff\xe0garbage"
        return CompressedImage(header=header, format="jpeg", data=data), "cannot decode jpeg"
    frame = image_msg(cv2.resize(scene, (64, 48)), "bgr8", header)  # step 192, 9216 bytes
    if case == "unknown_encoding":
        frame.encoding = "nv21"
        return frame, "unsupported image encoding 'nv21'"
    if case == "data_too_short":
        frame.data = bytes(frame.data)[:-1]
        return frame, "image data has 9215 bytes, expected height x step = 48 x 192"
    if case == "step_too_small":
        frame.step = 191
        return frame, "step 191 is smaller than width x bytes per pixel = 64 x 3"
    assert case == "empty_image"
    frame.height = frame.width = frame.step = 0
    frame.data = b""
    return frame, "empty image: 0x0"


@pytest.mark.parametrize("case", BAD_FRAMES)
def test_bad_frame_is_logged_and_skipped_and_the_next_frame_is_processed(
    ros_env: dict[str, str], scene: np.ndarray, case: str
) -> None:
    compressed = case == "corrupt_jpeg"
    parameters = {
        **BASE_PARAMETERS,
        "transport": "compressed" if compressed else "raw",
        "input_reliability": "reliable",  # the bad frame must not be lost on the way
    }
    with NodeHarness(parameters) as harness:
        topic = "image_raw/compressed" if compressed else "image_raw"
        images = harness.publisher(CompressedImage if compressed else Image, topic)
        results = harness.subscribe(Detection2DArray, "detections")
        logs = harness.rosout()
        bad, problem = bad_frame(case, scene, harness.next_header())

        images.publish(bad)
        log = logs.wait_for(lambda m: m.name == "yolox" and problem in m.msg)

        good_header = harness.next_header()
        good = (
            compressed_msg(scene, "jpeg", good_header)
            if compressed
            else image_msg(scene, "bgr8", good_header)
        )
        assert harness.exchange(images, good, results).header == good_header
        assert "image_raw" in log.msg  # names the camera
        assert not [m for m in results.snapshot() if m.header == bad.header]


@with_parameters(input_reliability="reliable")
def test_malformed_serialized_images_do_not_stop_detection(
    harness: NodeHarness, scene: np.ndarray
) -> None:
    # A publisher can put any bytes on the wire (rclpy publishes bytes as a serialized message);
    # the middleware rejects these when the node takes them, and the next frame is still answered.
    images = harness.publisher(Image, "image_raw")
    results = harness.subscribe(Detection2DArray, "detections")
    harness.wait_for_publisher("detections")
    serialized = serialize_message(image_msg(scene, "bgr8", harness.next_header()))
    images.publish(serialized[:100])  # cut inside the pixel data
    images.publish(serialized[:4] + b"\xff" * 60)  # a sequence length far beyond the message

    good = image_msg(scene, "bgr8", harness.next_header())
    assert harness.exchange(images, good, results).header == good.header


@with_parameters(input_reliability="reliable")
def test_burst_of_frames_processes_the_latest_and_counts_the_dropped(
    harness: NodeHarness, scene: np.ndarray
) -> None:
    results = harness.subscribe(Detection2DArray, "detections")
    diagnostics = harness.subscribe(DiagnosticArray, "/diagnostics")
    images = harness.publisher(Image, "image_raw", RELIABLE)
    harness.wait_for_publisher("detections")
    frames = [image_msg(scene, "bgr8", harness.next_header()) for _ in range(12)]

    for frame in frames:  # faster than the model, slow enough for the callbacks to see each
        images.publish(frame)
        time.sleep(0.002)

    results.wait_for(same_stamp(frames[-1].header))
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in results.snapshot()]
    assert stamps == sorted(stamps), "an older frame was processed after a newer one"

    def settled(array: DiagnosticArray) -> bool:
        values = status_values(array)
        return int(values["frames_processed"]) == len(stamps)

    values = status_values(diagnostics.wait_for(settled))
    received, dropped = int(values["frames_received"]), int(values["frames_dropped"])
    assert received <= len(frames)
    assert len(stamps) + dropped == received
    assert dropped > 0, "the model kept up with a frame every 2 ms: no overload was tested"
    assert float(values["latency_p50_ms"]) > 0
    assert values["backend"] == "onnxruntime" and "CPUExecutionProvider" in values["providers"]


def test_default_model_is_the_shipped_via_traffic_sign_model(ros_env: dict[str, str]) -> None:
    from yolox_ros.synthetic import TRACK_CLASS_NAMES as CLASS_NAMES

    with NodeHarness({"num_threads": 1}) as harness:
        labels = harness.subscribe(LabelInfo, "label_info", LATCHED)
        label_info = labels.wait_for(lambda m: True)
    assert tuple(c.class_name for c in label_info.class_map) == CLASS_NAMES


@pytest.mark.parametrize(
    ("width", "height", "encoding", "row_padding"),
    [(640, 480, "bgr8", 0), (320, 240, "rgb8", 8), (1280, 720, "bgra8", 0)],
)
def test_sign_at_a_known_place_is_found_there_in_original_pixels(
    ros_env: dict[str, str], width: int, height: int, encoding: str, row_padding: int
) -> None:
    from yolox_ros.synthetic import CLASS_NAMES, STOP, render_scene

    scale = width / 640
    box = np.array([300, 180, 380, 260]) * scale
    bgr, boxes, _ = render_scene(np.random.default_rng(7), width, height, signs=[(STOP, box)])
    street_model = "package://yolox_ros/models/street_sign_nano.onnx"
    parameters = {"model_path": street_model, "num_threads": 1, "conf_threshold": 0.3}
    with NodeHarness(parameters) as harness:
        results = harness.subscribe(Detection2DArray, "detections")
        images = harness.publisher(Image, "image_raw")
        frame = image_msg(bgr, encoding, harness.next_header(), row_padding)
        msg = harness.exchange(images, frame, results)

    assert class_ids_of(msg)[:1] == [CLASS_NAMES[STOP]]
    assert iou(boxes_of(msg)[0], boxes[0]) > 0.85, (boxes_of(msg)[0], boxes[0])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return float(inter / (area - inter))
