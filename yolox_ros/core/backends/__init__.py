"""Inference backends: the ``Backend`` protocol and a registry of backends by name.

Backends are found through the entry-point group ``yolox_ros.backends``, so
another package can add one by declaring, e.g. in its ``setup.py``::

    entry_points={"yolox_ros.backends": ["mine = my_pkg.backend:MyBackend"]}

The built-in backends (``_BUILTINS``: onnxruntime, openvino, torch, ncnn) are
known by module path, so they work from a source checkout that is not
installed; their names cannot be taken over by another package. Backend
modules (and the runtime they need) are imported only by ``get_backend``.
``auto`` is no backend of its own: ``auto.open_backend`` probes the
registered ones and returns the fastest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from yolox_ros.errors import BackendError
from yolox_ros.metadata import ModelMetadata

ENTRY_POINT_GROUP = "yolox_ros.backends"


@runtime_checkable
class Backend(Protocol):
    """A loaded model that maps network inputs to raw YOLOX outputs.

    Constructed as ``BackendClass(model_path, device=..., num_threads=...,
    strict_device=..., options=...)``: ``device`` is a backend-specific name
    ("cpu", "cuda", ...), ``num_threads`` 0 means the runtime's default,
    ``strict_device`` turns a fallback to another device into a
    ``BackendError``, ``options`` are backend-specific settings (unknown keys
    are a ``ConfigError``). A missing or unreadable model raises
    ``ModelLoadError``.
    """

    name: str  # registry name
    device: str  # device actually in use (after any fallback)
    providers: tuple[str, ...]  # execution providers / plugins actually in use
    input_shape: tuple[
        int | None, int | None, int | None, int | None
    ]  # (B, 3, H, W); None = dynamic
    metadata: ModelMetadata  # what the model file says about itself

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        num_threads: int = 0,
        strict_device: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None: ...

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` float32 to ``[B, N, 5+C]``; the result may be reused by the next run."""
        ...


@dataclass(frozen=True)
class _Builtin:
    target: str  # "module:Class"
    runtime_module: str  # top-level module of the runtime it imports
    pip_hint: str  # what to install when that module is missing


_BUILTINS = {
    "onnxruntime": _Builtin(
        "yolox_ros.core.backends.onnxruntime_backend:OnnxRuntimeBackend",
        "onnxruntime",
        "onnxruntime (onnxruntime-gpu for CUDA/TensorRT)",
    ),
    "openvino": _Builtin(
        "yolox_ros.core.backends.openvino_backend:OpenVinoBackend", "openvino", "openvino"
    ),
    "torch": _Builtin("yolox_ros.core.backends.torch_backend:TorchBackend", "torch", "torch"),
    "ncnn": _Builtin("yolox_ros.core.backends.ncnn_backend:NcnnBackend", "ncnn", "ncnn"),
}


def _registered() -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, builtin in _BUILTINS.items():
        found[name] = EntryPoint(name=name, value=builtin.target, group=ENTRY_POINT_GROUP)
    return found


def available_backends() -> list[str]:
    """Names of all registered backends (built-in and declared through entry points)."""
    return sorted(_registered())


def get_backend(name: str) -> type[Backend]:
    """The backend class registered as ``name``, imported now.

    Raises ``BackendError`` for an unknown name (listing the known ones) or
    when the backend's runtime package is not installed (naming it).
    """
    registered = _registered()
    entry_point = registered.get(name)
    if entry_point is None:
        raise BackendError(
            f"unknown backend {name!r}; available backends: {', '.join(sorted(registered))}"
        )
    try:
        return entry_point.load()
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        builtin = _BUILTINS.get(name)
        if builtin is not None and missing == builtin.runtime_module:
            raise BackendError(
                f"backend {name!r} needs the Python package {builtin.pip_hint}, which is not "
                f"installed: pip install {builtin.runtime_module}"
            ) from exc
        raise BackendError(
            f"backend {name!r} ({entry_point.value}) cannot be imported: {exc}"
        ) from exc
    except AttributeError as exc:
        raise BackendError(f"backend {name!r}: {entry_point.value} does not exist: {exc}") from exc
