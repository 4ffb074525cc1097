"""YOLO txt labels with an ultralytics-style ``data.yaml`` (Roboflow, CVAT, Label Studio exports).

``data.yaml`` gives ``names`` (a list, or a dict ``{0: a, 1: b}``), an
optional root ``path`` (relative to the YAML's folder) and, per split
(``train``, ``val``, ``test``...), a folder of images, a ``.txt`` file listing
images, or a list of these. A relative split path is resolved as ultralytics
does, the first that exists of: relative to ``path``, and, for a path
starting with ``../``, the same without it (Roboflow writes ``train:
../train/images`` beside a ``data.yaml`` that sits in the dataset root, where
``train/images`` is); then the same relative to the YAML's folder, so that a
``path`` naming the folder on the machine that wrote the YAML
(``/content/datasets/...``) does no harm.
Lines of a list file are relative to the list's folder, else to the root.
An ``images`` folder given to ``read_yolo`` replaces the split's entry: every
image under it is read.

Each image's labels are in the same relative place with the last ``images``
folder replaced by ``labels`` and the extension by ``.txt`` (beside the image
when its path has no ``images`` folder). One line per box,
``class cx cy w h`` normalised to the image size; a missing or empty label
file makes the image a negative. Image sizes come from the file headers, so
opening a dataset decodes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yolox_ros.core.image_header import image_file_size, is_image_file
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, checked_box
from yolox_ros.errors import ConfigError

DATA_YAML_NAMES = ("data.yaml", "data.yml")


def find_data_yaml(path: Path) -> Path | None:
    """``path`` if it is a YAML file, else the ``data.yaml`` in the folder ``path``, else None."""
    if path.is_file():
        return path if path.suffix.lower() in (".yaml", ".yml") else None
    return next((path / n for n in DATA_YAML_NAMES if (path / n).is_file()), None)


def read_yolo(
    spec: str | Path, split: str = "train", images: str | Path | None = None
) -> DetectionDataset:
    """Read split ``split`` of the YOLO dataset described by ``spec`` (data.yaml or its folder).

    ``images``: read the images under that folder instead of the split's entry.
    """
    yaml_path = find_data_yaml(Path(spec))
    if yaml_path is None:
        raise DatasetError(spec, None, "no data.yaml found")
    config = _load_yaml(yaml_path)
    class_names = _names(config, yaml_path)
    if images is not None:
        image_files = _folder_images(Path(images))
    elif split in config:
        image_files = _split_images(config[split], _roots(config, yaml_path), yaml_path, split)
    else:
        splits = [key for key in config if key not in ("path", "names", "nc", "download")]
        raise DatasetError(yaml_path, f"'{split}'", f"no such split (has: {', '.join(splits)})")
    records = [
        _record(image_id, image, len(class_names)) for image_id, image in enumerate(image_files)
    ]
    return DetectionDataset(str(yaml_path), class_names, records)


def _folder_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(folder, None, "images folder not found")
    return sorted(p for p in folder.rglob("*") if is_image_file(p))


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml  # PyYAML: only this reader needs it, so it is not a runtime dependency
    except ImportError as exc:
        raise ConfigError("reading a YOLO data.yaml needs PyYAML: pip install pyyaml") from exc
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise DatasetError(path, where, f"malformed YAML ({getattr(exc, 'problem', exc)})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, None, f"cannot be read ({exc})") from exc
    if not isinstance(config, dict):
        raise DatasetError(path, None, "is not a YAML mapping of path/train/val/names")
    return config


def _names(config: dict[str, Any], path: Path) -> tuple[str, ...]:
    """Class names from ``names`` (list, or dict with keys 0..n-1), checked against ``nc``."""
    names = config.get("names")
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DatasetError(path, "names", f"keys {sorted(names)} are not 0..{len(names) - 1}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names:
        raise DatasetError(path, "names", f"{names!r} is not a list or dict of class names")
    names = [str(name).strip() for name in names]
    if len(set(names)) != len(names) or not all(names):
        raise DatasetError(path, "names", f"{names} has empty or repeated names")
    if "nc" in config and config["nc"] != len(names):
        raise DatasetError(path, "nc", f"is {config['nc']} but 'names' has {len(names)} classes")
    return tuple(names)


def _roots(config: dict[str, Any], path: Path) -> list[Path]:
    """The folders split paths are relative to, in order: ``path`` if given, the YAML's folder."""
    roots = [path.parent]
    root = config.get("path")
    if root is not None and str(root).strip():
        root = Path(str(root)).expanduser()
        roots.insert(0, root if root.is_absolute() else path.parent / root)
    return list(dict.fromkeys(roots))


def _split_images(entries: Any, roots: list[Path], yaml_path: Path, split: str) -> list[Path]:
    """Every image of a split entry: folders (recursively), list files, or a list of both."""
    images: list[Path] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        tried = _candidates(str(entry), roots)
        location = next((p for p in tried if p.exists()), None)
        if location is not None and location.is_dir():
            images += sorted(p for p in location.rglob("*") if is_image_file(p))
        elif location is not None and location.suffix.lower() == ".txt":
            images += _listed_images(location, roots)
        elif location is not None:
            raise DatasetError(
                yaml_path, f"{split}: '{entry}'", f"{location} is neither a folder nor a .txt list"
            )
        else:
            looked = ", ".join(str(p) for p in tried)
            raise DatasetError(yaml_path, f"{split}: '{entry}'", f"not found; tried {looked}")
    return images


def _candidates(entry: str, roots: list[Path]) -> list[Path]:
    """Where a split path may be, in the order of the module docstring."""
    path = Path(entry).expanduser()
    if path.is_absolute():
        return [path]
    found = []
    for root in roots:
        found.append(root / path)
        if entry.startswith("../"):
            found.append(root / entry[3:])  # Roboflow, see the module docstring
    return list(dict.fromkeys(found))


def _listed_images(list_file: Path, roots: list[Path]) -> list[Path]:
    images = []
    folders = list(dict.fromkeys([list_file.parent, *roots]))
    for number, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        tried = list(dict.fromkeys(folder / Path(name).expanduser() for folder in folders))
        image = next((p for p in tried if p.is_file()), None)
        if image is None:
            looked = ", ".join(str(p) for p in tried)
            raise DatasetError(
                list_file, f"line {number}", f"image {name} not found; tried {looked}"
            )
        images.append(image)
    return images


def label_file(image: Path) -> Path:
    """Where the labels of ``image`` are: its last ``images`` folder replaced by ``labels``."""
    parts = list(image.parts)
    if "images" in parts[:-1]:
        last = len(parts) - 2 - parts[-2::-1].index("images")
        parts[last] = "labels"
    return Path(*parts).with_suffix(".txt")


def _record(image_id: int, image: Path, class_count: int) -> ImageRecord:
    try:
        width, height = image_file_size(image)
    except (OSError, ValueError) as exc:
        raise DatasetError(image, None, f"cannot read the image size ({exc})") from exc
    labels = label_file(image)
    boxes, class_ids = [], []
    if labels.is_file():
        for number, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                class_id, box = _label(line, labels, number, width, height, class_count)
                boxes.append(box)
                class_ids.append(class_id)
    return ImageRecord(image, width, height, image_id, boxes, class_ids)


def _label(
    line: str, path: Path, number: int, width: int, height: int, class_count: int
) -> tuple[int, tuple[float, float, float, float]]:
    """One ``class cx cy w h`` line as (class index, pixel box), checked."""
    where = f"line {number}"
    fields = line.split()
    try:
        values = [float(v) for v in fields]
    except ValueError:
        raise DatasetError(path, where, f"{line.strip()!r} is not numbers") from None
    if len(values) != 5:
        raise DatasetError(path, where, f"has {len(values)} values, expected 'class cx cy w h'")
    class_value, cx, cy, w, h = values
    if not class_value.is_integer() or not 0 <= class_value < class_count:
        raise DatasetError(path, where, f"class {fields[0]} is not in 0..{class_count - 1}")
    box = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
    return int(class_value), checked_box(box, width, height, path, where, written=values[1:])
