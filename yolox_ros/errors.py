"""Exceptions raised by yolox_ros. Each message names the problem and the value at fault."""


class YoloxRosError(Exception):
    """Base class of every error raised on purpose by yolox_ros."""


class ConfigError(YoloxRosError, ValueError):
    """A configuration value is invalid (threshold out of range, class list not fitting...)."""


class ModelLoadError(YoloxRosError):
    """A model file is missing, unreadable or not a YOLOX model."""


class InvalidImageError(YoloxRosError, ValueError):
    """An input image cannot be processed (wrong dtype, shape, channel count, empty...)."""


class BackendError(YoloxRosError):
    """An inference backend is unknown, not installed, or cannot run on the requested device."""
