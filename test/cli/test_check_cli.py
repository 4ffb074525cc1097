"""``python -m yolox_ros check``: the summary table, problems with their file, exit status."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolox_ros.__main__ import main as dispatch
from yolox_ros.cli.check import main


def coco_dataset(root: Path) -> Path:
    """``root/annotations/train.json``, four images (two copies of frame 1) in ``root/train``."""
    names = ["00001_jpg.rf.aa.jpg", "00001_jpg.rf.bb.jpg", "00002_jpg.rf.cc.jpg", "neg.png"]
    for name in names:
        (root / "train").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "train" / name), np.zeros((30, 40, 3), np.uint8))
    doc = {
        "images": [
            {"id": i, "file_name": name, "width": 40, "height": 30} for i, name in enumerate(names)
        ],
        "annotations": [
            {"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 10, 8]} for i in range(3)
        ],
        "categories": [
            {"id": 0, "name": "signs", "supercategory": "none"},
            {"id": 1, "name": "stop", "supercategory": "signs"},
            {"id": 2, "name": "yield", "supercategory": "signs"},
        ],
    }
    (root / "annotations").mkdir()
    (root / "annotations" / "train.json").write_text(json.dumps(doc))
    return root


def test_clean_dataset_prints_the_table_and_exits_0(tmp_path, capsys):
    assert main([str(coco_dataset(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "images    4 (1 without boxes)" in out
    assert "  stop         3\n" in out
    assert "  yield        0  <- no boxes" in out
    assert "  total        3\n" in out
    assert "box longer side   p5 10.0 px   p50 10.0 px   p95 10.0 px" in out
    assert out.rstrip().endswith("problems  none")


def test_broken_images_are_listed_with_their_file_and_exit_1(tmp_path, capsys):
    root = coco_dataset(tmp_path)
    (root / "train" / "neg.png").write_bytes(b"\x89PNG broken")
    cv2.imwrite(str(root / "train" / "00002_jpg.rf.cc.jpg"), np.zeros((31, 40, 3), np.uint8))
    assert main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "problems  2" in out
    assert f"  {root / 'train' / '00002_jpg.rf.cc.jpg'}: image 2: is 40x31 but annotated as" in out
    assert f"  {root / 'train' / 'neg.png'}: image 3: is not a readable JPEG" in out


def test_unreadable_dataset_is_one_error_line_and_exit_2(tmp_path, capsys):
    root = coco_dataset(tmp_path)
    (root / "annotations" / "train.json").write_text('{"images": [}')
    assert main([str(root / "annotations" / "train.json"), "--format", "coco"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("python -m yolox_ros check: error: ")
    assert "train.json: line 1 column 13: malformed JSON" in lines[0]


def test_split_keeps_copies_of_a_frame_together(tmp_path, capsys):
    assert main([str(coco_dataset(tmp_path)), "--val-fraction", "0.3", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "split     0.3 of the groups held out (seed 2)" in out
    train_line = next(line for line in out.splitlines() if line.startswith("  train "))
    val_line = next(line for line in out.splitlines() if line.startswith("  val "))
    assert train_line.split()[1:5:2] == ["3", "2"]  # 3 images in 2 groups, 1 image in 1 group
    assert val_line.split()[1:5:2] == ["1", "1"]


def test_bad_group_pattern_exits_2(tmp_path, capsys):
    code = main([str(coco_dataset(tmp_path)), "--val-fraction", "0.5", "--group-pattern", "(x"])
    assert code == 2 and "is not a regex" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--format", "csv", "x"], ["x", "--group-pattern", "(a)"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("python -m yolox_ros check: error:")


def test_dispatcher_knows_the_command(tmp_path, capsys):
    assert dispatch(["check", str(coco_dataset(tmp_path))]) == 0
    assert dispatch(["--help"]) == 0
    assert "  check " in capsys.readouterr().out
