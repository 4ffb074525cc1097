"""Pascal VOC XML (CVAT, Roboflow, LabelImg exports): one XML file per image.

Two layouts are read:

- the VOC tree: ``Annotations/<id>.xml``, ``JPEGImages/``, and the ids of
  split ``<split>`` in ``ImageSets/Main/<split>.txt`` (without any
  ``ImageSets/Main`` lists, every XML file is read);
- a flat folder of images, each with a same-stem ``.xml`` beside it.

Class list: ``classes.txt`` or ``labels.txt`` in the root (one name a line, in
class-index order) if present, otherwise the sorted set of object names in
all the XML files (every split), so that indices depend neither on the split
nor on which image came first. ``difficult`` objects
become ``ignored`` regions, as the VOC evaluation treats them.

Coordinates: VOC corners are 1-based pixel indices, both inclusive (a box
covering only the first pixel is ``1,1,1,1``). In continuous pixel
coordinates that is ``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax``,
which keeps the VOC devkit's width ``xmax - xmin + 1``. (YOLOX's own reader
subtracts 1 from all four, shifting boxes by one pixel and shrinking them by
one.) Exporters that write 0-based corners produce ``xmin = 0``, which lands
within the one-pixel tolerance and is clipped to 0.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import numpy as np

from yolox_ros.core.image_header import IMAGE_SUFFIXES, image_file_size
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, checked_box

CLASS_LIST_FILES = ("classes.txt", "labels.txt")


class _VocObject(NamedTuple):
    """One checked ``<object>``: class name, pixel box, difficult flag."""

    name: str
    box: tuple[float, float, float, float]
    difficult: bool


class _VocImage(NamedTuple):
    """One checked XML file: its image, the image's size and its objects."""

    xml_file: Path
    image: Path
    size: tuple[int, int]
    objects: list[_VocObject]


def read_voc(root: str | Path, split: str = "train") -> DetectionDataset:
    """Read the VOC tree or flat folder at ``root`` (see the module docstring)."""
    root = Path(root)
    tree = (root / "Annotations").is_dir()
    all_xml_files = sorted((root / "Annotations" if tree else root).glob("*.xml"))
    if not all_xml_files:
        raise DatasetError(root, None, "no VOC .xml annotation files found")
    xml_files = _split_xml_files(root, split, all_xml_files) if tree else all_xml_files
    parsed = [_parse(xml_file, root / "JPEGImages" if tree else root) for xml_file in xml_files]
    listed = _class_list(root)
    class_names = tuple(_object_names(all_xml_files) if listed is None else listed)
    index = {name: i for i, name in enumerate(class_names)}
    records = [_record(image_id, voc_image, index) for image_id, voc_image in enumerate(parsed)]
    return DetectionDataset(str(root), class_names, records)


def _record(image_id: int, voc_image: _VocImage, index: dict[str, int]) -> ImageRecord:
    for number, obj in enumerate(voc_image.objects, 1):
        if obj.name not in index:
            raise DatasetError(
                voc_image.xml_file, f"object {number} '{obj.name}'", "class not in the class list"
            )
    labelled = [o for o in voc_image.objects if not o.difficult]
    difficult = [o.box for o in voc_image.objects if o.difficult]
    width, height = voc_image.size
    return ImageRecord(
        path=voc_image.image,
        width=width,
        height=height,
        image_id=image_id,
        boxes=np.array([o.box for o in labelled], np.float32).reshape(-1, 4),
        class_ids=np.array([index[o.name] for o in labelled], np.int64),
        ignored=np.array(difficult, np.float32).reshape(-1, 4),
    )


def _split_xml_files(root: Path, split: str, all_xml_files: list[Path]) -> list[Path]:
    """The XML files of ``split``: those listed in ``ImageSets/Main/<split>.txt``, or all."""
    lists = root / "ImageSets" / "Main"
    split_file = lists / f"{split}.txt"
    if not split_file.is_file():
        available = sorted(p.stem for p in lists.glob("*.txt") if "_" not in p.stem)
        if available:
            raise DatasetError(
                lists, None, f"no split '{split}' (has: {', '.join(available)}); pick one"
            )
        return all_xml_files
    files = []
    for number, line in enumerate(split_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        image_id = line.split()[0]
        xml_file = root / "Annotations" / f"{image_id}.xml"
        if not xml_file.is_file():
            raise DatasetError(split_file, f"line {number} '{image_id}'", f"{xml_file} not found")
        files.append(xml_file)
    return files


def _object_names(xml_files: list[Path]) -> list[str]:
    """Sorted names of the objects in all ``xml_files``: every split gets the same classes."""
    names = set()
    for xml_file in xml_files:
        elements = _xml_root(xml_file).findall("object/name")
        names.update((e.text or "").strip() for e in elements)
    return sorted(names - {""})


def _class_list(root: Path) -> list[str] | None:
    for name in CLASS_LIST_FILES:
        path = root / name
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            return list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    return None


def _parse(xml_file: Path, image_dir: Path) -> _VocImage:
    """One annotation file, its image found and every object checked."""
    annotation = _xml_root(xml_file)
    image = _image_file(xml_file, annotation.findtext("filename"), image_dir)
    size = _size(xml_file, annotation, image)
    objects = [
        _object(xml_file, number, element, size)
        for number, element in enumerate(annotation.findall("object"), 1)
    ]
    return _VocImage(xml_file, image, size, objects)


def _xml_root(xml_file: Path) -> ET.Element:
    try:
        return ET.parse(xml_file).getroot()
    except ET.ParseError as exc:
        raise DatasetError(xml_file, f"line {exc.position[0]}", f"malformed XML ({exc})") from exc


def _image_file(xml_file: Path, filename: str | None, image_dir: Path) -> Path:
    """The image of ``xml_file``: its ``<filename>``, else its stem with an image extension."""
    candidates = [image_dir / filename.strip()] if filename and filename.strip() else []
    candidates += [image_dir / (xml_file.stem + ext) for ext in IMAGE_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(xml_file, f"filename {filename!r}", f"no image found in {image_dir}")


def _size(xml_file: Path, annotation: ET.Element, image: Path) -> tuple[int, int]:
    """``<size>`` from the XML; read from the image when missing or zero (some tools write 0)."""
    try:
        width = int(float(annotation.findtext("size/width") or 0))
        height = int(float(annotation.findtext("size/height") or 0))
    except ValueError as exc:
        raise DatasetError(xml_file, "size", f"width/height are not numbers ({exc})") from exc
    if width > 0 and height > 0:
        return width, height
    try:
        return image_file_size(image)
    except (OSError, ValueError) as exc:
        raise DatasetError(
            xml_file, "size", f"missing and the image cannot be read: {exc}"
        ) from exc


def _object(xml_file: Path, number: int, element: ET.Element, size: tuple[int, int]) -> _VocObject:
    name = (element.findtext("name") or "").strip()
    where = f"object {number} '{name}'"
    if not name:
        raise DatasetError(xml_file, f"object {number}", "has no <name>")
    corners = []
    for tag in ("xmin", "ymin", "xmax", "ymax"):
        text = element.findtext(f"bndbox/{tag}")
        try:
            corners.append(float(text))
        except (TypeError, ValueError):
            raise DatasetError(xml_file, where, f"<bndbox><{tag}> is {text!r}") from None
    xmin, ymin, xmax, ymax = corners
    box = checked_box((xmin - 1.0, ymin - 1.0, xmax, ymax), *size, xml_file, where, written=corners)
    difficult = (element.findtext("difficult") or "0").strip() in ("1", "true")
    return _VocObject(name, box, difficult)
