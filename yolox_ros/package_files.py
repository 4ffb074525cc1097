"""Files shipped with the package: from the install's share directory, else the source tree."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "yolox_ros"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _share_directory(package: str) -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(package))


def inside(base: Path, relative: str, named_as: str) -> Path:
    """``base / relative``, refused (``ValueError``) if ``relative`` leaves ``base``.

    Checked on the spelling (``..``, an absolute path), not on resolved links: a
    ``--symlink-install`` share directory links to the source tree on purpose.
    """
    root = os.path.normpath(base)
    joined = os.path.normpath(os.path.join(root, relative))
    if os.path.isabs(relative) or not Path(joined).is_relative_to(root):
        raise ValueError(f"{named_as}: the path leaves the package's directory {base}")
    return Path(joined)


def shipped_path(relative: str) -> Path:
    """``share/yolox_ros/<relative>`` if installed and present, else ``<checkout>/<relative>``.

    ``relative`` never leaves either directory (``ValueError``).
    """
    source = inside(SOURCE_ROOT, relative, relative)
    try:
        share = _share_directory(PACKAGE)
    # No ROS install, not in the ament index, or AMENT_PREFIX_PATH unset: a source checkout.
    except (ImportError, LookupError, OSError):
        return source
    installed = inside(share, relative, relative)
    return installed if installed.exists() else source


PACKAGE_URL = "package://"


def resolve_package_url(path: str) -> Path:
    """``package://<package>/<relative>`` (as ROS tools write file references) to a file path.

    ``package://yolox_ros/models/x.onnx`` is a file shipped with this package (found as
    ``shipped_path`` finds it); another package's URL needs a sourced ROS 2 environment.
    A URL whose path leaves the package's directory is refused. Anything else is a plain
    path, returned as it is.
    """
    if not path.startswith(PACKAGE_URL):
        return Path(path)
    package, _, relative = path[len(PACKAGE_URL) :].partition("/")
    if not package or not relative:
        raise ValueError(f"{path!r} is not package://<package>/<file>")
    if package == PACKAGE:
        try:
            return shipped_path(relative)
        except ValueError:
            raise ValueError(f"{path}: the path leaves the package's directory") from None
    try:
        share = _share_directory(package)
    except Exception as exc:  # noqa: BLE001 - no ament index, or the package is not in it
        raise ValueError(f"{path}: package {package!r} not found ({exc})") from exc
    return inside(share, relative, path)
