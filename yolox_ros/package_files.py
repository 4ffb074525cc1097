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


PACKAGE_URL = "package://"


def resolve_package_url(path: str) -> Path:
    """``package://<package>/<relative>`` (as ROS tools write file references) to a file path.

    ``package://yolox_ros/models/x.onnx`` is a file shipped with this package (found as
    ``shipped_path`` finds it); another package's URL needs a sourced ROS 2 environment.
    Anything else is a plain path, returned as it is.
    """
    if not path.startswith(PACKAGE_URL):
        return Path(path)
    package, _, relative = path[len(PACKAGE_URL) :].partition("/")
    if not package or not relative:
        raise ValueError(f"{path!r} is not package://<package>/<file>")
    if package == PACKAGE:
        return shipped_path(relative)
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(package)) / relative
    except Exception as exc:  # noqa: BLE001 - no ament index, or the package is not in it
        raise ValueError(f"{path}: package {package!r} not found ({exc})") from exc
