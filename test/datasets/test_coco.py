"""The COCO reader and writer: the boxes users labelled, in pixels, and every broken entry named."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.datasets import open_dataset
from yolox_ros.datasets.coco import read_coco, to_coco_dict, write_coco
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord

VIA = Path("/work/shared/datasets/via_traffic_sign")

# Roboflow-style categories: 0 is the project, supercategory of the real classes; ids have gaps.
CATEGORIES = [
    {"id": 0, "name": "signs", "supercategory": "none"},
    {"id": 3, "name": "stop", "supercategory": "signs"},
    {"id": 7, "name": "left", "supercategory": "signs"},
    {"id": 12, "name": "right", "supercategory": "signs"},
]


def write_image(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((height, width, 3), 90, np.uint8)
    assert cv2.imwrite(str(path), image)


def coco_doc() -> dict:
    """Three images: two boxes (one fractional), a crowd region, and a negative."""
    return {
        "images": [
            {"id": 10, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 11, "file_name": "b.png", "width": 32, "height": 40},
            {"id": 12, "file_name": "c.png", "width": 20, "height": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [4.5, 6, 10, 8.25], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [40, 30, 24, 18]},
            {"id": 3, "image_id": 11, "category_id": 12, "bbox": [0, 0, 32, 40], "iscrowd": 1},
            {"id": 4, "image_id": 11, "category_id": 12, "bbox": [1, 2, 3, 4], "iscrowd": 0},
        ],
        "categories": CATEGORIES,
    }


def make_dataset(root: Path, doc: dict, images: dict | None = None) -> Path:
    """``root/annotations/train.json`` and the images under ``root/train`` (the VIA layout)."""
    for image in doc["images"] if images is None else images:
        write_image(root / "train" / image["file_name"], image["width"], image["height"])
    json_path = root / "annotations" / "train.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc))
    return json_path


def test_reads_boxes_in_pixels_with_classes_in_category_id_order(tmp_path):
    dataset = read_coco(make_dataset(tmp_path, coco_doc()))
    assert dataset.class_names == ("stop", "left", "right")  # unused supercategory 0 left out
    assert [r.path.name for r in dataset.records] == ["a.jpg", "b.png", "c.png"]
    assert [r.image_id for r in dataset.records] == [10, 11, 12]
    first, second, negative = dataset.records
    np.testing.assert_allclose(first.boxes, [[4.5, 6, 14.5, 14.25], [40, 30, 64, 48]])
    np.testing.assert_array_equal(first.class_ids, [1, 0])
    np.testing.assert_array_equal(second.ignored, [[0, 0, 32, 40]])
    np.testing.assert_array_equal(second.class_ids, [2])
    assert (negative.width, negative.height, len(negative.boxes)) == (20, 20, 0)
    assert first.boxes.dtype == np.float32 and first.class_ids.dtype == np.int64


def test_load_returns_the_image_and_labels(tmp_path):
    dataset = read_coco(make_dataset(tmp_path, coco_doc()))
    image, labels = dataset.load(0)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(labels, [[4.5, 6, 14.5, 14.25, 1], [40, 30, 64, 48, 0]])
    assert labels.dtype == np.float32
    image, labels = dataset.load(2)
    assert image.shape == (20, 20, 3) and labels.shape == (0, 5)
    part = dataset.subset([2, 0])
    assert len(part) == 2 and part.class_names == dataset.class_names
    assert [r.image_id for r in part.records] == [12, 10]


def test_supercategory_used_by_an_annotation_and_unused_leaf_category_stay_classes(tmp_path):
    doc = coco_doc()
    doc["annotations"][0]["category_id"] = 0
    doc["categories"] = [*CATEGORIES, {"id": 20, "name": "yield", "supercategory": "signs"}]
    dataset = read_coco(make_dataset(tmp_path, doc))
    assert dataset.class_names == ("signs", "stop", "left", "right", "yield")
    np.testing.assert_array_equal(dataset.records[0].class_ids, [0, 1])


def test_box_within_one_pixel_outside_is_clipped(tmp_path):
    doc = coco_doc()
    doc["annotations"][1]["bbox"] = [-0.75, 30.5, 65.5, 18.4]
    dataset = read_coco(make_dataset(tmp_path, doc))
    np.testing.assert_allclose(dataset.records[0].boxes[1], [0, 30.5, 64, 48])


def break_doc(doc: dict, how: str) -> str:
    """Break ``doc`` in one way; return the entry the error must name."""
    annotations, images = doc["annotations"], doc["images"]
    if how == "box outside":
        annotations[1]["bbox"] = [40, 30, 26, 18]
        return "annotation id 2 (image 10 'a.jpg'): box [40, 30, 26, 18] lies outside"
    if how == "zero width":
        annotations[3]["bbox"] = [1, 2, 0, 4]
        return "annotation id 4 (image 11 'b.png'): box [1, 2, 0, 4] has non-positive size"
    if how == "unknown category":
        annotations[0]["category_id"] = 5
        return "annotation id 1 (image 10 'a.jpg'): category id 5 is not in 'categories'"
    if how == "unknown image":
        annotations[2]["image_id"] = 99
        return "annotation id 3: image id 99 is not in 'images'"
    if how == "duplicated image id":
        images[2]["id"] = 11
        return "image id 11 'c.png': id is duplicated"
    if how == "duplicated annotation id":
        annotations[3]["id"] = 1
        return "annotation id 1: id is duplicated"
    if how == "bad bbox":
        annotations[0]["bbox"] = [1, 2, 3]
        return "annotation id 1 (image 10 'a.jpg'): bbox [1, 2, 3] is not"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "box outside",
        "zero width",
        "unknown category",
        "unknown image",
        "duplicated image id",
        "duplicated annotation id",
        "bad bbox",
    ],
)
def test_each_broken_annotation_is_named_with_file_and_entry(tmp_path, how):
    doc = coco_doc()
    expected = break_doc(doc, how)
    json_path = make_dataset(tmp_path, doc)
    with pytest.raises(DatasetError) as caught:
        read_coco(json_path)
    assert str(caught.value).startswith(f"{json_path}: {expected}")
    assert "\n" not in str(caught.value)


def test_missing_image_file_is_named(tmp_path):
    doc = coco_doc()
    json_path = make_dataset(tmp_path, doc, images=doc["images"][:2])
    with pytest.raises(
        DatasetError, match=r"train\.json: image id 12 'c\.png': image file .*c\.png"
    ):
        read_coco(json_path)


def test_malformed_json_names_the_line(tmp_path):
    json_path = make_dataset(tmp_path, coco_doc())
    json_path.write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(DatasetError, match=r"train\.json: line 2 column \d+: malformed JSON"):
        read_coco(json_path)


def test_not_a_coco_file_is_refused(tmp_path):
    json_path = make_dataset(tmp_path, coco_doc())
    json_path.write_text('{"info": {}}')
    with pytest.raises(DatasetError, match="has no 'images' list"):
        read_coco(json_path)


def test_missing_image_size_is_read_from_the_file(tmp_path):
    doc = coco_doc()
    for image in doc["images"]:
        del image["width"], image["height"]
    json_path = make_dataset(tmp_path, coco_doc())
    json_path.write_text(json.dumps(doc))
    dataset = read_coco(json_path)
    assert [(r.width, r.height) for r in dataset.records] == [(64, 48), (32, 40), (20, 20)]


def test_unreadable_or_resized_image_fails_on_load_naming_the_file(tmp_path):
    dataset = read_coco(make_dataset(tmp_path, coco_doc()))
    (tmp_path / "train" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=r"a\.jpg: image 10: cannot be read"):
        dataset.load(0)
    write_image(tmp_path / "train" / "b.png", 40, 32)
    with pytest.raises(DatasetError, match=r"b\.png: image 11: is 40x32 but annotated as"):
        dataset.load(1)


def test_dataset_error_survives_pickling(tmp_path):
    error = DatasetError(tmp_path / "x.json", "annotation id 3", "broken")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.entry == "annotation id 3"
    assert str(DatasetError("data.yaml: the validation split has no boxes")) == (
        "data.yaml: the validation split has no boxes"
    )


def test_write_then_read_gives_the_same_dataset(tmp_path):
    original = read_coco(make_dataset(tmp_path, coco_doc()))
    out = tmp_path / "train" / "written.json"
    write_coco(out, original)
    again = read_coco(out, images_dir=tmp_path / "train")
    assert again.class_names == original.class_names
    for a, b in zip(original.records, again.records, strict=True):
        assert (a.path, a.width, a.height, a.image_id) == (b.path, b.width, b.height, b.image_id)
        np.testing.assert_allclose(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(a.ignored, b.ignored)


def test_write_coco_from_bare_records_needs_class_names(tmp_path):
    record = ImageRecord(tmp_path / "x.png", 10, 10, 1, [[1, 1, 5, 5]], [0])
    write_coco(tmp_path / "out.json", [record], ["sign"])
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["categories"] == [{"id": 1, "name": "sign", "supercategory": "none"}]
    assert doc["annotations"][0]["bbox"] == [1, 1, 4, 4]
    with pytest.raises(ValueError, match="class_names"):
        write_coco(tmp_path / "out.json", [record])


def test_coco_dict_is_pycocotools_ground_truth_with_crowd_regions(tmp_path):
    coco_module = pytest.importorskip("pycocotools.coco")
    dataset = read_coco(make_dataset(tmp_path, coco_doc()))
    doc = to_coco_dict(dataset)
    crowd = [a for a in doc["annotations"] if a["iscrowd"]]
    assert sorted(a["category_id"] for a in crowd) == [1, 2, 3]  # one per category
    first = doc["annotations"][0]
    assert first["bbox"] == [4.5, 6.0, 10.0, 8.25] and first["area"] == 82.5
    assert first["category_id"] == 2  # class index 1 ("left") -> category id 2
    coco = coco_module.COCO()
    coco.dataset = doc
    coco.createIndex()
    assert coco.getImgIds() == [10, 11, 12] and len(coco.getAnnIds(iscrowd=False)) == 3


def test_duplicated_image_ids_are_refused_when_exporting(tmp_path):
    record = ImageRecord(tmp_path / "x.png", 10, 10, 1, np.zeros((0, 4)), [])
    with pytest.raises(DatasetError, match="image id 1 'x.png': duplicated"):
        to_coco_dict(DetectionDataset("mine", ("a",), [record, record]))


def test_open_dataset_finds_json_and_images_in_common_layouts(tmp_path):
    via_root = tmp_path / "via"
    json_path = make_dataset(via_root, coco_doc())
    for spec in (via_root, json_path):
        dataset = open_dataset(spec)
        assert len(dataset) == 3 and dataset.records[0].path == via_root / "train" / "a.jpg"
    with pytest.raises(DatasetError, match=r"is split 'val' \(found train\.json\)"):
        open_dataset(via_root, split="val")  # never the training JSON in its place
    roboflow = tmp_path / "roboflow"
    for image in coco_doc()["images"]:
        write_image(roboflow / "valid" / image["file_name"], image["width"], image["height"])
    (roboflow / "valid" / "_annotations.coco.json").write_text(json.dumps(coco_doc()))
    dataset = open_dataset(roboflow, split="valid")
    assert dataset.records[1].path == roboflow / "valid" / "b.png"
    assert open_dataset(roboflow / "valid", format="coco").class_names == ("stop", "left", "right")
    cvat = tmp_path / "cvat"  # annotations/instances_default.json, images/default/
    for image in coco_doc()["images"]:
        write_image(cvat / "images" / "default" / image["file_name"], 8, 8)
    (cvat / "annotations").mkdir()
    (cvat / "annotations" / "instances_default.json").write_text(json.dumps(coco_doc()))
    assert open_dataset(cvat).records[0].path == cvat / "images" / "default" / "a.jpg"


def test_folder_with_a_json_beside_its_images_folder(tmp_path):
    for image in coco_doc()["images"]:
        write_image(tmp_path / "images" / image["file_name"], image["width"], image["height"])
    (tmp_path / "annotations.json").write_text(json.dumps(coco_doc()))
    assert open_dataset(tmp_path).records[2].path == tmp_path / "images" / "c.png"


def test_images_folder_not_found_lists_the_folders_tried(tmp_path):
    json_path = make_dataset(tmp_path, coco_doc(), images=[])
    with pytest.raises(DatasetError) as caught:
        open_dataset(json_path)
    message = str(caught.value)
    assert message.startswith(f"{json_path}: image 'a.jpg': not found in any of the folders tried:")
    assert str(tmp_path / "train") in message


@pytest.mark.skipif(not VIA.is_dir(), reason="VIA traffic-sign dataset not on this machine")
def test_reads_the_via_traffic_sign_export():
    # How long it takes is a benchmark's business, not a test's: it depends on the machine.
    dataset = open_dataset(VIA)
    assert len(dataset) == 6300
    assert dataset.class_names == ("left", "no_left", "no_right", "right", "stop", "straight")
    counts = np.bincount(np.concatenate([r.class_ids for r in dataset.records]), minlength=6)
    assert counts.tolist() == [1679, 900, 968, 1405, 1164, 1062]
    first = dataset.records[0]
    assert first.path.name == "05988_jpg.rf.000061f627ba7d79edc28b3c04b3c636.jpg"
    np.testing.assert_array_equal(first.boxes, [[120, 66, 132, 78]])
    assert dataset.load(0)[0].shape == (180, 240, 3)
