"""Datasets as they are published: where the annotations and images are, and what is said
when the layout is not understood."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.cli.check import main as check_main
from yolox_ros.cli.eval import _parser as eval_parser
from yolox_ros.datasets import detect_format, open_dataset
from yolox_ros.datasets.records import DatasetError


def write_image(path: Path, width: int = 16, height: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((height, width, 3), np.uint8))
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def voc_xml(
    filename: str | None = None,
    folder: str | None = None,
    path: str | None = None,
    name: str = "sign",
) -> str:
    """A 16x12 annotation with one box; ``filename``, ``folder`` and ``path`` where given."""
    tags = {"folder": folder, "filename": filename, "path": path}
    return (
        "<annotation>"
        + "".join(f"<{tag}>{value}</{tag}>" for tag, value in tags.items() if value is not None)
        + "<size><width>16</width><height>12</height><depth>3</depth></size>"
        + f"<object><name>{name}</name><difficult>0</difficult><bndbox>"
        "<xmin>2</xmin><ymin>2</ymin><xmax>8</xmax><ymax>9</ymax></bndbox></object></annotation>"
    )


# --- Pascal VOC ---------------------------------------------------------------------------


def test_kaggle_road_sign_layout_annotations_and_images_by_folder_and_filename(tmp_path):
    # andrewmvd/road-sign-detection: images/road0.png, annotations/road0.xml naming <folder>images.
    write_image(tmp_path / "images" / "road0.png")
    write_text(tmp_path / "annotations" / "road0.xml", voc_xml("road0.png", folder="images"))
    write_image(tmp_path / "photos" / "road1.png")  # <folder> not one of the usual names
    write_text(tmp_path / "annotations" / "road1.xml", voc_xml("road1.png", folder="photos"))
    assert detect_format(tmp_path) == "voc"
    dataset = open_dataset(tmp_path)
    assert [r.path for r in dataset.records] == [
        tmp_path / "images" / "road0.png",
        tmp_path / "photos" / "road1.png",
    ]
    assert dataset.class_names == ("sign",)
    np.testing.assert_allclose(dataset.records[0].boxes, [[1, 1, 8, 9]])


@pytest.mark.parametrize("xml_folder", ["labels", "xml", "Annotations"])
def test_xml_folders_with_images_in_images_folder(tmp_path, xml_folder):
    write_image(tmp_path / "images" / "a.jpg")
    write_text(tmp_path / xml_folder / "a.xml", voc_xml("a.jpg", folder="somewhere_else"))
    write_image(tmp_path / "JPEGImages" / "b.jpg")
    write_text(tmp_path / xml_folder / "b.xml", voc_xml(None))  # no <filename>: the stem
    dataset = open_dataset(tmp_path)
    assert [r.path for r in dataset.records] == [
        tmp_path / "images" / "a.jpg",
        tmp_path / "JPEGImages" / "b.jpg",
    ]


def test_images_beside_the_xml_in_its_folder(tmp_path):
    write_image(tmp_path / "xml" / "a.png")
    write_text(tmp_path / "xml" / "a.xml", voc_xml("a.png"))
    assert open_dataset(tmp_path).records[0].path == tmp_path / "xml" / "a.png"


def test_image_resolution_order_path_folder_filename_stem(tmp_path):
    elsewhere = write_image(tmp_path / "elsewhere" / "shot.jpg")
    write_image(tmp_path / "ds" / "photos" / "shot.jpg")
    write_image(tmp_path / "ds" / "images" / "shot.jpg")
    write_image(tmp_path / "ds" / "images" / "a.jpg")
    root = tmp_path / "ds"
    xml = write_text(root / "annotations" / "a.xml", "")

    def found(text: str) -> Path:
        xml.write_text(text)
        return open_dataset(root).records[0].path

    assert found(voc_xml("shot.jpg", folder="photos", path=str(elsewhere))) == elsewhere
    missing = str(tmp_path / "gone" / "shot.jpg")  # <path> of the labelling machine
    assert found(voc_xml("shot.jpg", folder="photos", path=missing)) == root / "photos/shot.jpg"
    assert found(voc_xml("shot.jpg", folder="VOC2012")) == root / "images" / "shot.jpg"
    assert found(voc_xml("renamed.jpg", folder="VOC2012")) == root / "images" / "a.jpg"
    # A <filename> written with the labelling machine's folders: its bare name.
    assert found(voc_xml(r"C:\Users\me\Desktop\shot.jpg")) == root / "images" / "shot.jpg"


def test_stem_with_an_upper_case_suffix(tmp_path):
    write_image(tmp_path / "images" / "IMG_0001.JPG")
    write_text(tmp_path / "annotations" / "IMG_0001.xml", voc_xml("IMG_0001.jpg"))
    assert open_dataset(tmp_path).records[0].path == tmp_path / "images" / "IMG_0001.JPG"


def test_missing_image_is_one_error_naming_the_xml_and_what_was_tried(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    write_text(tmp_path / "annotations" / "a.xml", voc_xml("a.jpg", folder="images"))
    xml = write_text(tmp_path / "annotations" / "b.xml", voc_xml("b.png", folder="pics"))
    with pytest.raises(DatasetError) as caught:
        open_dataset(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{xml}: filename 'b.png': no image found; tried ")
    assert str(tmp_path / "pics" / "b.png") in message
    assert str(tmp_path / "images" / "b.png") in message
    assert f"'b' with an image suffix in {tmp_path / 'images'}" in message
    assert "\n" not in message


def test_roboflow_voc_split_folders(tmp_path):
    write_image(tmp_path / "train" / "a_jpg.rf.1.jpg")
    write_text(tmp_path / "train" / "a_jpg.rf.1.xml", voc_xml("a_jpg.rf.1.jpg", name="stop"))
    write_image(tmp_path / "valid" / "b_jpg.rf.2.jpg")
    write_text(tmp_path / "valid" / "b_jpg.rf.2.xml", voc_xml("b_jpg.rf.2.jpg", name="yield"))
    write_text(tmp_path / "README.roboflow.txt", "exported")
    train = open_dataset(tmp_path)
    assert [r.path for r in train.records] == [tmp_path / "train" / "a_jpg.rf.1.jpg"]
    assert train.class_names == ("stop", "yield")  # every split's classes
    valid = open_dataset(tmp_path, split="valid")
    assert valid.class_names == train.class_names
    np.testing.assert_array_equal(valid.records[0].class_ids, [1])
    with pytest.raises(DatasetError, match=r"split folders train, valid but none named 'val'"):
        open_dataset(tmp_path, split="val")


def test_voc_images_folder_given(tmp_path):
    write_text(tmp_path / "ds" / "annotations" / "a.xml", voc_xml("a.jpg", folder="images"))
    write_text(tmp_path / "ds" / "annotations" / "b.xml", voc_xml("other_name.jpg"))
    write_image(tmp_path / "pictures" / "a.jpg")
    write_image(tmp_path / "pictures" / "b.png")
    dataset = open_dataset(tmp_path / "ds", images=tmp_path / "pictures")
    assert [r.path for r in dataset.records] == [
        tmp_path / "pictures" / "a.jpg",
        tmp_path / "pictures" / "b.png",
    ]


# --- COCO ---------------------------------------------------------------------------------


def coco_doc(*file_names: str) -> dict:
    return {
        "images": [
            {"id": i, "file_name": name, "width": 16, "height": 12}
            for i, name in enumerate(file_names)
        ],
        "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "sign"}],
    }


@pytest.mark.parametrize("json_folder", ["labels", "annotations"])
def test_coco_json_in_labels_or_annotations_with_an_images_folder(tmp_path, json_folder):
    write_image(tmp_path / "images" / "a.jpg")
    write_image(tmp_path / "images" / "b.jpg")
    write_text(tmp_path / json_folder / "instances.json", json.dumps(coco_doc("a.jpg", "b.jpg")))
    assert detect_format(tmp_path) == "coco"
    dataset = open_dataset(tmp_path)
    assert [r.path for r in dataset.records] == [
        tmp_path / "images" / n for n in ("a.jpg", "b.jpg")
    ]


def test_coco_images_in_split_folders_under_images(tmp_path):
    write_image(tmp_path / "images" / "train" / "a.jpg")
    write_image(tmp_path / "images" / "val" / "v.jpg")
    write_text(tmp_path / "labels" / "train.json", json.dumps(coco_doc("a.jpg")))
    write_text(tmp_path / "labels" / "val.json", json.dumps(coco_doc("v.jpg")))
    assert open_dataset(tmp_path).records[0].path == tmp_path / "images" / "train" / "a.jpg"
    val = open_dataset(tmp_path, split="val")
    assert val.records[0].path == tmp_path / "images" / "val" / "v.jpg"


def test_coco_file_name_relative_to_the_root_or_with_foreign_folders(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    json_path = write_text(
        tmp_path / "annotations" / "train.json", json.dumps(coco_doc("images/a.jpg"))
    )
    assert open_dataset(tmp_path).records[0].path == tmp_path / "images" / "a.jpg"
    json_path.write_text(json.dumps(coco_doc("/home/labeller/project/a.jpg")))
    assert open_dataset(tmp_path).records[0].path == tmp_path / "images" / "a.jpg"


def test_coco_images_folder_given(tmp_path):
    write_text(tmp_path / "ds" / "labels" / "train.json", json.dumps(coco_doc("x/a.jpg", "b.jpg")))
    write_image(tmp_path / "pictures" / "x" / "a.jpg")
    write_image(tmp_path / "pictures" / "b.jpg")
    dataset = open_dataset(tmp_path / "ds", images=tmp_path / "pictures")
    assert [r.path for r in dataset.records] == [
        tmp_path / "pictures" / "x" / "a.jpg",
        tmp_path / "pictures" / "b.jpg",
    ]
    with pytest.raises(DatasetError, match=r"nowhere: images folder not found"):
        open_dataset(tmp_path / "ds", images=tmp_path / "nowhere")


# --- YOLO ---------------------------------------------------------------------------------


def yolo_split(folder: Path, stem: str = "a") -> None:
    write_image(folder / "images" / f"{stem}.jpg")
    write_text(folder / "labels" / f"{stem}.txt", "0 0.5 0.5 0.25 0.5\n")


def test_roboflow_yaml_with_a_path_of_the_exporting_machine(tmp_path):
    yolo_split(tmp_path / "train")
    yolo_split(tmp_path / "valid", "v")
    yolo_split(tmp_path / "test", "t")
    write_text(
        tmp_path / "data.yaml",
        "path: /content/datasets/Signs-1\ntrain: ../train/images\n"
        "val: [../valid/images, ../test/images]\nnc: 1\nnames: ['sign']\n",
    )
    assert open_dataset(tmp_path).records[0].path == tmp_path / "train" / "images" / "a.jpg"
    val = open_dataset(tmp_path, split="val")
    assert [r.path.name for r in val.records] == ["v.jpg", "t.jpg"]
    np.testing.assert_allclose(val.records[0].boxes, [[6, 3, 10, 9]])


def test_yolo_path_given_wins_over_the_yaml_folder(tmp_path):
    yolo_split(tmp_path / "ds" / "train", "in_path")
    yolo_split(tmp_path / "train", "beside_yaml")
    write_text(tmp_path / "data.yaml", "path: ds\ntrain: train/images\nnames: [sign]\n")
    assert [r.path for r in open_dataset(tmp_path).records] == [
        tmp_path / "ds" / "train" / "images" / "in_path.jpg"
    ]


def test_roboflow_dotdot_path_relative_to_the_path_given(tmp_path):
    yolo_split(tmp_path / "ds" / "train")
    write_text(tmp_path / "data.yaml", "path: ds\ntrain: ../train/images\nnames: [sign]\n")
    assert open_dataset(tmp_path).records[0].path == tmp_path / "ds/train/images/a.jpg"


def test_yolo_list_file_lines_relative_to_the_root(tmp_path):
    yolo_split(tmp_path / "ds")
    write_text(tmp_path / "ds" / "lists" / "train.txt", "images/a.jpg\n")
    write_text(tmp_path / "data.yaml", "path: ds\ntrain: lists/train.txt\nnames: [sign]\n")
    assert open_dataset(tmp_path).records[0].path == tmp_path / "ds" / "images" / "a.jpg"


def test_yolo_split_path_not_found_lists_what_was_tried(tmp_path):
    write_text(tmp_path / "data.yaml", "path: ds\ntrain: ../train/images\nnames: [sign]\n")
    with pytest.raises(DatasetError) as caught:
        open_dataset(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'data.yaml'}: train: '../train/images': not found;")
    for tried in (tmp_path / "ds" / "train" / "images", tmp_path / "train" / "images"):
        assert str(tried) in message


def test_yolo_images_folder_given(tmp_path):
    yolo_split(tmp_path / "elsewhere")
    write_text(tmp_path / "ds" / "data.yaml", "train: /gone/images\nnames: [sign]\n")
    dataset = open_dataset(tmp_path / "ds", images=tmp_path / "elsewhere" / "images")
    assert dataset.records[0].path == tmp_path / "elsewhere" / "images" / "a.jpg"
    assert len(dataset.records[0].boxes) == 1  # labels found from the image's path


# --- Not understood ----------------------------------------------------------------------


def test_unknown_layout_names_the_path_and_shows_each_layout_with_an_example(tmp_path):
    write_text(tmp_path / "notes.md", "hello")
    with pytest.raises(DatasetError) as caught:
        open_dataset(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: not a dataset in a known layout: expected COCO (")
    assert "e.g. annotations/instances_train.json + images/0001.jpg" in message
    assert "YOLO (data.yaml or a folder with one, e.g. data.yaml + train/images/0001.jpg" in message
    assert "Pascal VOC (" in message and "e.g. annotations/0001.xml + images/0001.jpg" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda root: yolo_split(root), "labels holds .txt labels but there is no data.yaml"),
        (lambda root: write_image(root / "a.jpg"), "it holds only images: give the folder"),
        (lambda root: root.mkdir(exist_ok=True), "the folder is empty"),
    ],
)
def test_unknown_layout_says_what_is_missing(tmp_path, make, hint):
    root = tmp_path / "ds"
    root.mkdir()
    make(root)
    with pytest.raises(DatasetError, match=f"^{root}: not a dataset in a known layout \\(.*{hint}"):
        open_dataset(root)


def test_an_xml_file_given_alone_asks_for_the_folder(tmp_path):
    xml = write_text(tmp_path / "a.xml", voc_xml("a.jpg"))
    with pytest.raises(DatasetError, match=r"\(a \.xml file: give the dataset's folder\)"):
        open_dataset(xml)


# --- Command line -------------------------------------------------------------------------


def test_check_and_eval_take_an_images_folder(tmp_path, capsys):
    write_text(tmp_path / "ds" / "annotations" / "a.xml", voc_xml("a.jpg"))
    write_image(tmp_path / "pictures" / "a.jpg")
    assert check_main([str(tmp_path / "ds")]) == 2
    assert "a.xml: filename 'a.jpg': no image found" in capsys.readouterr().err
    assert check_main([str(tmp_path / "ds"), "--images", str(tmp_path / "pictures")]) == 0
    assert "images    1 (0 without boxes)" in capsys.readouterr().out
    args = eval_parser().parse_args(["m.onnx", "ds", "--images", "pictures"])
    assert args.images == Path("pictures")
