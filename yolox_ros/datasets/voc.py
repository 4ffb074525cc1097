"""Pascal VOC XML (CVAT, Roboflow, LabelImg, Kaggle exports): one XML file per image.

The XML files are in the first of ``Annotations/``, ``annotations/``,
``labels/`` or ``xml/`` that holds any, else beside the images at the top of
the folder; a folder holding neither but a ``<split>/`` folder that does
(Roboflow's ``train/``, ``valid/``, ``test/``, images beside their XML) is
read from there. Layouts read this way include:

- the VOC tree: ``Annotations/<id>.xml``, ``JPEGImages/``, and the ids of
  split ``<split>`` in ``ImageSets/Main/<split>.txt`` (without any
  ``ImageSets/Main`` lists, every XML file is read);
- Kaggle's ``annotations/road0.xml`` with ``images/road0.png``, or
  ``labels/*.xml`` with ``images/``;
- a flat folder of images, each with a same-stem ``.xml`` beside it.

Each XML file's image is, the first that exists of: its ``<path>``; its
``<folder>/<filename>`` in the dataset folder; its ``<filename>`` (or that
name without the folders some tools prefix) in ``JPEGImages/``, ``images/``,
``Images/``, the XML's folder or the dataset folder; the XML's stem with an
image extension in those folders. An ``images`` folder given to ``read_voc``
replaces all of these: ``<filename>`` or the stem is looked up there alone.

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

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath
from typing import NamedTuple

import numpy as np

from yolox_ros.core.image_header import IMAGE_SUFFIXES, image_file_size
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord, checked_box

CLASS_LIST_FILES = ("classes.txt", "labels.txt")
# Where exporters put the XML files, and the images, in order of preference.
XML_FOLDERS = ("Annotations", "annotations", "labels", "xml")
IMAGE_FOLDERS = ("JPEGImages", "images", "Images")
# The stem is tried with these: the usual suffixes as cameras write them, too (IMG_0001.JPG).
STEM_SUFFIXES = tuple(dict.fromkeys([*IMAGE_SUFFIXES, *(s.upper() for s in IMAGE_SUFFIXES)]))


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


class VocLayout(NamedTuple):
    """Where a VOC dataset's files are: its ``root`` (the split folder, if any) and XML folder."""

    root: Path
    xml_dir: Path


def find_voc_layout(folder: Path, split: str = "train") -> VocLayout | None:
    """The VOC layout of ``folder`` (see the module docstring); None if it holds no XML files."""
    for base in (folder, folder / split):
        for name in XML_FOLDERS:
            if _has_xml(base / name):
                return VocLayout(base, base / name)
        if _has_xml(base):
            return VocLayout(base, base)
    return None


def _has_xml(folder: Path) -> bool:
    return folder.is_dir() and next(folder.glob("*.xml"), None) is not None


def read_voc(
    root: str | Path, split: str = "train", images: str | Path | None = None
) -> DetectionDataset:
    """Read the VOC dataset at ``root`` (see the module docstring for the layouts).

    ``images`` is the folder of the images when it is none of the usual places.
    """
    root = Path(root)
    layout = find_voc_layout(root, split)
    if layout is None:
        looked = ", ".join(f"{name}/" for name in XML_FOLDERS)
        raise DatasetError(
            root,
            None,
            f"no VOC .xml annotation files found (looked in {looked}, {split}/ and "
            "the folder itself)",
        )
    base, xml_dir = layout
    xml_files = sorted(xml_dir.glob("*.xml"))
    if xml_dir != base:
        xml_files = _split_xml_files(base, split, xml_files, xml_dir)
    finder = _ImageFinder(base, xml_dir, None if images is None else Path(images))
    parsed = [_parse(xml_file, finder) for xml_file in xml_files]
    listed = _class_list(base, root)
    names = _object_names(_every_split_xml(root, layout)) if listed is None else listed
    class_names = tuple(names)
    index = {name: i for i, name in enumerate(class_names)}
    records = [_record(image_id, voc_image, index) for image_id, voc_image in enumerate(parsed)]
    return DetectionDataset(str(root), class_names, records)


def _every_split_xml(root: Path, layout: VocLayout) -> list[Path]:
    """The XML files of every split: the layout's, and its sibling split folders' if any."""
    if layout.root == root:
        return sorted(layout.xml_dir.glob("*.xml"))
    relative = layout.xml_dir.relative_to(layout.root)
    splits = sorted(p for p in root.iterdir() if p.is_dir())
    return sorted(xml for split in splits for xml in (split / relative).glob("*.xml"))


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


def _split_xml_files(
    root: Path, split: str, all_xml_files: list[Path], xml_dir: Path
) -> list[Path]:
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
        xml_file = xml_dir / f"{image_id}.xml"
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


def _class_list(*folders: Path) -> list[str] | None:
    """The names in the first class list file of the first of ``folders`` that has one."""
    for folder in dict.fromkeys(folders):
        for name in CLASS_LIST_FILES:
            path = folder / name
            if path.is_file():
                lines = path.read_text(encoding="utf-8").splitlines()
                return list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    return None


def _parse(xml_file: Path, finder: _ImageFinder) -> _VocImage:
    """One annotation file, its image found and every object checked."""
    annotation = _xml_root(xml_file)
    image = finder.image_of(xml_file, annotation)
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


class _ImageFinder:
    """Finds each XML file's image in the order of the module docstring.

    Each folder is listed once, so that finding the images of thousands of XML
    files costs a few directory reads rather than a file check per candidate.
    """

    def __init__(self, root: Path, xml_dir: Path, images: Path | None) -> None:
        self.root = root
        self.override = images is not None
        if images is not None:
            self.folders = [images]
        else:
            usual = [root / name for name in IMAGE_FOLDERS]
            self.folders = [f for f in dict.fromkeys([*usual, xml_dir, root]) if f.is_dir()]
        self._names: dict[Path, frozenset[str]] = {}

    def image_of(self, xml_file: Path, annotation: ET.Element) -> Path:
        filename = (annotation.findtext("filename") or "").strip()
        for folder, name in self._candidates(xml_file, annotation, filename):
            if self._holds(folder, name):
                return folder / name
        named = self._candidates(xml_file, annotation, filename, stems=False)
        tried = [str(folder / name) for folder, name in dict.fromkeys(named)]
        folders = ", ".join(str(f) for f in self.folders) or "no image folder (none exists)"
        tried.append(f"'{xml_file.stem}' with an image suffix in {folders}")
        entry = f"filename {filename!r}" if filename else "no <filename>"
        raise DatasetError(xml_file, entry, f"no image found; tried {', '.join(tried)}")

    def _candidates(
        self, xml_file: Path, annotation: ET.Element, filename: str, stems: bool = True
    ) -> Iterator[tuple[Path, str]]:
        """``(folder, file name)`` pairs where the image may be, in the order tried."""
        if not self.override:
            written = (annotation.findtext("path") or "").strip()
            if written:
                path = Path(written).expanduser()
                path = path if path.is_absolute() else xml_file.parent / path
                yield path.parent, path.name
            folder = (annotation.findtext("folder") or "").strip()
            if folder and filename:
                path = self.root / folder / filename
                yield path.parent, path.name
        if filename:
            # Also without the folders some tools prefix, / or \ separated.
            bare = PureWindowsPath(filename).name if "/" in filename or "\\" in filename else None
            for name in (filename, bare) if bare else (filename,):
                for folder in self.folders:
                    path = folder / name if "/" in name else None
                    yield (folder, name) if path is None else (path.parent, path.name)
        if stems:
            for folder in self.folders:
                for suffix in STEM_SUFFIXES:
                    yield folder, xml_file.stem + suffix

    def _holds(self, folder: Path, name: str) -> bool:
        names = self._names.get(folder)
        if names is None:
            try:
                names = frozenset(os.listdir(folder))
            except OSError:
                names = frozenset()
            self._names[folder] = names
        return name in names and (folder / name).is_file()


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
