"""The YOLOX detector: BGR images in, boxes in original-image pixels out (no ROS, no torch).

Typical use::

    detector = Detector(DetectorConfig("models/yolox_nano.onnx", conf_threshold=0.4))
    detections = detector.detect(cv2.imread("frame.jpg"))

What the model file says (class names, input size, whether its output is
decoded) is used unless the configuration overrides it. A model without the
``decode_in_inference`` metadata is probed once at start-up with a blank
frame and ``postprocess.looks_decoded`` decides from its output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from yolox_ros.core.backends import Backend
from yolox_ros.core.backends.auto import open_backend
from yolox_ros.core.detections import Detections
from yolox_ros.core.postprocess import (
    FIRST_CLASS_COLUMN,
    PostprocessSettings,
    anchor_count,
    looks_decoded,
    select_detections,
    visible_in_image,
)
from yolox_ros.core.preprocess import PAD_VALUE, LetterboxBuffers, validate_image
from yolox_ros.core.settings import (
    BACKEND,
    BACKEND_SETTINGS,
    CLASS_AGNOSTIC,
    CLASS_FILTER,
    CONF_THRESHOLD,
    DEVICE,
    MAX_DETECTIONS,
    NMS_THRESHOLD,
    NUM_THREADS,
    STRICT_DEVICE,
    check_names,
    is_int,
)
from yolox_ros.errors import (
    BackendError,
    ConfigError,
    InvalidImageError,
    ModelLoadError,
    YoloxRosError,
)

__all__ = ["Detector", "DetectorConfig", "validate_image"]

logger = logging.getLogger(__name__)

_UNCHANGED: Any = ...


@dataclass
class DetectorConfig:
    """Everything that defines a detector. ``Detector`` validates it.

    Defaults, ranges and meanings are those of ``yolox_ros.core.settings``.
    """

    model_path: str | Path
    backend: str = BACKEND.default
    device: str = DEVICE.default
    strict_device: bool = STRICT_DEVICE.default
    num_threads: int = NUM_THREADS.default
    conf_threshold: float = CONF_THRESHOLD.default
    nms_threshold: float = NMS_THRESHOLD.default
    class_agnostic: bool = CLASS_AGNOSTIC.default
    max_detections: int = MAX_DETECTIONS.default
    class_filter: Sequence[str] | None = CLASS_FILTER.default  # None or empty: every class
    class_names: Sequence[str] | None = None  # override the model's
    input_size: tuple[int, int] | None = None  # override (h, w); only for dynamic-shape models
    backend_options: Mapping[str, Any] = field(
        default_factory=dict
    )  # e.g. graph_optimization_level


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _names(value: object, what: str) -> tuple[str, ...] | None:
    """A sequence of non-empty names as a tuple (``None`` stays ``None``)."""
    if value is None:
        return None
    return check_names(what, value)


def _check_thresholds(conf: object, iou: object, agnostic: object, max_det: object) -> None:
    for spec, value in zip(
        (CONF_THRESHOLD, NMS_THRESHOLD, CLASS_AGNOSTIC, MAX_DETECTIONS),
        (conf, iou, agnostic, max_det),
        strict=True,
    ):
        spec.check(value)


def _check_config(config: DetectorConfig) -> None:
    """Everything that can be checked before loading the model (which may take minutes)."""
    _check_thresholds(
        config.conf_threshold, config.nms_threshold, config.class_agnostic, config.max_detections
    )
    _names(config.class_filter, "class_filter")
    _names(config.class_names, "class_names")
    _require(
        isinstance(config.model_path, str | Path) and str(config.model_path) != "",
        f"model_path must be a file path, got {config.model_path!r}",
    )
    for spec in BACKEND_SETTINGS:
        spec.check(getattr(config, spec.name))
    _require(
        isinstance(config.backend_options, Mapping),
        f"backend_options must be a mapping, got {config.backend_options!r}",
    )
    if config.input_size is not None:
        size = config.input_size
        _require(
            isinstance(size, Sequence)
            and len(size) == 2
            and all(is_int(v) and v > 0 for v in size),
            f"input_size must be (height, width) with positive integers, got {size!r}",
        )


class Detector:
    """YOLOX detection on BGR uint8 images with a pluggable inference backend.

    Preprocessing, decoding and NMS follow the official YOLOX (see
    ``preprocess`` and ``postprocess``). Thread-safe: concurrent calls run one
    after another, since they share the preallocated input buffers.
    ``update_thresholds`` may be called from any thread; a running call
    finishes with the settings it started with.

    Attributes: ``class_names``, ``input_size`` (h, w), ``backend`` (with
    ``name``, ``device``, ``providers`` actually in use), ``decoded`` (whether
    the model's boxes come decoded), ``strides``, ``class_filter`` and
    ``settings`` (the thresholds in effect).
    """

    def __init__(self, config: DetectorConfig) -> None:
        _check_config(config)
        # backend or device "auto": the fastest installed candidate, probed once per model.
        self.backend: Backend = open_backend(
            Path(config.model_path),
            backend=config.backend,
            device=config.device,
            num_threads=int(config.num_threads),
            strict_device=config.strict_device,
            options=config.backend_options,
        )
        metadata = self.backend.metadata
        self.model_path = Path(config.model_path)
        self.strides = metadata.strides
        self.input_size = self._input_size(config.input_size, metadata.input_size)
        self._buffers = LetterboxBuffers(self.input_size)
        batch = self.backend.input_shape[0]
        self._fixed_batch = batch if is_int(batch) and batch > 0 else None
        self._lock = threading.Lock()

        # One run on a blank (padding-coloured) frame: proves the model runs, gives
        # the class count of models with a dynamic output width, and lets
        # models without decode metadata be probed.
        blank = np.full((*self.input_size, 3), int(PAD_VALUE), np.uint8)
        tensor, _ = self._buffers.fill([blank], self._fixed_batch or 1)
        output = self._run(tensor)
        num_classes = output.shape[2] - FIRST_CLASS_COLUMN
        self.class_names = self._class_names(config.class_names, metadata.class_names, num_classes)
        if metadata.decoded is not None:
            self.decoded = metadata.decoded
        else:
            self.decoded = looks_decoded(output[:1], self.input_size)
            logger.info(
                "model has no decode_in_inference metadata; its output looks %s",
                "decoded" if self.decoded else "not decoded (raw)",
            )

        self._settings = PostprocessSettings()
        self.class_filter: tuple[str, ...] | None = None
        self.update_thresholds(
            conf_threshold=config.conf_threshold,
            nms_threshold=config.nms_threshold,
            class_agnostic=config.class_agnostic,
            max_detections=config.max_detections,
            class_filter=config.class_filter,
        )
        logger.info(
            "detector ready: %s with %s on %s (%s), input %dx%d, %d classes, %s output",
            self.model_path.name,
            self.backend.name,
            self.backend.device,
            ", ".join(self.backend.providers),
            *self.input_size,
            num_classes,
            "decoded" if self.decoded else "raw",
        )

    def _input_size(
        self, configured: tuple[int, int] | None, from_metadata: tuple[int, int] | None
    ) -> tuple[int, int]:
        height, width = self.backend.input_shape[2], self.backend.input_shape[3]
        fixed = (height, width) if height is not None and width is not None else None
        if configured is not None:
            size = (int(configured[0]), int(configured[1]))
            if fixed is not None and size != fixed:
                raise ConfigError(
                    f"input_size {size} cannot be used: the model's input is fixed at {fixed} "
                    "(input_size is only for models with a dynamic input shape)"
                )
            step = max(self.strides)
            _require(
                size[0] % step == 0 and size[1] % step == 0,
                f"input_size must be multiples of {step} (the largest stride), got {size}",
            )
            return size
        if fixed is not None:
            if from_metadata is not None and from_metadata != fixed:
                raise ModelLoadError(
                    f"{self.model_path}: metadata input_size {from_metadata} differs from the "
                    f"model's input shape {fixed}"
                )
            return fixed
        if from_metadata is not None:
            return from_metadata
        raise ConfigError(
            f"{self.model_path} has a dynamic input shape and no input_size metadata: "
            "set input_size (height, width)"
        )

    def _class_names(
        self,
        configured: Sequence[str] | None,
        from_metadata: tuple[str, ...] | None,
        num_classes: int,
    ) -> tuple[str, ...]:
        names = _names(configured, "class_names")
        if names is not None:
            if len(names) != num_classes:
                raise ConfigError(
                    f"class_names lists {len(names)} names but the model predicts {num_classes} "
                    f"classes (output width {num_classes + FIRST_CLASS_COLUMN})"
                )
            duplicates = sorted({n for n in names if names.count(n) > 1})
            _require(not duplicates, f"class_names has duplicates: {duplicates}")
            return names
        if from_metadata is not None:
            if len(from_metadata) != num_classes:
                raise ModelLoadError(
                    f"{self.model_path}: metadata lists {len(from_metadata)} class names but the "
                    f"model predicts {num_classes} classes"
                )
            return from_metadata
        return tuple(f"class_{i}" for i in range(num_classes))

    def update_thresholds(
        self,
        *,
        conf_threshold: float | None = None,
        nms_threshold: float | None = None,
        class_agnostic: bool | None = None,
        max_detections: int | None = None,
        class_filter: Sequence[str] | None = _UNCHANGED,
    ) -> None:
        """Change thresholds for later frames; ``None`` (``...`` for class_filter) keeps a value.

        All values are checked before any is applied: a ``ConfigError`` leaves
        the detector unchanged.
        """
        current = self._settings
        conf = current.conf_threshold if conf_threshold is None else conf_threshold
        iou = current.nms_threshold if nms_threshold is None else nms_threshold
        agnostic = current.class_agnostic if class_agnostic is None else class_agnostic
        max_det = current.max_detections if max_detections is None else max_detections
        _check_thresholds(conf, iou, agnostic, max_det)
        if class_filter is _UNCHANGED:
            wanted, mask = self.class_filter, current.class_mask
        else:
            wanted, mask = self._class_mask(class_filter)
        self._settings = replace(
            current,
            conf_threshold=float(conf),
            nms_threshold=float(iou),
            class_agnostic=agnostic,
            max_detections=int(max_det),
            class_mask=mask,
        )
        self.class_filter = wanted

    @property
    def settings(self) -> PostprocessSettings:
        """The thresholds in effect."""
        return self._settings

    def _class_mask(
        self, class_filter: Sequence[str] | None
    ) -> tuple[tuple[str, ...] | None, np.ndarray | None]:
        wanted = _names(class_filter, "class_filter")
        if not wanted:
            return None, None
        unknown = [name for name in wanted if name not in self.class_names]
        _require(
            not unknown,
            f"class_filter names unknown classes {unknown}; the model's classes are "
            f"{list(self.class_names)}",
        )
        mask = np.array([name in wanted for name in self.class_names])
        mask.flags.writeable = False
        return wanted, mask

    def detect(self, image: np.ndarray) -> Detections:
        """Detections in ``image`` (BGR uint8 H x W x 3), boxes in its pixels, best first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """``detect`` for several images (of any sizes), run through the model in batches."""
        for index, image in enumerate(images):
            try:
                validate_image(image)
            except InvalidImageError as exc:
                if len(images) == 1:
                    raise
                raise InvalidImageError(f"image {index} of {len(images)}: {exc}") from None
        settings = self._settings
        results: list[Detections] = []
        step = self._fixed_batch or max(len(images), 1)
        with self._lock:
            for start in range(0, len(images), step):
                chunk = images[start : start + step]
                tensor, ratios = self._buffers.fill(chunk, self._fixed_batch or len(chunk))
                output = self._run(tensor)
                for image, ratio, rows in zip(chunk, ratios, output, strict=False):
                    results.append(self._detections(rows, ratio, image.shape[:2], settings))
        return results

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        try:
            output = self.backend.run(tensor)
        except YoloxRosError:
            raise
        except Exception as exc:  # noqa: BLE001 - runtimes raise their own exception types
            raise BackendError(
                f"{self.backend.name} inference failed on input {tensor.shape}: {exc}"
            ) from exc
        expected = anchor_count(self.input_size, self.strides)
        shape = getattr(output, "shape", None)
        if (
            shape is None
            or len(shape) != 3
            or shape[0] != tensor.shape[0]
            or shape[1] != expected
            or shape[2] <= FIRST_CLASS_COLUMN
        ):
            raise ModelLoadError(
                f"{self.model_path}: output shape {shape} is not YOLOX's [{tensor.shape[0]}, "
                f"{expected}, 5 + classes] for input {self.input_size[0]}x{self.input_size[1]} "
                f"with strides {list(self.strides)}"
            )
        return np.asarray(output, dtype=np.float32)

    def _detections(
        self,
        rows: np.ndarray,
        ratio: float,
        image_hw: tuple[int, int],
        settings: PostprocessSettings,
    ) -> Detections:
        boxes, scores, class_ids = select_detections(
            rows, self.input_size, self.decoded, settings, self.strides
        )
        boxes, scores, class_ids = visible_in_image(boxes, scores, class_ids, ratio, image_hw)
        return Detections(
            boxes=boxes,
            scores=scores.astype(np.float32, copy=False),
            class_ids=class_ids,
            class_names=tuple(self.class_names[i] for i in class_ids),
        )
