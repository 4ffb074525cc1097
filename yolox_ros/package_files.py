"""Files shipped with the package: from the install's share directory, else the source tree."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "yolox_ros"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def shipped_path(relative: str) -> Path:
    """``share/yolox_ros/<relative>`` if installed and present, else ``<checkout>/<relative>``."""
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:  # no ROS install: a source checkout
        return SOURCE_ROOT / relative
    try:
        installed = Path(get_package_share_directory(PACKAGE)) / relative
    except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH is not set
        return SOURCE_ROOT / relative
    return installed if installed.exists() else SOURCE_ROOT / relative
