"""The YOLO txt reader: normalised labels to pixels, data.yaml variants, errors named."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.datasets import open_dataset
from yolox_ros.datasets.records import DatasetError
from yolox_ros.datasets.yolo import label_file, read_yolo


def write_image(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((height, width, 3), np.uint8))


def write_labels(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def roboflow_export(root: Path) -> Path:
    """Roboflow's YOLO layout: ``data.yaml`` in the root naming ``../train/images``."""
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\n\nnc: 2\nnames: ['left', 'stop']\n"
    )
    write_image(root / "train" / "images" / "a.jpg", 200, 100)
    write_labels(root / "train" / "labels" / "a.txt", "1 0.5 0.5 0.1 0.2\n0 0.125 0.25 0.25 0.5\n")
    write_image(root / "train" / "images" / "b.png", 40, 30)  # no label file: negative
    write_image(root / "train" / "images" / "c.png", 40, 30)
    write_labels(root / "train" / "labels" / "c.txt", "\n")  # empty: negative
    write_image(root / "valid" / "images" / "v.jpg", 64, 64)
    write_labels(root / "valid" / "labels" / "v.txt", "0 0.5 0.5 1.0 1.0\n")
    return root


def test_roboflow_export_gives_boxes_in_pixels_and_keeps_negatives(tmp_path):
    dataset = read_yolo(roboflow_export(tmp_path))
    assert dataset.class_names == ("left", "stop")
    assert [r.path.name for r in dataset.records] == ["a.jpg", "b.png", "c.png"]
    first = dataset.records[0]
    assert (first.width, first.height, first.image_id) == (200, 100, 0)
    np.testing.assert_allclose(first.boxes, [[90, 40, 110, 60], [0, 0, 50, 50]])
    np.testing.assert_array_equal(first.class_ids, [1, 0])
    assert [len(r.boxes) for r in dataset.records[1:]] == [0, 0]
    val = open_dataset(tmp_path / "data.yaml", split="val")
    np.testing.assert_allclose(val.records[0].boxes, [[0, 0, 64, 64]])
    image, labels = val.load(0)
    assert image.shape == (64, 64, 3) and labels.tolist() == [[0, 0, 64, 64, 0]]


def test_ultralytics_yaml_with_root_names_dict_and_list_files(tmp_path):
    data = tmp_path / "ds"
    write_image(data / "images" / "train" / "x.png", 10, 20)
    write_labels(data / "labels" / "train" / "x.txt", "1 0.5 0.5 0.2 0.1\n")
    write_image(data / "images" / "val" / "y.png", 10, 10)
    write_image(data / "extra" / "images" / "z.png", 8, 8)
    (data / "extra.txt").write_text("./extra/images/z.png\n\n")
    (tmp_path / "data.yaml").write_text(
        "path: ds\ntrain: images/train\nval: [images/val, extra.txt]\n"
        "names:\n  0: person\n  1: bicycle\n"
    )
    train = open_dataset(tmp_path)
    assert train.class_names == ("person", "bicycle")
    np.testing.assert_allclose(train.records[0].boxes, [[4, 9, 6, 11]])
    val = open_dataset(tmp_path, format="yolo", split="val")
    assert [r.path.name for r in val.records] == ["y.png", "z.png"]
    assert [r.image_id for r in val.records] == [0, 1]


def test_label_file_replaces_the_last_images_folder():
    assert label_file(Path("/d/images/x/images/a.jpg")) == Path("/d/images/x/labels/a.txt")
    assert label_file(Path("/d/pics/a.b.png")) == Path("/d/pics/a.b.txt")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2 0.5 0.5 0.1 0.1", "line 2: class 2 is not in 0..1"),
        ("0.5 0.5 0.5 0.1 0.1", "line 2: class 0.5 is not in 0..1"),
        ("0 0.5 0.5 0.1", "line 2: has 4 values, expected 'class cx cy w h'"),
        ("0 0.5 0.5 a 0.1", "line 2: '0 0.5 0.5 a 0.1' is not numbers"),
        ("0 0.95 0.5 0.2 0.1", "line 2: box [0.95, 0.5, 0.2, 0.1] lies outside the 200x100"),
        ("0 0.5 0.5 0 0.1", "line 2: box [0.5, 0.5, 0, 0.1] has non-positive size"),
    ],
)
def test_broken_label_lines_are_named_with_file_and_line(tmp_path, line, expected):
    roboflow_export(tmp_path)
    labels = tmp_path / "train" / "labels" / "a.txt"
    labels.write_text(f"1 0.5 0.5 0.1 0.2\n{line}\n")
    with pytest.raises(DatasetError) as caught:
        read_yolo(tmp_path)
    assert str(caught.value).startswith(f"{labels}: {expected}")


def test_box_a_fraction_of_a_pixel_outside_is_clipped(tmp_path):
    roboflow_export(tmp_path)
    write_labels(tmp_path / "train" / "labels" / "a.txt", "0 0.5 0.5 1.004 1.0\n")
    np.testing.assert_allclose(read_yolo(tmp_path).records[0].boxes, [[0, 0, 200, 100]])


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("train: images\nnc: 3\nnames: [a, b]\n", "nc: is 3 but 'names' has 2 classes"),
        ("train: images\nnames: {0: a, 2: b}\n", "names: keys [0, 2] are not 0..1"),
        ("train: images\nnames: [a, a]\n", "names: ['a', 'a'] has empty or repeated names"),
        ("train: images\n", "names: None is not a list or dict"),
        ("val: images\nnames: [a]\n", "'train': no such split (has: val)"),
        ("train: nowhere\nnames: [a]\n", "train: 'nowhere': "),
        ("train: [images\nnames: [a]\n", "line 2: malformed YAML"),
    ],
)
def test_broken_data_yaml_is_named(tmp_path, yaml_text, expected):
    write_image(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "data.yaml").write_text(yaml_text)
    with pytest.raises(DatasetError) as caught:
        read_yolo(tmp_path / "data.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'data.yaml'}: {expected}")


def test_missing_image_in_a_list_file_is_named(tmp_path):
    (tmp_path / "train.txt").write_text("images/a.png\nimages/gone.png\n")
    write_image(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "data.yaml").write_text("train: train.txt\nnames: [a]\n")
    with pytest.raises(DatasetError, match=r"train\.txt: line 2: image .*gone\.png not found"):
        read_yolo(tmp_path)


def test_unknown_folder_lists_the_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="expected COCO .* YOLO .* Pascal VOC"):
        open_dataset(tmp_path)
