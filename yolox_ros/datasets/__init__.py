"""Detection datasets: read users' labelled photos into one in-memory form.

``open_dataset`` reads COCO JSON, Pascal VOC XML or YOLO txt (as exported by
CVAT, Label Studio, Roboflow or labelme converters) into a ``DetectionDataset``;
``split_by_group`` holds images out for validation without leaking copies of
one frame across the split; ``select_classes`` keeps, reorders or renames
classes; ``summarize`` counts what is there and finds images that will not
decode. Import-light on purpose (numpy and OpenCV only: no torch, no ROS), so
the ``check`` command and the node can use it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolox_ros.core.image_header import is_image_file
from yolox_ros.datasets.coco import read_coco
from yolox_ros.datasets.image_files import image_file_problem
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, read_image
from yolox_ros.datasets.voc import find_voc_layout, read_voc
from yolox_ros.datasets.yolo import find_data_yaml, read_yolo
from yolox_ros.errors import ConfigError

__all__ = [
    "FORMATS",
    "DatasetError",
    "DatasetSummary",
    "DetectionDataset",
    "ImageRecord",
    "detect_format",
    "group_names",
    "open_dataset",
    "select_classes",
    "split_by_group",
    "summarize",
]

FORMATS = ("coco", "voc", "yolo")
# Roboflow exports each source image as ``<stem>_<ext>.rf.<hash>.<ext>``, once per
# augmentation: the group is ``<stem>``. Names without that suffix group by their stem.
DEFAULT_GROUP_PATTERN = (
    r"^(.+?)(?:(?:_(?i:jpe?g|png|bmp|webp|tiff?|gif|heic))?\.rf\.[A-Za-z0-9]+)?(?:\.[^.]*)?$"
)
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
    words = set(re.split(r"[^a-z0-9]+", stem.lower()))
    return bool(words & (SPLIT_NAMES - {split.lower()}))


def group_names(dataset: DetectionDataset, group_pattern: str | None = None) -> list[str]:
    """Each image's group: the first capture group of ``group_pattern`` on its file name.

    The default pattern groups Roboflow's augmented copies of one source image
    (``05988_jpg.rf.<hash>.jpg``) under ``05988``, other files under their stem.
    A file name the pattern does not match is a group of its own.
    """
    try:
        pattern = re.compile(DEFAULT_GROUP_PATTERN if group_pattern is None else group_pattern)
    except re.error as exc:
        raise ConfigError(f"group pattern {group_pattern!r} is not a regex: {exc}") from exc
    if pattern.groups < 1:
        raise ConfigError(f"group pattern {group_pattern!r} has no capture group (...)")
    names = [record.path.name for record in dataset.records]
    matches = [pattern.search(name) for name in names]
    if names and group_pattern is not None and not any(matches):
        raise ConfigError(f"group pattern {group_pattern!r} matches none of the {len(names)} files")
    return [
        match.group(1) if match and match.group(1) is not None else name
        for name, match in zip(names, matches, strict=True)
    ]


def split_by_group(
    dataset: DetectionDataset, val_fraction: float, group_pattern: str | None = None, seed: int = 0
) -> tuple[DetectionDataset, DetectionDataset]:
    """``(train, val)``: about ``val_fraction`` of the groups held out, never splitting one.

    Copies of one frame (augmented exports, consecutive video frames) must sit
    on the same side, or validation measures memory rather than accuracy.
    Groups are ranked by a hash of (seed, group name), so the same groups,
    fraction and seed give the same split on any machine, and adding images
    of new groups moves few existing ones across.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = group_names(dataset, group_pattern)
    keys = set(groups)
    held = min(max(round(val_fraction * len(keys)), 1), len(keys) - 1) if val_fraction else 0
    if val_fraction and held < 1:
        raise ConfigError(f"cannot hold out a group: {dataset.source} has {len(keys)} group(s)")
    val_keys = set(sorted(keys, key=lambda key: _group_rank(key, seed))[:held])
    train = [i for i, group in enumerate(groups) if group not in val_keys]
    val = [i for i, group in enumerate(groups) if group in val_keys]
    return dataset.subset(train), dataset.subset(val)


def _group_rank(group: str, seed: int) -> bytes:
    return hashlib.blake2b(f"{seed}\0{group}".encode(), digest_size=8).digest()


def class_selection(entries: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``NAME`` / ``OLD=NEW`` entries (``--classes``) as the names to keep and their renames."""
    keep, rename = [], {}
    for entry in entries:
        old, _, new = (part.strip() for part in entry.partition("="))
        if not old or ("=" in entry and not new):
            raise ConfigError(f"classes: {entry!r} is not NAME or OLD=NEW")
        keep.append(old)
        if new:
            rename[old] = new
    return keep, rename


def select_classes(
    dataset: DetectionDataset,
    keep: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
) -> DetectionDataset:
    """The dataset with only the ``keep`` classes (in that order), then renamed.

    Boxes of dropped classes are removed (their images stay, maybe as
    negatives); ignored regions, having no class, stay. Classes renamed to the
    same name are merged into one. Unknown names raise ``DatasetError``.
    """
    kept = list(dataset.class_names if keep is None else keep)
    rename = dict(rename or {})
    for name in [*kept, *rename]:
        if name not in dataset.class_names:
            known = ", ".join(dataset.class_names)
            raise DatasetError(
                dataset.source, "classes", f"unknown class {name!r} (known: {known})"
            )
    new_names = list(dict.fromkeys(rename.get(name, name) for name in kept))
    index_map = np.full(len(dataset.class_names), -1, np.int64)
    for name in kept:
        index_map[dataset.class_names.index(name)] = new_names.index(rename.get(name, name))
    return DetectionDataset(
        dataset.source, tuple(new_names), [_remap(r, index_map) for r in dataset.records]
    )


def _remap(record: ImageRecord, index_map: np.ndarray) -> ImageRecord:
    class_ids = index_map[record.class_ids]
    keep = class_ids >= 0
    return ImageRecord(
        path=record.path,
        width=record.width,
        height=record.height,
        image_id=record.image_id,
        boxes=record.boxes[keep],
        class_ids=class_ids[keep],
        ignored=record.ignored,
    )


@dataclass(frozen=True)
class DatasetSummary:
    """What a dataset holds, and what is wrong with it, for a user about to train on it.

    ``longer_side`` is the (p5, p50, p95) of the boxes' longer side in pixels,
    None without boxes. ``problems`` are one-line ``DatasetError`` messages.
    """

    source: str
    class_names: tuple[str, ...]
    images: int
    negatives: int
    boxes_per_class: tuple[int, ...]
    ignored: int
    longer_side: tuple[float, float, float] | None
    problems: tuple[str, ...]


def summarize(dataset: DetectionDataset) -> DatasetSummary:
    """Count images, negatives and boxes, and decode every image to find the broken ones."""
    class_ids = np.concatenate([r.class_ids for r in dataset.records] or [np.zeros(0, np.int64)])
    boxes = np.concatenate([r.boxes for r in dataset.records] or [np.zeros((0, 4), np.float32)])
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    percentiles = np.percentile(longer, [5, 50, 95]) if len(longer) else None
    return DatasetSummary(
        source=dataset.source,
        class_names=dataset.class_names,
        images=len(dataset),
        negatives=sum(1 for r in dataset.records if len(r.boxes) == 0),
        boxes_per_class=tuple(
            int(n) for n in np.bincount(class_ids, minlength=len(dataset.class_names))
        ),
        ignored=sum(len(r.ignored) for r in dataset.records),
        longer_side=None if percentiles is None else tuple(float(p) for p in percentiles),
        problems=tuple(p for p in _decode_problems(dataset) if p),
    )


def _decode_problems(dataset: DetectionDataset) -> list[str]:
    """Each record's decoding problem ('' when it decodes at the annotated size)."""

    def problem(record: ImageRecord) -> str:
        # A file cut short still decodes (grey at the bottom): its end says so.
        found = image_file_problem(record)
        if found is not None:
            return str(DatasetError(record.path, f"image {record.image_id}", found))
        try:
            read_image(record)
        except DatasetError as exc:
            return str(exc)
        return ""

    # OpenCV releases the GIL while decoding: threads keep every core busy.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(problem, dataset.records))
