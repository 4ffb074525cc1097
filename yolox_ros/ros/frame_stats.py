"""Per-camera frame counters and latency percentiles, reported on /diagnostics."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

LATENCY_WINDOW = 200  # latest frames the percentiles are taken over
DROP_WARN_FRACTION = 0.5


class Health(IntEnum):
    """Same values as diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class StatsSnapshot:
    received: int = 0
    processed: int = 0
    dropped: int = 0  # overwritten by a newer frame before the model got to them
    invalid: int = 0  # could not be decoded
    invalid_by_cause: dict[str, int] = field(default_factory=dict)
    failed: int = 0  # the model raised on them
    annotated: int = 0  # annotated images published (only while someone subscribes)
    latency_p50_ms: float | None = None  # image stamp -> detections published
    latency_p95_ms: float | None = None
    inference_p50_ms: float | None = None  # detector time alone


class FrameStats:
    """Thread-safe counters of one camera; percentiles over the latest frames."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {
            "received": 0,
            "processed": 0,
            "dropped": 0,
            "invalid": 0,
            "failed": 0,
            "annotated": 0,
        }
        self._invalid_by_cause: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._inference_times: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def count_received(self, replaced_unprocessed: bool) -> None:
        with self._lock:
            self._counts["received"] += 1
            self._counts["dropped"] += int(replaced_unprocessed)

    def count_invalid(self, cause: str) -> None:
        with self._lock:
            self._counts["invalid"] += 1
            self._invalid_by_cause[cause] += 1

    def count_failed(self) -> None:
        with self._lock:
            self._counts["failed"] += 1

    def count_annotated(self) -> None:
        with self._lock:
            self._counts["annotated"] += 1

    def count_processed(self, latency_s: float | None, inference_s: float) -> None:
        """``latency_s`` is None when the image carries no stamp."""
        with self._lock:
            self._counts["processed"] += 1
            self._inference_times.append(inference_s)
            if latency_s is not None:
                self._latencies.append(latency_s)

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            latencies = np.array(self._latencies) * 1e3
            inference = np.array(self._inference_times) * 1e3
            counts = dict(self._counts)
            invalid_by_cause = dict(self._invalid_by_cause)
        return StatsSnapshot(
            **counts,
            invalid_by_cause=invalid_by_cause,
            latency_p50_ms=float(np.percentile(latencies, 50)) if latencies.size else None,
            latency_p95_ms=float(np.percentile(latencies, 95)) if latencies.size else None,
            inference_p50_ms=float(np.median(inference)) if inference.size else None,
        )


def assess(previous: StatsSnapshot, current: StatsSnapshot) -> tuple[Health, str]:
    """Health of a camera over the period between two snapshots, with a one-line summary."""
    received = current.received - previous.received
    dropped = current.dropped - previous.dropped
    invalid = current.invalid - previous.invalid
    failed = current.failed - previous.failed
    if failed:
        return Health.ERROR, f"detector failed on {failed} frames"
    if received == 0:
        return Health.WARN, "no images received"
    if invalid:
        return Health.WARN, f"{invalid} of {received} frames invalid and skipped"
    if dropped > DROP_WARN_FRACTION * received:
        return Health.WARN, f"{dropped} of {received} frames dropped: model slower than camera"
    return Health.OK, "running"
