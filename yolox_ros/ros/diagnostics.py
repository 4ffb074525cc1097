"""The node's /diagnostics report: one status per camera from its frame counters."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from yolox_ros.core.backends import Backend
from yolox_ros.ros.frame_stats import FrameStats, StatsSnapshot, assess
from yolox_ros.ros.liveness import InputLiveness
from yolox_ros.ros.messages import diagnostic_status


class CameraReport:
    """A camera's status, judged over the period since the previous report."""

    def __init__(self, input_topic: str, stats: FrameStats) -> None:
        self.input_topic = input_topic  # resolved: the name users see in `ros2 topic list`
        self.stats = stats
        self._reported = StatsSnapshot()
        self.liveness: InputLiveness | None = None  # while subscribed

    def status(self, node_name: str, backend: Backend) -> DiagnosticStatus:
        snapshot = self.stats.snapshot()
        health, message = assess(self._reported, snapshot)
        self._reported = snapshot
        liveness = self.liveness
        if liveness is not None and not liveness.state.ok:  # says why nothing arrives
            health, message = max(health, liveness.state.health), liveness.state.message
        values = {
            "input_topic": self.input_topic,
            "frames_received": snapshot.received,
            "frames_processed": snapshot.processed,
            "frames_dropped": snapshot.dropped,
            "frames_invalid": snapshot.invalid,
            **{
                f"frames_invalid_{cause}": count
                for cause, count in sorted(snapshot.invalid_by_cause.items())
            },
            "frames_failed": snapshot.failed,
            "annotated_images": snapshot.annotated,
            "latency_p50_ms": _milliseconds(snapshot.latency_p50_ms),
            "latency_p95_ms": _milliseconds(snapshot.latency_p95_ms),
            "inference_p50_ms": _milliseconds(snapshot.inference_p50_ms),
            **(liveness.values if liveness is not None else {}),
            "backend": backend.name,
            "device": backend.device,
            "providers": ", ".join(backend.providers),
        }
        name = f"{node_name}: {self.input_topic}"
        return diagnostic_status(name, backend.device, health, message, values)


def _milliseconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"
