"""``python -m yolox_ros eval``: the deployed model's COCO figures, as pycocotools computes them."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from support import STREET_MODEL

from yolox_ros.cli.eval import main
from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.datasets import open_dataset
from yolox_ros.datasets.coco import to_coco_dict
from yolox_ros.synthetic import CLASS_NAMES, write_dataset

pycocotools = pytest.importorskip("pycocotools")
MODEL = STREET_MODEL  # trained on the synthetic street scenes the test writes


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    write_dataset(root, count=6, seed=3, width=320, height=240)
    return root


def reference_stats(dataset) -> list[float]:
    """pycocotools on the detector's boxes, written out the plain way."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    detector = Detector(DetectorConfig(MODEL, conf_threshold=0.01, nms_threshold=0.65,
                                       max_detections=300))  # fmt: skip
    results = []
    for record in dataset.records:
        import cv2

        found = detector.detect(cv2.imread(str(record.path)))
        for (x1, y1, x2, y2), score, class_id in zip(
            found.boxes.tolist(), found.scores.tolist(), found.class_ids.tolist(), strict=True
        ):
            results.append({"image_id": record.image_id, "category_id": class_id + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = to_coco_dict(dataset)
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(v) for v in evaluation.stats]


def test_eval_reports_what_pycocotools_reports(scenes: Path, tmp_path: Path, capsys):
    figures_path = tmp_path / "figures.json"
    assert main([str(MODEL), str(scenes), "--json", str(figures_path)]) == 0
    printed = capsys.readouterr().out
    assert "AP @[.50:.95] all" in printed and "recall at score >=" in printed
    figures = json.loads(figures_path.read_text())
    assert figures["images"] == 6
    assert figures["stats"] == pytest.approx(reference_stats(open_dataset(scenes)), abs=1e-9)
    assert set(figures["class_ap"]) == set(Detector(DetectorConfig(MODEL)).class_names)


def test_eval_refuses_a_model_of_other_classes(scenes: Path, tmp_path: Path, capsys):
    from support import VIA_MODEL

    assert main([str(VIA_MODEL), str(scenes)]) == 2
    assert "are not the dataset's" in capsys.readouterr().err


def test_eval_of_a_missing_dataset_is_one_line(tmp_path: Path, capsys):
    assert main([str(MODEL), str(tmp_path / "nothing.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "nothing.json" in err


def test_val_fraction_holds_frames_out_of_a_folder_with_only_a_training_json(
    tmp_path: Path, capsys
):
    """`eval best.pt <VIA folder> --val-fraction 0.1`: the folder has annotations/train.json."""
    root = tmp_path / "via_like"
    write_dataset(root, count=8, seed=3, width=320, height=240)
    (root / "annotations").mkdir()
    (root / "annotations.json").rename(root / "annotations" / "train.json")
    assert main([str(MODEL), str(root), "--val-fraction", "0.25"]) == 0, capsys.readouterr().err
    assert ": 2 images" in capsys.readouterr().out


def _scenes_with(scenes: Path, tmp_path: Path, change) -> list[str]:
    """A copy of the scenes' COCO file, its categories changed by ``change``, and the
    ``--images`` option pointing at the scenes' images."""
    (json_path,) = scenes.rglob("*.json")
    document = json.loads(json_path.read_text())
    change(document["categories"])
    copy = tmp_path / json_path.name
    copy.write_text(json.dumps(document))
    first_image = next(scenes.rglob(document["images"][0]["file_name"]))
    return [str(copy), "--images", str(first_image.parent)]


def test_a_model_trained_on_some_classes_is_evaluated_on_those(
    scenes: Path, tmp_path: Path, capsys
):
    def add_a_class(categories):
        categories.append({"id": 99, "name": "bicycle"})

    data = _scenes_with(scenes, tmp_path, add_a_class)
    figures_path = tmp_path / "figures.json"
    assert main([str(MODEL), *data, "--json", str(figures_path)]) == 0
    figures = json.loads(figures_path.read_text())
    assert figures["stats"] == pytest.approx(reference_stats(open_dataset(scenes)), abs=1e-9)


def test_classes_renamed_in_training_are_given_as_train_took_them(
    scenes: Path, tmp_path: Path, capsys
):
    def rename_stop(categories):
        next(c for c in categories if c["name"] == "stop")["name"] = "halt"

    data = _scenes_with(scenes, tmp_path, rename_stop)
    assert main([str(MODEL), *data]) == 2
    assert "--classes" in capsys.readouterr().err
    names = ",".join("halt=stop" if n == "stop" else n for n in CLASS_NAMES)
    figures_path = tmp_path / "figures.json"
    assert main([str(MODEL), *data, "--classes", names, "--json", str(figures_path)]) == 0
    figures = json.loads(figures_path.read_text())
    assert figures["stats"] == pytest.approx(reference_stats(open_dataset(scenes)), abs=1e-9)
