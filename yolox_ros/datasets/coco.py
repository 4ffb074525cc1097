"""COCO detection JSON: read (CVAT, Label Studio, Roboflow exports) and write.

Layout: one ``instances`` JSON and a folder of images, each found as
``images_dir / file_name`` (``find_images_dir`` says where that folder is
looked for). Class indices follow the category ids in increasing order,
whatever their values (exports number them 0.., 1.. or with gaps). A category
that no annotation uses and that is the ``supercategory`` of other categories
is a grouping, not a class (Roboflow exports its project name as category 0),
so it is left out. ``iscrowd`` boxes become ``ignored`` regions.
Images without annotations are kept: they are negatives the model learns from.

Writing uses category ids ``1..C`` for class indices ``0..C-1``, the
convention evaluation relies on when it maps predicted classes to categories.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np

from yolox_ros.core.image_header import image_file_size
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, checked_box
from yolox_ros.errors import ConfigError


def read_coco(
    json_path: str | Path, images_dir: str | Path | None = None, split: str = "train"
) -> DetectionDataset:
    """Read a COCO detection JSON; ``images_dir`` defaults to ``find_images_dir``'s answer.

    Each image is ``images_dir / file_name``, or, when the first image is not
    there but its bare name is (``file_name`` keeps folders of the labelling
    machine), ``images_dir / <name without folders>`` for every image.
    Every problem (missing image file, box outside its image, unknown ids,
    duplicated ids, malformed JSON) raises ``DatasetError`` naming the file and
    the entry. Images are not decoded, only checked to exist.
    """
    json_path = Path(json_path)
    doc = _load_json(json_path)
    images = _entries(doc, "images", json_path)
    annotations = _entries(doc, "annotations", json_path, required=False)
    categories = _entries(doc, "categories", json_path)
    first = images[0].get("file_name") if images else None
    first = first if isinstance(first, str) and first else None
    if images_dir is None:
        images_dir = find_images_dir(json_path, first, split)
    images_dir = Path(images_dir)
    bare = first is not None and not (images_dir / first).is_file()
    bare = bare and (images_dir / bare_name(first)).is_file()
    class_names, class_of_category = _classes(categories, annotations, json_path)
    infos = _images(images, images_dir, bare, json_path)
    labels = _annotations(annotations, infos, class_of_category, json_path)
    records = [
        _record(image_id, info, labels.get(image_id, ([], [], [])))
        for image_id, info in infos.items()
    ]
    return DetectionDataset(str(json_path), class_names, records)


def bare_name(file_name: str) -> str:
    """``file_name`` without its folders, whether ``/`` or ``\\`` separated."""
    return PureWindowsPath(file_name).name


def find_images_dir(json_path: Path, first_file_name: str | None, split: str) -> Path:
    """The folder holding the images of ``json_path``, guessed from common export layouts.

    Tried in order, with the dataset root being the folder above the JSON's:
    ``<root>/<split>`` next to an ``annotations/`` or ``labels/`` folder (VIA,
    COCO-style trees), ``<json dir>/<split>``, ``<root>/images/<split>``,
    ``<root>/<json stem without instances_>`` (``instances_val2017.json`` ->
    ``val2017``), an ``images`` folder beside or above the JSON,
    ``<root>/images/<stem>`` (CVAT's ``instances_default.json`` with
    ``images/default/``), the JSON's own folder (Roboflow puts
    ``_annotations.coco.json`` among the images; Label Studio's ``file_name``
    is ``images/...`` relative to it) and the root (a ``file_name`` of
    ``images/a.jpg`` beside ``annotations/``). The first holding
    ``first_file_name`` wins, else the first holding its bare name (without
    folders); without images, the JSON's folder.
    """
    here, root = json_path.parent, json_path.parent.parent
    if first_file_name is None:
        return here
    stem = json_path.stem.removeprefix("instances_")
    candidates = [root / split, here / split, root / "images" / split, here / "images" / split]
    candidates += [root / stem, here / "images", root / "images", root / "images" / stem]
    candidates = list(dict.fromkeys([*candidates, here, root]))
    for name in dict.fromkeys((first_file_name, bare_name(first_file_name))):
        for directory in candidates:
            if (directory / name).is_file():
                return directory
    looked = ", ".join(str(d) for d in candidates)
    raise DatasetError(
        json_path,
        f"image '{first_file_name}'",
        f"not found in any of the folders tried: {looked}",
    )


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            doc = json.load(file)
    except OSError as exc:
        raise DatasetError(path, None, f"cannot be read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(
            path, f"line {exc.lineno} column {exc.colno}", f"malformed JSON ({exc.msg})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, "is not UTF-8 text") from exc
    if not isinstance(doc, dict):
        raise DatasetError(path, None, "is not a COCO JSON object (expected {...} at top level)")
    return doc


def _entries(
    doc: dict[str, Any], key: str, path: Path, required: bool = True
) -> list[dict[str, Any]]:
    if key not in doc and not required:
        return []
    entries = doc.get(key)
    if not isinstance(entries, list):
        raise DatasetError(path, None, f"has no '{key}' list: not a COCO detection file")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DatasetError(path, f"{key}[{index}]", "is not a JSON object")
    return entries


def _int(entry: dict[str, Any], key: str, path: Path, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DatasetError(path, where, f"'{key}' is {value!r}, not an integer")
    return value


def _classes(
    categories: list[dict[str, Any]], annotations: list[dict[str, Any]], path: Path
) -> tuple[tuple[str, ...], dict[int, int]]:
    """Class names in category-id order and the map category id -> class index."""
    names: dict[int, str] = {}
    for index, category in enumerate(categories):
        category_id = _int(category, "id", path, f"categories[{index}]")
        name = category.get("name")
        where = f"category id {category_id}"
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(path, where, f"name {name!r} is not a non-empty string")
        if category_id in names:
            raise DatasetError(path, where, "is duplicated")
        names[category_id] = name.strip()
    used = {a.get("category_id") for a in annotations}
    kept = [
        category_id
        for category_id in sorted(names)
        if category_id in used or not _is_grouping(categories, names[category_id])
    ]
    seen: dict[str, int] = {}
    for category_id in kept:
        other = seen.setdefault(names[category_id], category_id)
        if other != category_id:
            raise DatasetError(
                path,
                f"category id {category_id}",
                f"name '{names[category_id]}' is also category id {other}",
            )
    return tuple(names[c] for c in kept), {c: index for index, c in enumerate(kept)}


def _is_grouping(categories: list[dict[str, Any]], name: str) -> bool:
    """Whether ``name`` is the supercategory of some other category."""
    return any(c.get("supercategory") == name and c.get("name") != name for c in categories)


def _images(
    images: list[dict[str, Any]], images_dir: Path, bare: bool, path: Path
) -> dict[int, tuple[Path, int, int, str]]:
    """Image id -> (file, width, height, file_name), checking ids and that files exist.

    ``bare``: each file is looked up by its name without folders.
    """
    infos: dict[int, tuple[Path, int, int, str]] = {}
    for index, image in enumerate(images):
        image_id = _int(image, "id", path, f"images[{index}]")
        file_name = image.get("file_name")
        where = f"image id {image_id}"
        if not isinstance(file_name, str) or not file_name:
            raise DatasetError(path, where, f"file_name {file_name!r} is not a file name")
        where = f"image id {image_id} '{file_name}'"
        if image_id in infos:
            raise DatasetError(path, where, f"id is duplicated (also '{infos[image_id][3]}')")
        file = images_dir / (bare_name(file_name) if bare else file_name)
        if not os.path.isfile(file):
            raise DatasetError(path, where, f"image file {file} not found")
        width, height = _image_size(image, file, path, where)
        infos[image_id] = (file, width, height, file_name)
    return infos


def _image_size(image: dict[str, Any], file: Path, path: Path, where: str) -> tuple[int, int]:
    """The size the JSON declares, or the file's own when the exporter left it out."""
    if image.get("width") is None and image.get("height") is None:
        try:
            return image_file_size(file)
        except (OSError, ValueError) as exc:
            raise DatasetError(path, where, f"image size unknown and {exc}") from exc
    width, height = _int(image, "width", path, where), _int(image, "height", path, where)
    if width <= 0 or height <= 0:
        raise DatasetError(path, where, f"size {width}x{height} is not positive")
    return width, height


def _annotations(
    annotations: list[dict[str, Any]],
    infos: dict[int, tuple[Path, int, int, str]],
    class_of_category: dict[int, int],
    path: Path,
) -> dict[int, tuple[list, list, list]]:
    """Image id -> (boxes, class indices, ignored boxes), every annotation checked."""
    labels: dict[int, tuple[list, list, list]] = {}
    seen_ids: set[int] = set()
    for index, annotation in enumerate(annotations):
        annotation_id = _int(annotation, "id", path, f"annotations[{index}]")
        where = f"annotation id {annotation_id}"
        if annotation_id in seen_ids:
            raise DatasetError(path, where, "id is duplicated")
        seen_ids.add(annotation_id)
        image_id = _int(annotation, "image_id", path, where)
        if image_id not in infos:
            raise DatasetError(path, where, f"image id {image_id} is not in 'images'")
        _file, width, height, file_name = infos[image_id]
        where = f"annotation id {annotation_id} (image {image_id} '{file_name}')"
        category_id = _int(annotation, "category_id", path, where)
        if category_id not in class_of_category:
            raise DatasetError(path, where, f"category id {category_id} is not in 'categories'")
        x, y, w, h = _bbox(annotation, path, where)
        box = checked_box((x, y, x + w, y + h), width, height, path, where, written=(x, y, w, h))
        boxes, classes, ignored = labels.setdefault(image_id, ([], [], []))
        if annotation.get("iscrowd", 0):
            ignored.append(box)
        else:
            boxes.append(box)
            classes.append(class_of_category[category_id])
    return labels


def _bbox(annotation: dict[str, Any], path: Path, where: str) -> tuple[float, ...]:
    bbox = annotation.get("bbox")
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        or not all(math.isfinite(v) for v in bbox)
    ):
        raise DatasetError(path, where, f"bbox {bbox!r} is not [x, y, width, height] numbers")
    return tuple(float(v) for v in bbox)


def _record(
    image_id: int, info: tuple[Path, int, int, str], labels: tuple[list, list, list]
) -> ImageRecord:
    file, width, height, _name = info
    boxes, classes, ignored = labels
    # Crowd regions are written once per category (see to_coco_dict): keep one of each.
    unique_ignored = list(dict.fromkeys(ignored))
    return ImageRecord(file, width, height, image_id, boxes, classes, ignored=unique_ignored)


def to_coco_dict(dataset: DetectionDataset) -> dict[str, Any]:
    """The dataset as a COCO ground-truth dict (e.g. for ``pycocotools.coco.COCO``).

    Class index ``i`` is category id ``i + 1``; boxes are ``[x, y, w, h]`` with
    ``area = w * h``. An ignored region has no class of its own, so it is
    written once per category with ``iscrowd = 1``: a detection of any class
    there is neither a true nor a false positive. ``file_name`` is the image's
    name (images are expected in one folder).
    """
    images, annotations = [], []
    seen: set[int] = set()
    for record in dataset.records:
        if record.image_id in seen:
            raise DatasetError(
                dataset.source, f"image id {record.image_id} '{record.path.name}'", "duplicated"
            )
        seen.add(record.image_id)
        images.append(
            {
                "id": record.image_id,
                "file_name": record.path.name,
                "width": record.width,
                "height": record.height,
            }
        )
        for box, class_id in zip(record.boxes, record.class_ids, strict=True):
            annotations.append(
                _annotation(len(annotations) + 1, record.image_id, box, int(class_id), iscrowd=0)
            )
        for box in record.ignored:
            for class_id in range(len(dataset.class_names)):
                annotations.append(
                    _annotation(len(annotations) + 1, record.image_id, box, class_id, iscrowd=1)
                )
    categories = [
        {"id": index + 1, "name": name, "supercategory": "none"}
        for index, name in enumerate(dataset.class_names)
    ]
    return {
        "info": {"description": f"yolox_ros export of {dataset.source}"},
        "licenses": [],
        "categories": categories,
        "images": images,
        "annotations": annotations,
    }


def _annotation(
    annotation_id: int, image_id: int, box: np.ndarray, class_id: int, iscrowd: int
) -> dict[str, Any]:
    x1, y1, x2, y2 = (round(float(v), 3) for v in box)
    w, h = round(x2 - x1, 3), round(y2 - y1, 3)
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": class_id + 1,
        "bbox": [x1, y1, w, h],
        "area": round(w * h, 3),
        "segmentation": [],
        "iscrowd": iscrowd,
    }


def write_coco(
    path: str | Path,
    dataset_or_records: DetectionDataset | Sequence[ImageRecord],
    class_names: Sequence[str] | None = None,
) -> None:
    """Write a COCO detection JSON (category ids ``1..C``, see ``to_coco_dict``).

    ``class_names`` defaults to the dataset's; it is required for bare records.
    """
    if isinstance(dataset_or_records, DetectionDataset):
        names = dataset_or_records.class_names if class_names is None else class_names
        records = dataset_or_records.records
    elif class_names is None:
        raise ConfigError("write_coco: class_names is required when writing bare records")
    else:
        names, records = class_names, dataset_or_records
    path = Path(path)
    doc = to_coco_dict(DetectionDataset(str(path), tuple(names), list(records)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
