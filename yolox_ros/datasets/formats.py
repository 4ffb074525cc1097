"""Which format a dataset on disk is in, and opening it as a ``DetectionDataset``.

Users hand over exports from CVAT, Label Studio, Roboflow or labelme converters
without saying what they are: ``detect_format`` tells COCO, VOC and YOLO apart
from file and folder names alone, and when it cannot, says what the folder
holds instead and which layouts are expected, so the user can fix the path
rather than guess.
"""

from __future__ import annotations

import re
from pathlib import Path

from yolox_ros.core.image_header import is_image_file
from yolox_ros.datasets.coco import read_coco
from yolox_ros.datasets.records import DatasetError, DetectionDataset
from yolox_ros.datasets.voc import find_voc_layout, read_voc
from yolox_ros.datasets.yolo import find_data_yaml, read_yolo
from yolox_ros.errors import ConfigError

FORMATS = ("coco", "voc", "yolo")
ROBOFLOW_COCO_JSON = "_annotations.coco.json"
SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test", "train2017", "val2017"})


def open_dataset(
    spec: str | Path,
    format: str | None = None,
    split: str = "train",
    images: str | Path | None = None,
) -> DetectionDataset:
    """Read the dataset at ``spec`` (a file or folder), detecting its format unless given.

    ``split`` picks the part to read where the layout has several (``train``,
    ``val``...). ``images`` is the folder of the images, for a layout where
    they are not found (each reader says where it looks). ``DatasetError``
    names the file and entry of any problem.
    """
    path = Path(spec)
    if not path.exists():
        raise DatasetError(path, None, "no such file or directory")
    if images is not None and not Path(images).is_dir():
        raise DatasetError(images, None, "images folder not found")
    chosen = detect_format(path, split) if format is None else format.lower()
    if chosen == "coco":
        return read_coco(coco_json(path, split), images_dir=images, split=split)
    if chosen == "voc":
        return read_voc(path, split, images=images)
    if chosen == "yolo":
        return read_yolo(path, split, images=images)
    raise ConfigError(f"unknown dataset format {format!r}; expected one of {', '.join(FORMATS)}")


def detect_format(path: Path, split: str = "train") -> str:
    """The format of the dataset at ``path``, from file and folder names alone.

    A ``.yaml`` file or a folder with ``data.yaml``: YOLO. A folder with
    ``.xml`` files in ``Annotations/``, ``annotations/``, ``labels/``, ``xml/``,
    ``<split>/`` or at its top: VOC. A ``.json`` file, or a folder with
    ``annotations/*.json``, ``labels/*.json``, Roboflow's
    ``_annotations.coco.json`` or a single JSON at its top: COCO (after VOC, as
    that JSON may be a stray file). Anything else: ``DatasetError`` showing the
    layouts expected, with an example of each.
    """
    if path.is_file() and path.suffix.lower() == ".json":
        return "coco"
    if find_data_yaml(path) is not None:
        return "yolo"
    if path.is_dir():
        if find_voc_layout(path, split) is not None:
            return "voc"
        if _find_coco_json(path, split) is not None:
            return "coco"
    hint = _layout_hint(path, split)
    raise DatasetError(
        path,
        None,
        f"not a dataset in a known layout{f' ({hint})' if hint else ''}: expected {LAYOUTS}",
    )


LAYOUTS = (
    "COCO (a .json file, or a folder with annotations/*.json or labels/*.json, "
    "e.g. annotations/instances_train.json + images/0001.jpg), "
    "YOLO (data.yaml or a folder with one, "
    "e.g. data.yaml + train/images/0001.jpg + train/labels/0001.txt) "
    "or Pascal VOC (a folder with .xml files in Annotations/, annotations/, labels/, xml/ "
    "or beside the images, e.g. annotations/0001.xml + images/0001.jpg)"
)


def _layout_hint(path: Path, split: str) -> str:
    """What the folder at ``path`` holds instead, when that says what is missing; else ''."""
    if path.is_file():
        return f"a {path.suffix or 'suffix-less'} file: give the dataset's folder"
    entries = sorted(path.iterdir())
    if not entries:
        return "the folder is empty"
    splits = [
        p.name
        for p in entries
        if (p / ROBOFLOW_COCO_JSON).is_file() or find_voc_layout(p, split) is not None
    ]
    if splits:
        return f"it has split folders {', '.join(splits)} but none named '{split}'"
    labels = (
        p
        for folder in (path / "labels", *path.glob("*/labels"))
        for p in folder.glob("*.txt")
        if p.name not in ("classes.txt", "labels.txt")
    )
    label = next(labels, None)
    if label is not None:
        return (
            f"{label.parent} holds .txt labels but there is no data.yaml naming the classes; "
            "YOLO needs one, e.g. 'train: images' and 'names: [stop, yield]'"
        )
    if all(p.is_file() and is_image_file(p) for p in entries):
        return "it holds only images: give the folder holding the annotations"
    return ""


def coco_json(path: Path, split: str) -> Path:
    """The COCO JSON for ``split`` at ``path`` (the file itself, or found in the folder)."""
    if path.is_file():
        return path
    found = _find_coco_json(path, split)
    if found is None:
        raise DatasetError(path, None, f"no COCO JSON for split '{split}' found in the folder")
    return found


def _find_coco_json(folder: Path, split: str) -> Path | None:
    """The COCO JSON of ``split`` in ``folder``; None if there is none.

    Looked for, in order: Roboflow's ``<split>/_annotations.coco.json``, a JSON
    in ``annotations/`` (VIA, COCO, CVAT) or ``labels/``, the only JSON at the
    top (the synthetic generator's ``annotations.json``, Label Studio's
    ``result.json``).
    """
    for roboflow in (folder / split / ROBOFLOW_COCO_JSON, folder / ROBOFLOW_COCO_JSON):
        if roboflow.is_file():
            return roboflow
    for name in ("annotations", "labels"):
        found = _split_json(sorted((folder / name).glob("*.json")), split, folder / name)
        if found is not None:
            return found
    top = sorted(folder.glob("*.json"))
    return _split_json(top, split, folder) if len(top) == 1 else None


def _split_json(candidates: list[Path], split: str, where: Path) -> Path | None:
    """``<split>.json`` (or ``instances_<split>.json``), else the one JSON naming the split,
    else the only JSON if it names no other split (CVAT's ``instances_default.json``)."""
    exact = [p for p in candidates if p.stem in (split, f"instances_{split}")]
    naming = [p for p in candidates if split in p.stem]
    only = [p for p in candidates if not _names_other_split(p.stem, split)]
    for choice in (exact, naming, only if len(candidates) == 1 else []):
        if len(choice) == 1:
            return choice[0]
    if candidates:
        names = ", ".join(p.name for p in candidates)
        raise DatasetError(
            where, None, f"cannot tell which JSON is split '{split}' (found {names})"
        )
    return None


def _names_other_split(stem: str, split: str) -> bool:
    """Whether a word of ``stem`` is a split name other than ``split``: ``val.json`` is never
    the training split, even when it is the only JSON."""
    words = set(re.split(r"[^a-z0-9]+", stem.lower()))
    return bool(words & (SPLIT_NAMES - {split.lower()}))
