"""The Pascal VOC reader: 1-based corners to pixels, difficult objects ignored, errors named."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.datasets import open_dataset
from yolox_ros.datasets.records import DatasetError
from yolox_ros.datasets.voc import read_voc


def voc_xml(filename: str, width: int, height: int, objects: list[tuple]) -> str:
    """An annotation file; each object is ``(name, xmin, ymin, xmax, ymax, difficult)``."""
    parts = [
        f"<annotation><filename>{filename}</filename>",
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for name, xmin, ymin, xmax, ymax, difficult in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
            f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
            "</bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def write_image(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((height, width, 3), np.uint8))


IMAGES = {
    "a": ("a.jpg", 64, 48, [("car", 1, 1, 10, 20, 0), ("person", 30, 5, 40.5, 47, 1)]),
    "b": ("b.png", 32, 32, []),
    "c": ("c.jpg", 50, 40, [("bus", 5, 5, 50, 40, 0), ("car", 2, 3, 4, 5, 0)]),
}


def voc_tree(root: Path, images: dict = IMAGES, splits: dict | None = None) -> Path:
    """A VOC tree with ``Annotations/``, ``JPEGImages/`` and the ``splits`` id lists."""
    (root / "Annotations").mkdir(parents=True)
    for stem, (filename, width, height, objects) in images.items():
        write_image(root / "JPEGImages" / filename, width, height)
        (root / "Annotations" / f"{stem}.xml").write_text(voc_xml(filename, width, height, objects))
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    default = {"train": ["a", "b"], "val": ["c"]}
    for split, ids in (default if splits is None else splits).items():
        (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def test_reads_the_split_with_one_based_corners_and_difficult_ignored(tmp_path):
    dataset = read_voc(voc_tree(tmp_path))
    assert [r.path for r in dataset.records] == [
        tmp_path / "JPEGImages" / "a.jpg",
        tmp_path / "JPEGImages" / "b.png",
    ]
    assert dataset.class_names == ("bus", "car", "person")  # sorted names of all objects
    first, negative = dataset.records
    np.testing.assert_allclose(first.boxes, [[0, 0, 10, 20]])  # xmin 1..xmax 10 = 10 pixels
    np.testing.assert_array_equal(first.class_ids, [1])
    np.testing.assert_allclose(first.ignored, [[29, 4, 40.5, 47]])
    assert (first.width, first.height) == (64, 48)
    assert len(negative.boxes) == 0 and (negative.width, negative.height) == (32, 32)
    val = read_voc(tmp_path, split="val")
    assert val.class_names == dataset.class_names
    np.testing.assert_allclose(val.records[0].boxes, [[4, 4, 50, 40], [1, 2, 4, 5]])


def test_class_list_file_fixes_the_order_and_refuses_unknown_names(tmp_path):
    voc_tree(tmp_path)
    (tmp_path / "labels.txt").write_text("person\ncar\nbus\n\n")
    dataset = read_voc(tmp_path)
    assert dataset.class_names == ("person", "car", "bus")
    np.testing.assert_array_equal(dataset.records[0].class_ids, [1])
    (tmp_path / "labels.txt").write_text("person\nbus\n")
    with pytest.raises(DatasetError, match=r"a\.xml: object 1 'car': class not in the class list"):
        read_voc(tmp_path)


def test_flat_folder_of_images_and_xml_files(tmp_path):
    write_image(tmp_path / "frame1.png", 20, 10)
    (tmp_path / "frame1.xml").write_text(
        voc_xml("renamed_by_tool.png", 20, 10, [("sign", 2, 2, 5, 6, 0)])
    )
    write_image(tmp_path / "frame2.jpg", 20, 10)
    (tmp_path / "frame2.xml").write_text(voc_xml("frame2.jpg", 0, 0, []))  # size 0: from file
    (tmp_path / "notes.json").write_text("{}")  # a stray JSON does not make it COCO
    dataset = open_dataset(tmp_path)
    assert [r.path.name for r in dataset.records] == ["frame1.png", "frame2.jpg"]
    assert dataset.class_names == ("sign",)
    np.testing.assert_allclose(dataset.records[0].boxes, [[1, 1, 5, 6]])
    assert (dataset.records[1].width, dataset.records[1].height) == (20, 10)


def test_without_split_lists_every_file_is_read_and_wrong_split_names_the_lists(tmp_path):
    voc_tree(tmp_path, splits={})
    assert len(open_dataset(tmp_path, split="anything")) == 3
    (tmp_path / "ImageSets" / "Main" / "default.txt").write_text("a\n")
    with pytest.raises(DatasetError, match=r"Main: no split 'train' \(has: default\)"):
        read_voc(tmp_path)
    assert len(read_voc(tmp_path, split="default")) == 1


def test_split_list_naming_a_missing_annotation(tmp_path):
    voc_tree(tmp_path, splits={"train": ["a", "zzz"]})
    with pytest.raises(DatasetError, match=r"train\.txt: line 2 'zzz': .*zzz\.xml not found"):
        read_voc(tmp_path)


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ([("car", 1, 1, 70, 20, 0)], "object 1 'car': box [1, 1, 70, 20] lies outside the 64x48"),
        (
            [("car", 1, 1, 9, 9, 0), ("bus", 10, 5, 8, 9, 0)],
            "object 2 'bus': box [10, 5, 8, 9] has",
        ),
        ([("car", 1, 1, "", 9, 0)], "object 1 'car': <bndbox><xmax> is ''"),
        ([("", 1, 1, 5, 5, 0)], "object 1: has no <name>"),
    ],
)
def test_broken_objects_are_named_with_file_and_object(tmp_path, objects, expected):
    voc_tree(tmp_path, images={"a": ("a.jpg", 64, 48, objects)}, splits={"train": ["a"]})
    with pytest.raises(DatasetError) as caught:
        read_voc(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'Annotations' / 'a.xml'}: {expected}")


def test_malformed_xml_and_missing_image_are_named(tmp_path):
    voc_tree(tmp_path)
    (tmp_path / "JPEGImages" / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"b\.xml: filename 'b\.png': no image found"):
        read_voc(tmp_path)
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation><filename>a.jpg</annotation>")
    with pytest.raises(DatasetError, match=r"a\.xml: line 1: malformed XML"):
        read_voc(tmp_path)
