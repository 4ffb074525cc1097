"""A camera's diagnostic status: counters, invalid frames by cause, health over the period."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("diagnostic_msgs.msg")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from yolox_ros.ros.diagnostics import CameraReport  # noqa: E402
from yolox_ros.ros.frame_stats import FrameStats  # noqa: E402

BACKEND = SimpleNamespace(name="onnxruntime", device="cpu", providers=("CPUExecutionProvider",))


def test_invalid_frames_are_counted_by_cause_and_warn_for_the_period_only() -> None:
    stats = FrameStats()
    report = CameraReport("/front/image_raw", stats)
    for cause in ("too_large", "too_large", "encoding"):
        stats.count_received(False)
        stats.count_invalid(cause)

    status = report.status("yolox", BACKEND)
    values = {kv.key: kv.value for kv in status.values}
    assert status.name == "yolox: /front/image_raw"
    assert status.level == DiagnosticStatus.WARN
    assert status.message == "3 of 3 frames invalid and skipped"
    assert values["frames_invalid"] == "3"
    assert values["frames_invalid_too_large"] == "2" and values["frames_invalid_encoding"] == "1"

    stats.count_received(False)
    stats.count_processed(0.01, 0.005)
    assert report.status("yolox", BACKEND).level == DiagnosticStatus.OK  # only new frames count
