"""``backend: auto`` / ``device: auto``: time the installed candidates, keep the fastest.

The fastest engine differs by machine (OpenVINO beats ONNX Runtime on some
CPUs and loses on others), so it is measured, not assumed: every candidate
that loads runs a few inferences of the model on a fixed random input, and
the one with the lowest median time is kept. A candidate that is not
installed, has no such device here, or fails in any way is skipped with a
log line. The choice is cached per model file (path, size, mtime) and machine
(host, CPU, runtime versions) in ``$XDG_CACHE_HOME/yolox_ros/auto_backend.json``
so that later starts load the winner directly; delete the file to re-probe.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolox_ros.core.backends import Backend, get_backend
from yolox_ros.core.backends.common import require_model_file
from yolox_ros.core.backends.model_files import one_line
from yolox_ros.errors import BackendError, ConfigError

logger = logging.getLogger(__name__)

AUTO = "auto"
# Backends that can run a model file, by its suffix.
BACKENDS_FOR_SUFFIX = {
    ".onnx": ("onnxruntime", "openvino"),
    ".xml": ("openvino",),
    ".param": ("ncnn",),
    ".pth": ("torch",),
    ".pt": ("torch",),
}
# Building a TensorRT engine takes minutes: too slow for a probe at start-up.
# It is used when named (device: tensorrt), never picked by auto.
NOT_PROBED = {("onnxruntime", "tensorrt")}
RUNTIME_PACKAGES = ("onnxruntime", "onnxruntime-gpu", "openvino", "torch", "ncnn")
WARMUP_RUNS = 2
TIMED_RUNS = 5
PROBE_SEED = 0
CACHE_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    backend: str
    device: str

    def __str__(self) -> str:
        return f"{self.backend}/{self.device}"


def cache_file() -> Path:
    """Where choices are cached: ``$XDG_CACHE_HOME/yolox_ros/auto_backend.json``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "yolox_ros" / "auto_backend.json"


def open_backend(
    model_path: str | Path,
    *,
    backend: str,
    device: str,
    num_threads: int = 0,
    strict_device: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Backend:
    """The backend ``backend`` on ``device``; either may be ``auto``: the fastest is probed."""
    if AUTO not in (backend, device):
        return get_backend(backend)(
            Path(model_path),
            device=device,
            num_threads=num_threads,
            strict_device=strict_device,
            options=options,
        )
    if backend != AUTO:
        get_backend(backend)  # an unknown or uninstalled backend is named, not probed around
    if backend == AUTO and options:
        raise ConfigError(
            "backend_options are specific to one backend: name the backend instead of auto"
        )
    path = require_model_file(model_path)
    candidates = _candidates(path, backend, device)
    if not candidates:
        raise BackendError(f"backend auto: no backend known to run {path.suffix} files")
    key = _cache_key(path, backend, device, num_threads)
    candidate = _cached_choice(key)
    if candidate is not None:
        try:
            loaded = _load(candidate, path, num_threads, options)
        except Exception as exc:  # noqa: BLE001 - any failure means: probe again
            logger.info(
                "auto: cached choice %s no longer loads (%s); probing again", candidate, exc
            )
        else:
            logger.info("auto: %s for %s (cached in %s)", candidate, path.name, cache_file())
            return loaded
    chosen, times, skipped = _probe(path, candidates, num_threads, options)
    if chosen is None and device not in (AUTO, "cpu") and not strict_device:
        logger.warning("auto: no backend runs %s on %r; probing cpu", path.name, device)
        cpu = _candidates(path, backend, "cpu")
        chosen, times, skipped = _probe(path, cpu, num_threads, options)
    if chosen is None:
        reasons = "; ".join(_reasons(skipped))
        raise BackendError(
            f"backend {backend!r} device {device!r}: no candidate could run {path} ({reasons})"
        )
    _write_cache(key, chosen, times)
    return chosen


def _reasons(skipped: Mapping[str, str]) -> list[str]:
    """``"candidate: reason"`` each; a reason given before (a bad model file) is not repeated."""
    first_with: dict[str, str] = {}
    reasons = []
    for name, reason in skipped.items():
        earlier = first_with.setdefault(reason, name)
        reasons.append(f"{name}: {reason}" if earlier == name else f"{name}: same as {earlier}")
    return reasons


def _candidates(path: Path, backend: str, device: str) -> list[Candidate]:
    names = BACKENDS_FOR_SUFFIX.get(path.suffix.lower(), ()) if backend == AUTO else (backend,)
    candidates = []
    for name in names:
        if device != AUTO:
            candidates.append(Candidate(name, device))
            continue
        try:
            devices = getattr(get_backend(name), "DEVICES", ("cpu",))
        except BackendError as exc:
            logger.info("auto: skipping %s: %s", name, exc)
            continue
        candidates += [Candidate(name, d) for d in devices if (name, d) not in NOT_PROBED]
    return candidates


def _load(
    candidate: Candidate, path: Path, num_threads: int, options: Mapping[str, Any] | None
) -> Backend:
    # Strict: a device that is not there must fail, not come back as a second CPU candidate.
    return get_backend(candidate.backend)(
        path,
        device=candidate.device,
        num_threads=num_threads,
        strict_device=True,
        options=options,
    )


def _probe_input(backend: Backend) -> np.ndarray:
    shape = backend.input_shape
    size = shape[2:] if None not in shape[2:] else backend.metadata.input_size
    if size is None:
        raise ConfigError("the model has a dynamic input size and no input_size metadata")
    rng = np.random.default_rng(PROBE_SEED)
    return rng.uniform(0, 255, (shape[0] or 1, 3, *size)).astype(np.float32)


def _median_ms(backend: Backend) -> float:
    batch = _probe_input(backend)
    for _ in range(WARMUP_RUNS):
        backend.run(batch)
    times = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        backend.run(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _probe(
    path: Path,
    candidates: Sequence[Candidate],
    num_threads: int,
    options: Mapping[str, Any] | None,
) -> tuple[Backend | None, dict[str, float], dict[str, str]]:
    """The fastest candidate (loaded), each candidate's median ms, and why others were skipped."""
    started = time.perf_counter()
    best: Backend | None = None
    best_ms = float("inf")
    times: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for candidate in candidates:
        try:
            loaded = _load(candidate, path, num_threads, options)
            median_ms = _median_ms(loaded)
        except Exception as exc:  # noqa: BLE001 - whatever a candidate raises, it is skipped
            skipped[str(candidate)] = one_line(exc) or repr(exc)
            logger.info("auto: skipping %s: %s", candidate, skipped[str(candidate)])
            continue
        times[str(candidate)] = round(median_ms, 3)
        logger.info("auto: %s runs %s in %.2f ms (median)", candidate, path.name, median_ms)
        if median_ms < best_ms:
            best, best_ms = loaded, median_ms
    if best is not None:
        logger.info(
            "auto: chose %s/%s for %s (%.2f ms; probe of %d candidates took %.2f s)",
            best.name,
            best.device,
            path.name,
            best_ms,
            len(candidates),
            time.perf_counter() - started,
        )
    return best, times, skipped


def _cache_key(path: Path, backend: str, device: str, num_threads: int) -> str:
    stat = path.stat()
    versions = {}
    for package in RUNTIME_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    identity = {
        "model": [str(path.resolve()), stat.st_size, stat.st_mtime_ns],
        "machine": [platform.node(), platform.machine(), platform.processor(), os.cpu_count()],
        "runtimes": versions,
        "request": [backend, device, num_threads],
        "version": CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _read_cache() -> dict[str, dict[str, Any]]:
    try:
        entries = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache yet, or unreadable: probe
    return entries if isinstance(entries, dict) else {}


def _cached_choice(key: str) -> Candidate | None:
    entry = _read_cache().get(key)
    if not isinstance(entry, dict):
        return None
    backend, device = entry.get("backend"), entry.get("device")
    if not isinstance(backend, str) or not isinstance(device, str):
        return None
    return Candidate(backend, device)


def _write_cache(key: str, chosen: Backend, times: Mapping[str, float]) -> None:
    entries = _read_cache()
    entries[key] = {"backend": chosen.name, "device": chosen.device, "times_ms": dict(times)}
    path = cache_file()
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        logger.warning("auto: cannot cache the choice in %s: %s", path, exc)
        if partial.is_file():
            partial.unlink()
