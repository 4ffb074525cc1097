"""What a run leaves to look at: the confusion matrix, PR curves, sheets and per-class AP."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import make_detections, needs

from yolox_ros.core.annotate import class_color
from yolox_ros.core.detections import Detections
from yolox_ros.datasets.metrics import (
    CocoMetrics,
    PrecisionRecallCurves,
    confusion_matrix,
    evaluate_predictions,
    precision_recall_curves,
)
from yolox_ros.datasets.records import DetectionDataset, ImageRecord
from yolox_ros.training import report
from yolox_ros.training.report import (
    SHEET_GAP,
    SHEET_TILE_WIDTH,
    plot_confusion_matrix,
    plot_pr_curves,
    sample_sheet,
    train_batch_sheet,
)

with_pycocotools = needs("pycocotools")
with_matplotlib = needs("matplotlib")

NAMES = ("stop", "left", "right")
STOP, LEFT, RIGHT = range(3)
BG = len(NAMES)  # the background row and column
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _dataset(tmp_path: Path | None = None) -> DetectionDataset:
    root = tmp_path or Path("/nonexistent")
    records = [
        ImageRecord(
            root / "a.png",
            200,
            100,
            1,
            [[10, 10, 30, 30], [100, 20, 160, 80], [170, 10, 190, 30]],
            [STOP, LEFT, RIGHT],
        ),
        ImageRecord(root / "b.png", 200, 100, 2, [[50, 50, 58, 58]], [STOP], [[150, 0, 200, 40]]),
    ]
    return DetectionDataset("fixture", NAMES, records)


def test_confusion_matrix_counts_hits_wrong_classes_false_positives_and_misses():
    predictions = [
        make_detections(
            [
                [10, 10, 30, 30],  # the stop sign: right
                [101, 20, 160, 80],  # on the left arrow, but called right
                [40, 40, 60, 60],  # on nothing: a false positive
                [11, 11, 30, 30],  # the stop sign again: it is taken, so a false positive
                [170, 10, 190, 30],  # on the right arrow, under the threshold: a miss
            ],
            [0.9, 0.8, 0.7, 0.6, 0.1],
            [STOP, RIGHT, LEFT, STOP, RIGHT],
        ),
        # The small stop sign found; a "left" in the ignored region counts for nothing.
        make_detections([[50, 50, 58, 58], [152, 2, 198, 38]], [0.5, 0.95], [STOP, LEFT]),
    ]
    matrix = confusion_matrix(predictions, _dataset(), score_threshold=0.25)
    expected = np.zeros((4, 4), np.int64)
    expected[STOP, STOP] = 2  # rows: the true class, columns: the predicted one
    expected[LEFT, RIGHT] = 1
    expected[RIGHT, BG] = 1  # missed
    expected[BG, LEFT] = 1  # false positives
    expected[BG, STOP] = 1
    np.testing.assert_array_equal(matrix, expected)
    # Every box is counted once, in its row; every kept prediction outside ignored regions
    # once, in its column.
    assert matrix[:BG].sum() == 4 and matrix[:, :BG].sum() == 5
    with pytest.raises(ValueError, match="1 detection lists for 2 images"):
        confusion_matrix(predictions[:1], _dataset(), 0.25)


def test_confusion_matrix_pairs_by_highest_iou_first_whatever_the_class():
    # As ultralytics: the closer box wins the match, even at a lower score.
    dataset = DetectionDataset(
        "one", NAMES, [ImageRecord("c.png", 100, 100, 1, [[0, 0, 40, 40]], [0])]
    )
    loose, tight = [0, 0, 40, 28], [0, 0, 40, 39]  # IoU 0.7 and 0.975
    found = [make_detections([loose, tight], [0.9, 0.5], [LEFT, STOP])]
    matrix = confusion_matrix(found, dataset, 0.3)
    assert matrix[STOP, STOP] == 1 and matrix[BG, LEFT] == 1 and matrix.sum() == 2
    # Above the IoU threshold only: a loose box is no match, the box is missed.
    matrix = confusion_matrix([make_detections([loose], [0.9], [STOP])], dataset, 0.3, iou=0.75)
    assert matrix[STOP, BG] == 1 and matrix[BG, STOP] == 1 and matrix.sum() == 2


def _ranked_predictions() -> list[Detections]:
    return [
        make_detections(
            [[60, 60, 80, 80], [10, 10, 30, 30], [100, 20, 160, 80], [170, 10, 190, 30]],
            [0.95, 0.9, 0.8, 0.3],
            [STOP, STOP, LEFT, LEFT],  # a false stop first, and a right arrow called left
        ),
        make_detections([[50, 50, 58, 58]], [0.5], [STOP]),
    ]


@with_pycocotools
def test_pr_curves_have_a_rising_recall_axis_falling_precision_and_the_coco_ap50():
    dataset = _dataset()
    predictions = _ranked_predictions()
    curves = precision_recall_curves(predictions, dataset)
    metrics = evaluate_predictions(dataset, predictions)
    assert curves.recall.shape == (101,) and curves.precision.shape == (3, 101)
    assert curves.recall[0] == 0.0 and curves.recall[-1] == pytest.approx(1.0)
    assert np.all(np.diff(curves.recall) > 0)
    for row in curves.precision[[STOP, LEFT]]:
        assert np.all(np.diff(row) <= 1e-12)  # interpolated: never rises with recall
        assert np.all((row >= 0) & (row <= 1))
    np.testing.assert_allclose(curves.class_ap50, metrics.class_ap50, atol=1e-9)
    assert curves.ap50 == pytest.approx(metrics.ap50, abs=1e-9)
    # Stop: after a false positive, 2 of 2 boxes at precision 2/3.
    assert curves.class_ap50[STOP] == pytest.approx(2 / 3, abs=1e-6)
    # Right has a box but only a wrong-class prediction: a curve of zeros, not "no curve".
    assert curves.class_ap50[RIGHT] == 0.0


@with_pycocotools
def test_pr_curves_of_a_class_without_boxes_are_nan_and_left_out_of_the_mean():
    one_stop = ImageRecord("a.png", 200, 100, 1, [[10, 10, 30, 30]], [STOP])
    dataset = DetectionDataset("one", NAMES, [one_stop])
    predictions = [make_detections([[10, 10, 30, 30], [40, 40, 60, 60]], [0.9, 0.8], [STOP, LEFT])]
    curves = precision_recall_curves(predictions, dataset)
    assert np.isnan(curves.precision[[LEFT, RIGHT]]).all()
    assert curves.ap50 == pytest.approx(1.0) == evaluate_predictions(dataset, predictions).ap50
    empty = precision_recall_curves([make_detections([], [], [])], dataset)
    assert empty.class_ap50[STOP] == 0.0 and empty.ap50 == 0.0


def _read_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    return image


@with_matplotlib
@with_pycocotools
def test_plots_write_png_files(tmp_path: Path):
    matrix = np.arange(16).reshape(4, 4)
    matrix[BG, BG] = 0
    assert plot_confusion_matrix(matrix, NAMES, tmp_path / "cm.png", score_threshold=0.3)
    _read_png(tmp_path / "cm.png")
    curves = precision_recall_curves(_ranked_predictions(), _dataset())
    assert plot_pr_curves(curves, NAMES, tmp_path / "pr.png")
    _read_png(tmp_path / "pr.png")
    with pytest.raises(ValueError, match="for 2 classes"):
        plot_confusion_matrix(matrix, NAMES[:2], tmp_path / "bad.png")


@with_matplotlib
def test_plots_of_many_classes_leave_out_legends_and_counts(tmp_path: Path):
    names = tuple(f"class {i}" for i in range(40))
    matrix = np.random.default_rng(0).integers(0, 5, (41, 41))
    assert plot_confusion_matrix(matrix, names, tmp_path / "cm.png")
    rng = np.random.default_rng(1)
    precision = np.sort(rng.random((40, 101)), axis=1)[:, ::-1]
    curves = PrecisionRecallCurves(np.linspace(0, 1, 101), precision)
    assert plot_pr_curves(curves, names, tmp_path / "pr.png")
    _read_png(tmp_path / "cm.png")
    _read_png(tmp_path / "pr.png")


def test_plots_without_matplotlib_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    assert not plot_confusion_matrix(np.zeros((4, 4), int), NAMES, tmp_path / "cm.png")
    curves = PrecisionRecallCurves(np.linspace(0, 1, 101), np.zeros((3, 101)))
    assert not plot_pr_curves(curves, NAMES, tmp_path / "pr.png")
    assert not list(tmp_path.iterdir())


def _deviation(image: np.ndarray, rows: slice, columns: slice, background: int) -> int:
    return int(np.abs(image[rows, columns].astype(int) - background).max())


def test_train_batch_sheet_is_a_grid_of_the_batch_with_its_boxes(tmp_path: Path):
    torch = pytest.importorskip("torch")
    height, width = 64, 96
    images = torch.full((5, 3, height, width), 114.0)  # as the model's float input
    targets = torch.zeros((5, 120, 5))
    targets[0, 0] = torch.tensor([RIGHT, 48.0, 32.0, 40.0, 40.0])  # a 40 px box in the middle
    train_batch_sheet(images, targets, NAMES, tmp_path / "train_batches.jpg")
    sheet = cv2.imread(str(tmp_path / "train_batches.jpg"))
    tile_height = SHEET_TILE_WIDTH * height // width  # 320
    assert sheet.shape == (2 * tile_height + SHEET_GAP, 4 * SHEET_TILE_WIDTH + 3 * SHEET_GAP, 3)
    scale = SHEET_TILE_WIDTH / width  # 5
    left_edge = round(28 * scale)
    band = slice(round(30 * scale), round(50 * scale))  # along the box's left side
    assert _deviation(sheet, band, slice(left_edge - 2, left_edge + 3), 114) > 60
    drawn = sheet[band, left_edge - 2 : left_edge + 3].astype(int)
    assert np.abs(drawn - np.array(class_color(RIGHT))).sum(axis=-1).min() < 60
    # The second image has no boxes: its tile is all padding grey.
    second = slice(SHEET_TILE_WIDTH + SHEET_GAP, 2 * SHEET_TILE_WIDTH + SHEET_GAP)
    assert _deviation(sheet, slice(0, tile_height), second, 114) < 10
    # The loader's uint8 batch (channels_last strides) draws the same sheet.
    loader_batch = images.to(torch.uint8).contiguous(memory_format=torch.channels_last)
    train_batch_sheet(loader_batch.numpy(), targets.numpy(), NAMES, tmp_path / "uint8.jpg")
    assert cv2.imread(str(tmp_path / "uint8.jpg")).shape == sheet.shape


def test_train_batch_sheet_shows_at_most_a_sheet_of_images(tmp_path: Path):
    images = np.full((20, 3, 32, 32), 114, np.uint8)
    train_batch_sheet(images, np.zeros((20, 120, 5)), NAMES, tmp_path / "b.jpg")
    sheet = cv2.imread(str(tmp_path / "b.jpg"))
    shown = report.BATCH_SHEET_IMAGES
    rows = -(-shown // report.SHEET_COLUMNS)
    assert sheet.shape[0] == rows * SHEET_TILE_WIDTH + (rows - 1) * SHEET_GAP


def test_sample_sheet_puts_the_truth_beside_the_predictions_not_over_them(tmp_path: Path):
    gray = 128
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((100, 200, 3), gray, np.uint8))
    truth_box, predicted_box = [20, 20, 80, 80], [120, 20, 180, 80]
    records = [
        ImageRecord(tmp_path / name, 200, 100, i, [truth_box], [STOP])
        for i, name in enumerate(("a.png", "b.png"))
    ]
    dataset = DetectionDataset("pairs", NAMES, records)
    detections = [
        # 0.1: not shown
        make_detections([predicted_box, [20, 20, 80, 80]], [0.9, 0.1], [LEFT, STOP]),
        make_detections([], [], []),
    ]
    sample_sheet(dataset, detections, tmp_path / "val_samples.jpg", conf_threshold=0.3)
    sheet = cv2.imread(str(tmp_path / "val_samples.jpg"))
    # Each image is a pair twice a tile's width; the two pairs share a row.
    pair = 2 * SHEET_TILE_WIDTH
    assert sheet.shape == (SHEET_TILE_WIDTH // 2, 2 * pair + SHEET_GAP, 3)
    scale = SHEET_TILE_WIDTH / 200
    band = slice(round(40 * scale), round(70 * scale))  # rows along the boxes' sides

    def edge(x: float, offset: int = 0) -> slice:
        column = offset + round(x * scale)
        return slice(column - 2, column + 3)

    # Left: the truth box; right: only the prediction above the threshold.
    assert _deviation(sheet, band, edge(truth_box[0]), gray) > 60
    assert _deviation(sheet, band, edge(truth_box[0], SHEET_TILE_WIDTH), gray) < 20
    assert _deviation(sheet, band, edge(predicted_box[0], SHEET_TILE_WIDTH), gray) > 60
    assert _deviation(sheet, band, edge(predicted_box[0]), gray) < 20
    # The second pair: its truth on the left, no predictions on its right.
    second = pair + SHEET_GAP
    assert _deviation(sheet, band, edge(truth_box[0], second), gray) > 60
    right_half = slice(second + SHEET_TILE_WIDTH, second + pair)
    assert _deviation(sheet, slice(None), right_half, gray) < 20


def test_sample_sheet_of_one_image_is_one_pair_wide(tmp_path: Path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((50, 100, 3), np.uint8))
    dataset = DetectionDataset(
        "one", NAMES, [ImageRecord(tmp_path / "a.png", 100, 50, 0, [[5, 5, 50, 40]], [RIGHT])]
    )
    sample_sheet(dataset, [make_detections([], [], [])], tmp_path / "s.jpg", 0.3)
    assert cv2.imread(str(tmp_path / "s.jpg")).shape == (240, 2 * SHEET_TILE_WIDTH, 3)


class _Board:
    def __init__(self) -> None:
        self.scalars: dict[str, float] = {}

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars[tag] = value

    def close(self) -> None:
        pass


def test_each_evaluation_writes_the_ap_of_every_class_to_tensorboard(tmp_path: Path):
    from yolox_ros.training.progress import Progress

    progress = Progress(tmp_path, NAMES, log=lambda line: None)
    progress.close()
    progress._board = board = _Board()
    progress.begin_epoch(0, 1, 1)
    progress._lr = 0.01
    stats = (0.5, 0.7) + (0.0,) * 10
    progress.end_epoch(CocoMetrics(stats, (0.4, 0.6, float("nan")), (0.6, 0.8, float("nan"))))
    assert board.scalars == {
        "val/AP": 0.5,
        "val/AP50": 0.7,
        "val/AP/stop": 0.4,
        "val/AP/left": 0.6,
        "val/AP50/stop": 0.6,
        "val/AP50/left": 0.8,
    }


@with_matplotlib
@with_pycocotools
def test_the_end_of_a_run_writes_every_report_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from types import SimpleNamespace

    from yolox_ros.training import trainer

    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((100, 200, 3), 128, np.uint8))
    dataset = _dataset(tmp_path)
    row = {f"loss_{part}": 1.0 for part in ("total", "iou", "obj", "cls", "l1")}
    (tmp_path / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"epoch": e, **row, "ap": 0.1 * e, "ap50": 0.2 * e}) for e in (1, 2))
    )
    (tmp_path / "train_batches.jpg").write_bytes(b"")  # as the first step leaves it
    calls = []

    def predict(model, val, input_hw, settings):
        calls.append((len(val), settings))
        return _ranked_predictions()

    monkeypatch.setattr(trainer, "predict", predict)
    run = trainer.Trainer.__new__(trainer.Trainer)
    lines: list[str] = []
    recipe = SimpleNamespace(evaluation="the recipe's evaluation settings")
    run.config = SimpleNamespace(
        output=tmp_path, class_names=NAMES, test_size=(64, 64), recipe=recipe
    )
    run.splits = SimpleNamespace(val=dataset)
    run.log = lines.append
    run._report(best=None)
    # One pass over the validation split, at the recipe's settings, feeds everything.
    assert calls == [(2, recipe.evaluation)]
    for name in ("curves.png", "confusion_matrix.png", "pr_curves.png"):
        _read_png(tmp_path / name)
        assert any(str(tmp_path / name) in line for line in lines), name
    assert (
        cv2.imread(str(tmp_path / "val_samples.jpg")).shape[1]
        == 2 * 2 * SHEET_TILE_WIDTH + SHEET_GAP
    )
    assert any("ground truth" in line and "val_samples.jpg" in line for line in lines)
    assert lines[-1] == f"first augmented training batch: {tmp_path / 'train_batches.jpg'}"
