"""What every backend does the same way: ``BackendBase`` and the checks and messages it uses."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from yolox_ros.errors import BackendError, ConfigError, ModelLoadError
from yolox_ros.metadata import ModelMetadata

logger = logging.getLogger("yolox_ros.core.backends")


@dataclass(frozen=True)
class Choice:
    """A text option that must be one of ``choices``; when it is not given, ``default``."""

    default: str
    choices: tuple[str, ...]


# Each option's type (or types), or the Choice it makes.
OptionTypes = Mapping[str, type | tuple[type, ...] | Choice]


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
    backend: str, options: Mapping[str, Any] | None, allowed: OptionTypes
) -> dict[str, Any]:
    """Backend options as a dict, each ``Choice`` filled in; ``ConfigError`` for unknown keys
    or values of the wrong type or outside their choices."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for backend {backend!r}; "
            f"known: {known}"
        )
    for key, value in options.items():
        expected = str if isinstance(allowed[key], Choice) else allowed[key]
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
    for key, choice in allowed.items():
        if isinstance(choice, Choice):
            value = options.setdefault(key, choice.default)
            if value not in choice.choices:
                raise ConfigError(
                    f"{backend} {key} must be one of {', '.join(choice.choices)}, got {value!r}"
                )
    return options


class BackendBase:
    """The constructor steps every backend shares; a subclass loads its model in ``_load``.

    ``__init__`` checks the model file, the device name and the option keys
    and types, then calls ``_load(path, device, num_threads, options)``, which
    sets ``device``, ``providers``, ``input_shape`` and ``metadata`` (see the
    ``Backend`` protocol) and reports a device fallback with ``_fall_back``.
    """

    name: ClassVar[str]
    DEVICES: ClassVar[Sequence[str]] = ("cpu",)
    OPTIONS: ClassVar[OptionTypes] = {}

    device: str
    providers: tuple[str, ...]
    input_shape: tuple[int | None, int | None, int | None, int | None]
    metadata: ModelMetadata

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "cpu",
        num_threads: int = 0,
        strict_device: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        path = require_model_file(model_path)
        require_device(self.name, device, self.DEVICES)
        checked = checked_options(self.name, options, self.OPTIONS)
        self._strict_device = strict_device
        self._load(path, device, num_threads, checked)

    def _load(self, path: Path, device: str, num_threads: int, options: dict[str, Any]) -> None:
        raise NotImplementedError

    def run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fall_back(self, requested: str, used: str, reason: str) -> None:
        """One warning for running on ``used`` instead of ``requested``; an error if strict."""
        if self._strict_device:
            raise BackendError(
                f"backend {self.name!r} cannot run on device {requested!r} ({reason}) "
                "and strict_device is set"
            )
        logger.warning(
            "backend %r cannot run on device %r (%s); falling back to %r",
            self.name,
            requested,
            reason,
            used,
        )

    @staticmethod
    def _metadata(path: Path, props: Mapping[str, str]) -> ModelMetadata:
        """``ModelMetadata`` parsed from ``props``; a malformed value names the model file."""
        try:
            return ModelMetadata.from_props(props)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{path}: {exc}") from exc
