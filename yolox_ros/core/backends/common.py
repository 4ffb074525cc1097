"""Checks and messages shared by the backend implementations."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from yolox_ros.errors import BackendError, ConfigError, ModelLoadError

logger = logging.getLogger("yolox_ros.core.backends")


def require_model_file(path: str | Path) -> Path:
    """The model path as a ``Path``; ``ModelLoadError`` if it is not an existing file."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelLoadError(f"model path is not a file: {path}")
    return path


def require_device(backend: str, device: str, supported: Iterable[str]) -> None:
    """``ConfigError`` unless ``device`` is one this backend knows."""
    supported = tuple(supported)
    if device not in supported:
        raise ConfigError(
            f"backend {backend!r} does not support device {device!r}; "
            f"use one of {', '.join(supported)}"
        )


def checked_options(
    backend: str, options: Mapping[str, Any] | None, allowed: Mapping[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """Backend options as a dict; ``ConfigError`` for unknown keys or values of the wrong type."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for backend {backend!r}; "
            f"known: {known}"
        )
    for key, value in options.items():
        expected = allowed[key]
        wrong_bool = isinstance(value, bool) and expected is not bool
        if wrong_bool or not isinstance(value, expected):
            expected_names = (
                expected.__name__
                if isinstance(expected, type)
                else " or ".join(t.__name__ for t in expected)
            )
            raise ConfigError(
                f"backend {backend!r} option {key!r} must be {expected_names}, got {value!r}"
            )
    return options


def fall_back_or_raise(backend: str, requested: str, used: str, reason: str, strict: bool) -> None:
    """Report running on ``used``, not ``requested``: one warning, or ``BackendError`` if strict."""
    if strict:
        raise BackendError(
            f"backend {backend!r} cannot run on device {requested!r} ({reason}) "
            "and strict_device is set"
        )
    logger.warning(
        "backend %r cannot run on device %r (%s); falling back to %r",
        backend,
        requested,
        reason,
        used,
    )
