"""Training: label assignment, loss, augmentations, schedule, EMA, mAP and short training runs."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
import yaml

from yolox_ros.core.detector import Detector, DetectorConfig
from yolox_ros.datasets import open_dataset, summarize
from yolox_ros.datasets.records import DatasetError
from yolox_ros.datasets.synthetic import CLASS_NAMES, render_scene, scene_rng
from yolox_ros.errors import ConfigError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import build_model
from yolox_ros.model.blocks import BaseConv
from yolox_ros.training.augment import (
    AugmentConfig,
    augment_hsv,
    mixup,
    random_affine_matrix,
    random_flip,
    train_sample,
    warp_affine,
)
from yolox_ros.training.batches import (
    AugmentedSamples,
    CachedSource,
    EpochBatches,
    batch_loader,
    indices_by_group,
    labels_to_targets,
    model_input,
)
from yolox_ros.training.config import TrainConfig, mirror_classes
from yolox_ros.training.ema import ModelEMA
from yolox_ros.training.fused_bn_silu import batchnorm_silu, load_kernel
from yolox_ros.training.loss import yolox_loss
from yolox_ros.training.schedule import WarmCosineSchedule
from yolox_ros.training.simota import simota_assign
from yolox_ros.training.trainer import (
    Trainer,
    load_splits,
    multiscale_size,
    optimizer_for,
    train,
)


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------- SimOTA
def _assign(anchor_centers, pred_boxes, gt_boxes, gt_classes, cls_logits=None, num_classes=2):
    """One image's assignment, with a padding ground truth after the real ones."""
    anchors = torch.tensor(anchor_centers, dtype=torch.float32)
    if cls_logits is None:
        cls_logits = torch.zeros(len(anchors), num_classes)
    gt_boxes = torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    padding = torch.tensor([[50.0, 50.0, 0.0, 0.0]])  # would be a candidate if it counted
    result = simota_assign(
        pred_boxes=torch.tensor(pred_boxes, dtype=torch.float32)[None],
        cls_logits=torch.as_tensor(cls_logits, dtype=torch.float32)[None],
        obj_logits=torch.zeros(1, len(anchors)),
        anchor_centers=anchors,
        anchor_strides=torch.full((len(anchors),), 8.0),
        gt_boxes=torch.cat((gt_boxes, padding))[None],
        gt_classes=torch.tensor([*gt_classes, 0])[None],
        gt_valid=torch.tensor([True] * len(gt_classes) + [False])[None],
    )
    foreground = result.foreground[0]
    return SimpleNamespace(
        foreground=foreground,
        matched_gt=result.matched_gt[0][foreground],
        matched_iou=result.matched_iou[0][foreground],
    )


def _concentric(box, iou):
    """A box with the same centre whose IoU with ``box`` is ``iou`` (sides scaled by sqrt)."""
    scale = math.sqrt(iou)
    return [box[0], box[1], box[2] * scale, box[3] * scale]


GT = [50.0, 50.0, 20.0, 20.0]
FAR_TINY = [400.0, 400.0, 1.0, 1.0]  # a prediction overlapping nothing


def test_simota_candidates_dynamic_k_and_cheapest_anchors():
    # Anchors 0..2 lie within 1.5 * stride = 12 px of the gt centre, 3 and 4 do not,
    # though anchor 3 predicts the gt perfectly.
    centers = [[44, 44], [52, 52], [60, 60], [68, 50], [50, 30]]
    preds = [_concentric(GT, 0.5), GT, _concentric(GT, 0.9), GT, GT]
    result = _assign(centers, preds, [GT], [1])
    # k = int(1.0 + 0.9 + 0.5) = 2: the two best candidates.
    assert result.foreground.tolist() == [False, True, True, False, False]
    assert result.matched_gt.tolist() == [0, 0]
    np.testing.assert_allclose(result.matched_iou.numpy(), [1.0, 0.9], atol=1e-5)


def test_simota_takes_at_least_one_anchor():
    centers = [[44, 44], [52, 52]]
    result = _assign(centers, [_concentric(GT, 0.3), _concentric(GT, 0.2)], [GT], [0])
    assert result.foreground.tolist() == [True, False]


def test_simota_prefers_the_anchor_predicting_the_right_class():
    centers = [[44, 44], [52, 52]]
    preds = [_concentric(GT, 0.95), _concentric(GT, 0.95)]
    cls_logits = [[-4.0, 4.0], [4.0, -4.0]]  # anchor 0 says class 1, anchor 1 says class 0
    result = _assign(centers, preds, [GT], [0], cls_logits=cls_logits)
    assert result.foreground.tolist() == [False, True]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_simota_contested_anchor_goes_to_the_cheapest_gt(order):
    gt_a, gt_b = GT, [54.0, 50.0, 20.0, 20.0]
    gts = [[gt_a, gt_b][i] for i in order]
    # Anchor 0 predicts gt_a exactly (IoU 0.67 with gt_b); anchor 1 predicts nothing useful.
    # Both gts get k = 1 and want anchor 0; it stays with gt_a.
    result = _assign([[52, 52], [50, 48]], [gt_a, FAR_TINY], gts, [0, 0])
    assert result.foreground.tolist() == [True, False]
    assert result.matched_gt.tolist() == [order.index(0)]
    np.testing.assert_allclose(result.matched_iou.numpy(), [1.0], atol=1e-6)


def test_simota_outside_penalty_keeps_a_gt_off_other_gts_anchors():
    # Anchor 1 is inside gt_b's square only; it predicts gt_a perfectly, but gt_a must
    # use its own candidate (anchor 0) because anchor 1 is outside gt_a's square.
    gt_a, gt_b = [20.0, 20.0, 16.0, 16.0], [60.0, 20.0, 16.0, 16.0]
    result = _assign([[20, 20], [60, 20]], [_concentric(gt_a, 0.4), gt_a], [gt_a, gt_b], [0, 1])
    assert result.foreground.tolist() == [True, True]
    assert result.matched_gt.tolist() == [0, 1]


def test_simota_without_ground_truth_assigns_nothing():
    result = _assign([[4, 4]], [GT], torch.zeros(0, 4).tolist(), [])
    assert not result.foreground.any() and len(result.matched_gt) == 0


def test_simota_assigns_each_image_of_a_batch_as_it_would_alone():
    # Images with different numbers of boxes and of candidate anchors share padded tables.
    generator = torch.Generator().manual_seed(0)
    side, stride, classes = 16, 8.0, 3
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    centers = (torch.stack((xs, ys), dim=-1).reshape(-1, 2).float() + 0.5) * stride
    anchors = centers.shape[0]
    pred = torch.cat((centers, torch.rand(anchors, 2, generator=generator) * 30 + 4), dim=1)
    gt_counts = (3, 0, 1, 5)
    batch = len(gt_counts)
    gts = torch.zeros(batch, max(gt_counts), 4)
    classes_of = torch.zeros(batch, max(gt_counts), dtype=torch.long)
    valid = torch.zeros(batch, max(gt_counts), dtype=torch.bool)
    for image, count in enumerate(gt_counts):
        gts[image, :count, :2] = torch.rand(count, 2, generator=generator) * side * stride
        gts[image, :count, 2:] = torch.rand(count, 2, generator=generator) * 40 + 8
        classes_of[image, :count] = torch.randint(0, classes, (count,), generator=generator)
        valid[image, :count] = True
    preds = pred[None].repeat(batch, 1, 1) + torch.randn(batch, anchors, 4, generator=generator)
    cls_logits = torch.randn(batch, anchors, classes, generator=generator)
    obj_logits = torch.randn(batch, anchors, generator=generator)
    strides = torch.full((anchors,), stride)

    together = simota_assign(
        preds, cls_logits, obj_logits, centers, strides, gts, classes_of, valid
    )
    assert together.foreground.sum() > 0
    for image, count in enumerate(gt_counts):
        alone = simota_assign(
            preds[image : image + 1],
            cls_logits[image : image + 1],
            obj_logits[image : image + 1],
            centers,
            strides,
            gts[image : image + 1, :count],
            classes_of[image : image + 1, :count],
            valid[image : image + 1, :count],
        )
        foreground = alone.foreground[0]
        assert torch.equal(together.foreground[image], foreground)
        assert torch.equal(together.matched_gt[image][foreground], alone.matched_gt[0][foreground])
        assert torch.equal(
            together.matched_iou[image][foreground], alone.matched_iou[0][foreground]
        )


# --------------------------------------------------------------------------- loss
def _single_level_output(iou: float, num_classes: int = 3) -> torch.Tensor:
    """A 2x2 stride-8 output where anchor (0, 0) predicts a box concentric with the gt below."""
    output = torch.zeros(1, 5 + num_classes, 2, 2)
    output[0, 0:2] = 0.0
    output[0, 2:4] = -6.0  # other anchors: tiny boxes, IoU 0
    output[0, 0:2, 0, 0] = 0.5  # centre (4, 4)
    output[0, 2:4, 0, 0] = math.log(math.sqrt(iou))  # 8 * sqrt(iou) wide: IoU = iou
    output[0, 4] = torch.tensor([[1.0, -2.0], [-1.0, 0.5]])
    output[0, 5:, 0, 0] = torch.tensor([0.3, -0.2, 1.0])
    return output


def test_loss_on_a_hand_checked_case():
    iou = 0.64
    output = _single_level_output(iou).requires_grad_()
    targets = torch.zeros(1, 4, 5)
    targets[0, 0] = torch.tensor([1.0, 4.0, 4.0, 8.0, 8.0])  # class 1, box (0, 0, 8, 8)
    terms = yolox_loss([output], targets, strides=(8,), use_l1=True)

    assert terms.num_fg == 1 and terms.num_gt == 1
    obj_logits = torch.tensor([1.0, -2.0, -1.0, 0.5])
    obj_target = torch.tensor([1.0, 0.0, 0.0, 0.0])
    expected_obj = F.binary_cross_entropy_with_logits(obj_logits, obj_target, reduction="sum")
    expected_cls = F.binary_cross_entropy_with_logits(
        torch.tensor([0.3, -0.2, 1.0]), torch.tensor([0.0, iou, 0.0]), reduction="sum"
    )
    values = terms.values()
    assert values["iou"] == pytest.approx(5 * (1 - iou**2), rel=1e-5)
    assert values["obj"] == pytest.approx(float(expected_obj), rel=1e-5)
    assert values["cls"] == pytest.approx(float(expected_cls), rel=1e-5)
    # Raw (0.5, 0.5, log 0.8, log 0.8) against (4/8 - 0, 4/8 - 0, log 1, log 1).
    assert values["l1"] == pytest.approx(2 * abs(math.log(0.8)), rel=1e-5)
    assert values["total"] == pytest.approx(
        values["iou"] + values["obj"] + values["cls"] + values["l1"], rel=1e-6
    )
    terms.total.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0


def test_loss_without_objects_only_pushes_objectness_down():
    output = _single_level_output(0.5).requires_grad_()
    terms = yolox_loss([output], torch.zeros(1, 4, 5), strides=(8,), use_l1=False)
    assert terms.num_fg == 0
    values = terms.values()
    assert values["iou"] == 0 and values["cls"] == 0 and values["l1"] == 0
    terms.total.backward()
    assert torch.all(output.grad[0, 4] > 0)  # every objectness logit is pushed down


def test_loss_reads_boxes_wherever_the_padding_rows_are():
    output = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[1.0, 8.0, 8.0, 10.0, 12.0], [2.0, 20.0, 16.0, 8.0, 8.0]])
    packed = torch.zeros(2, 5, 5)
    packed[0, :2] = boxes
    packed[1, :1] = boxes[1]
    scattered = torch.zeros(2, 5, 5)
    scattered[0, 1], scattered[0, 4] = boxes
    scattered[1, 3] = boxes[1]
    first = yolox_loss([output], packed, strides=(8,), use_l1=True)
    second = yolox_loss([output], scattered, strides=(8,), use_l1=True)
    assert first.num_gt == second.num_gt == 3 and first.num_fg > 0
    assert first.values() == second.values()


# --------------------------------------------------------------------------- augmentations
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)]


def _rectangle_image(class_id: int, box, size=(120, 160)) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((*size, 3), 90, np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = COLOURS[class_id]
    return image, np.array([[x1, y1, x2, y2, class_id]], np.float32)


def _assert_boxes_follow_pixels(image, labels, tolerance=1.6):
    """Each box is tight around its object's pixels (contains them where cut by the border).

    A box cut by the image border is the clipped extent of the whole (rotated)
    object, as in the reference, so it may be looser than the visible part.
    """
    assert len(labels) > 0
    height, width = image.shape[:2]
    for box in labels:
        distance = np.abs(image.astype(int) - np.array(COLOURS[int(box[4])])).max(axis=2)
        x1, y1 = np.maximum(np.floor(box[:2]).astype(int) - 3, 0)
        x2, y2 = np.ceil(box[2:4]).astype(int) + 3
        ys, xs = np.nonzero(distance[y1:y2, x1:x2] < 60)
        assert len(xs), f"no pixels of the object of box {box}"
        found = np.array([xs.min() + x1, ys.min() + y1, xs.max() + x1 + 1, ys.max() + y1 + 1])
        at_border = box[0] < 0.5 or box[1] < 0.5 or box[2] > width - 0.5 or box[3] > height - 0.5
        if at_border:
            assert np.all(found[:2] >= box[:2] - tolerance) and np.all(
                found[2:] <= box[2:4] + tolerance
            )
        else:
            np.testing.assert_allclose(box[:4], found, atol=tolerance)


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_and_affine_move_boxes_with_pixels(seed):
    sources = [
        _rectangle_image(0, (20, 30, 70, 90)),
        _rectangle_image(1, (90, 10, 150, 50)),
        _rectangle_image(2, (40, 60, 120, 110)),
        _rectangle_image(3, (5, 5, 60, 40)),
    ]
    config = AugmentConfig(
        mosaic_prob=1.0, mixup_prob=0.0, mosaic_scale=(0.5, 1.5), hsv_gains=(0, 0, 0), flip_prob=0.5
    )
    image, labels = train_sample(
        lambda i: sources[i], seed % 4, (128, 160), config, np.random.default_rng(seed), 4, True
    )
    assert image.shape == (128, 160, 3)
    # Truncated boxes at the image border follow the visible part only.
    _assert_boxes_follow_pixels(image, labels)


def test_affine_rotation_gives_the_extent_of_the_rotated_object():
    image, labels = _rectangle_image(4, (50, 40, 110, 80))
    matrix = random_affine_matrix(
        np.random.default_rng(1), (80, 60), (120, 160), 10, 0.1, (0.8, 1.2), 2
    )
    warped, moved = warp_affine(image, labels, matrix, (120, 160))
    _assert_boxes_follow_pixels(warped, moved)


def test_horizontal_flip_mirrors_boxes_exactly():
    image, labels = _rectangle_image(2, (10, 20, 50, 60))
    flipped, moved = random_flip(image, labels, np.random.default_rng(0), prob=1.0)
    np.testing.assert_array_equal(moved[0], [110, 20, 150, 60, 2])
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    _assert_boxes_follow_pixels(flipped, moved, tolerance=0)


def test_mixup_keeps_both_images_labels():
    image, labels = _rectangle_image(0, (10, 10, 60, 60))
    other, other_labels = _rectangle_image(1, (90, 60, 150, 110))
    mixed, mixed_labels = mixup(image, labels, other, other_labels, np.random.default_rng(3))
    assert mixed.shape == image.shape
    np.testing.assert_array_equal(mixed_labels[0], labels[0])
    assert mixed_labels[1:, 4].tolist() == [1]
    # Inside its box the pasted object is blended half and half with the first image.
    box = mixed_labels[1]
    x, y = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
    np.testing.assert_allclose(mixed[y, x], (image[y, x] + np.array(COLOURS[1])) // 2, atol=2)


def test_tiny_boxes_are_dropped_and_targets_are_centre_size():
    image, labels = _rectangle_image(1, (10, 10, 60, 60))
    labels = np.concatenate([labels, [[100, 100, 101, 130, 2]]]).astype(np.float32)
    config = AugmentConfig(mosaic_prob=0, hsv_gains=(0, 0, 0), flip_prob=0)
    _, kept = train_sample(
        lambda i: (image, labels), 0, (96, 128), config, np.random.default_rng(0), 1, True
    )
    assert kept[:, 4].tolist() == [1]  # the 1-px wide box is gone
    targets = labels_to_targets(kept)
    ratio = 0.8  # 120x160 letterboxed into 96x128
    np.testing.assert_allclose(targets[0], [1, 35 * ratio, 35 * ratio, 50 * ratio, 50 * ratio])
    assert not targets[1:].any()


# --------------------------------------------------------------------------- schedule, EMA, SGD
def test_warm_cosine_schedule_key_points():
    schedule = WarmCosineSchedule(
        base_lr=0.02, total_iters=1000, warmup_iters=100, no_aug_iters=150
    )
    assert schedule.lr(0) == 0
    assert schedule.lr(50) == pytest.approx(0.02 * 0.25)  # quadratic warm-up
    assert schedule.lr(100) == pytest.approx(0.02)
    cosine_middle = 100 + (1000 - 100 - 150) // 2
    assert schedule.lr(cosine_middle) == pytest.approx((0.02 + 0.001) / 2)
    assert schedule.lr(850) == pytest.approx(0.001)  # end of the cosine: 0.05 * lr
    assert schedule.lr(849) > schedule.lr(850)
    assert schedule.lr(900) == schedule.lr(999) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="fewer than"):
        WarmCosineSchedule(base_lr=0.01, total_iters=10, warmup_iters=5, no_aug_iters=5)


def test_ema_follows_the_decay_formula():
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = ModelEMA(model, updates=2999)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)
    decay = 0.9998 * (1 - math.exp(-3000 / 2000))
    assert ema.updates == 3000
    expected = decay * 1.0 + (1 - decay) * 3.0
    torch.testing.assert_close(ema.ema.weight, torch.full((1, 2), expected))
    fresh = ModelEMA(model)
    assert fresh.decay(1) == pytest.approx(0.9998 * (1 - math.exp(-1 / 2000)))


def test_weight_decay_only_on_conv_and_linear_weights():
    model = build_model("nano", 2)
    no_decay, decay = optimizer_for(model, 0.01).param_groups
    assert no_decay["weight_decay"] == 0 and decay["weight_decay"] == 5e-4
    assert decay["nesterov"] and decay["momentum"] == 0.9
    decayed = {id(p) for p in decay["params"]}
    for name, module in model.named_modules():
        for param_name, parameter in module.named_parameters(recurse=False):
            is_conv_weight = param_name == "weight" and isinstance(module, torch.nn.Conv2d)
            assert (id(parameter) in decayed) == is_conv_weight, f"{name}.{param_name}"


# --------------------------------------------------------------------------- data and training
@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """Eight small synthetic scenes on disk, as the generator writes them (COCO)."""
    from yolox_ros.datasets.synthetic import write_dataset

    root = tmp_path_factory.mktemp("scenes")
    write_dataset(root, count=8, seed=1, width=128, height=96)
    return root


def _samples(dataset, seed=0) -> AugmentedSamples:
    config = AugmentConfig.for_model("nano")
    return AugmentedSamples(dataset, (64, 64), config, seed, strong_until=10)


def test_a_sample_depends_on_its_key_only_not_on_workers(scenes: Path):
    dataset = open_dataset(scenes)
    samples = _samples(dataset)
    batches = EpochBatches([[i] for i in range(len(dataset))], 4, seed=3, start=0, end=2)
    in_process = [
        (images.clone(), targets.clone())
        for images, targets in batch_loader(samples, batches, 0, False)
    ]
    with_workers = list(batch_loader(samples, batches, 2, False))
    assert len(in_process) == len(with_workers) == 4
    # uint8 and channels_last on purpose (see AugmentedSamples, collate_channels_last),
    # with or without workers; the model's input keeps the layout on the CPU.
    for images, _ in in_process + with_workers:
        assert images.dtype == torch.uint8
        assert images.is_contiguous(memory_format=torch.channels_last)
        as_input = model_input(images, torch.device("cpu"))
        assert as_input.dtype == torch.float32
        assert as_input.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(as_input, images.float())
    for (a, ta), (b, tb) in zip(in_process, with_workers, strict=True):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(ta, tb)
    image, targets = samples[(1, 2, 3)]
    again, targets_again = samples[(1, 2, 3)]
    torch.testing.assert_close(image, again)
    assert not torch.equal(image, samples[(2, 2, 3)][0])  # another epoch, other randomness


def test_an_epoch_takes_one_copy_of_each_frame():
    groups = indices_by_group(["a", "b", "a", "c", "b", "a"])
    assert groups == [[0, 2, 5], [1, 4], [3]]
    batches = EpochBatches(groups, batch_size=1, seed=0, start=0, end=6)
    assert batches.batches_per_epoch == 3
    picked = [batches.epoch_images(epoch) for epoch in range(6)]
    for images in picked:
        assert sorted(next(g for g in groups if i in g)[0] for i in images) == [0, 1, 3]
    assert len({tuple(sorted(images)) for images in picked}) > 1  # the copy changes by epoch


def test_cached_source_gives_the_same_samples(scenes: Path):
    dataset = open_dataset(scenes)
    cached = CachedSource(dataset)
    for index in range(len(dataset)):
        image, labels = dataset.load(index)
        cached_image, cached_labels = cached.load(index)
        np.testing.assert_array_equal(image, cached_image)
        np.testing.assert_array_equal(labels, cached_labels)
        assert not cached_image.flags.writeable  # augmentation may never alter the cache
    torch.testing.assert_close(_samples(dataset)[(0, 1, 2)], _samples(cached)[(0, 1, 2)])


def test_hsv_shifts_wrap_the_hue_and_clip_saturation_and_value():
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int16)
    gains = (90.0, 200.0, 200.0)  # large shifts: many pixels wrap or clip
    for seed in range(8):
        draw = np.random.default_rng(seed)
        shifts = (draw.uniform(-1, 1, 3) * gains * draw.integers(0, 2, 3)).astype(np.int16)
        expected = hsv.copy()
        expected[..., 0] = (hsv[..., 0] + shifts[0]) % 180
        expected[..., 1:] = (hsv[..., 1:] + shifts[1:]).clip(0, 255)
        expected = cv2.cvtColor(expected.astype(np.uint8), cv2.COLOR_HSV2BGR)
        np.testing.assert_array_equal(
            augment_hsv(image, np.random.default_rng(seed), gains), expected
        )


def test_flip_pairs_swap_mirror_image_classes():
    names = ("left", "no_left", "no_right", "right", "stop")
    mirror = mirror_classes(("left:right", "no_left:no_right"), names)
    assert mirror == (3, 2, 1, 0, 4)
    image, labels = _rectangle_image(0, (10, 20, 50, 60))
    labels = np.array([[10, 20, 50, 60, 0], [60, 20, 80, 40, 4]], np.float32)
    _, moved = random_flip(image, labels, np.random.default_rng(0), 1.0, mirror)
    assert moved[:, 4].tolist() == [3, 4]  # left became right, stop stayed stop
    assert mirror_classes((), names) == ()
    for bad, message in (
        ("left:up", "unknown class 'up'"),
        ("left", "two different"),
        ("left:left", "two different"),
    ):
        with pytest.raises(ConfigError, match=message):
            mirror_classes((bad,), names)
    with pytest.raises(ConfigError, match="in two pairs"):
        mirror_classes(("left:right", "right:stop"), names)


def test_a_box_with_its_centre_off_the_input_trains_without_error():
    model = build_model("nano", 2).train()
    targets = torch.zeros(1, 4, 5)
    targets[0, 0] = torch.tensor([1, 200.0, 20.0, 6.0, 6.0])  # far right of a 64-wide input
    terms = yolox_loss(model(torch.zeros(1, 3, 64, 64)), targets, model.head.strides, False)
    assert terms.num_fg == 0 and math.isfinite(terms.values()["total"])


def test_boxes_reaching_past_the_image_are_clipped_without_mosaic():
    image, _ = _rectangle_image(1, (10, 10, 60, 60))
    labels = np.array([[-20, 10, 60, 60, 1], [100, 70, 190, 140, 0]], np.float32)
    config = AugmentConfig(mosaic_prob=0, hsv_gains=(0, 0, 0), flip_prob=0)
    _, kept = train_sample(
        lambda i: (image, labels), 0, (120, 160), config, np.random.default_rng(0), 1, False
    )
    assert kept[:, :4].min() >= 0 and kept[:, 2].max() <= 160 and kept[:, 3].max() <= 120


def test_a_few_iterations_on_one_batch_decrease_the_loss():
    torch.manual_seed(0)
    model = build_model("nano", len(CLASS_NAMES)).train()
    optimizer = optimizer_for(model, 0.01)
    images, targets = [], []
    for index in range(2):
        image, boxes, class_ids = render_scene(scene_rng(0, index), 128, 96, num_signs=(2, 3))
        canvas = np.full((96, 128, 3), 114, np.uint8)
        canvas[:96, :128] = image
        images.append(canvas.transpose(2, 0, 1))
        labels = np.concatenate([boxes, class_ids[:, None].astype(np.float32)], axis=1)
        targets.append(labels_to_targets(labels, max_labels=8))
    images = torch.from_numpy(np.stack(images)).float()
    targets = torch.from_numpy(np.stack(targets))
    losses = []
    for _ in range(20):
        terms = yolox_loss(model(images), targets, model.head.strides, use_l1=False)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        losses.append(terms.values()["total"])
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


def _tiny_config(output: Path, data: Path, **overrides) -> TrainConfig:
    settings = dict(
        output=output,
        data=str(data),
        val_fraction=0.25,
        epochs=3,
        batch_size=2,
        train_size=64,
        test_size=64,
        multiscale=(64, 96),
        warmup_epochs=1,
        no_aug_epochs=1,
        eval_interval=1,
        workers=0,
        seed=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_training_run_writes_checkpoints_and_onnx_with_metadata(tmp_path: Path, scenes: Path):
    onnx_path = train(_tiny_config(tmp_path, scenes), log=lambda line: None)
    checkpoint = torch.load(tmp_path / "best.pt", map_location="cpu", weights_only=True)
    assert checkpoint["meta"] == {
        "model_name": "nano",
        "class_names": list(CLASS_NAMES),
        "input_size": [64, 64],
    }
    model = build_model("nano", len(CLASS_NAMES))
    model.load_state_dict(checkpoint["model"])
    proto = onnx.load(str(onnx_path))
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.class_names == CLASS_NAMES and meta.input_size == (64, 64)
    assert meta.decoded is False and meta.model_name == "nano"
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    saved = TrainConfig.load(tmp_path / "config.yaml", resume=True)
    expected = _tiny_config(tmp_path, scenes, resume=True).to_dict()
    assert saved.to_dict() == expected  # config.yaml reads back as the same recipe
    for name in (
        "curves.png", "val_samples.jpg", "best_metrics.json", "confusion_matrix.png",
        "pr_curves.png", "train_batches.jpg",
    ):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    with pytest.raises(ConfigError, match="already holds a run"):
        train(_tiny_config(tmp_path, scenes), log=lambda line: None)


def test_a_rectangular_input_trains_exports_and_detects_end_to_end(tmp_path: Path, scenes: Path):
    """A 4:3 camera trained at 64x96 (height x width): every multiscale size keeps the aspect,
    the checkpoint, the ONNX metadata and the detector all carry (64, 96)."""
    config = _tiny_config(
        tmp_path, scenes, train_size=(64, 96), test_size=None, multiscale=(64, 128)
    )
    assert config.test_size == (64, 96)
    assert {multiscale_size(config, i) for i in range(0, 400, 10)} <= {
        (64, 96),
        (96, 128),
        (128, 192),
    }
    onnx_path = train(config, log=lambda line: None)
    checkpoint = torch.load(tmp_path / "best.pt", map_location="cpu", weights_only=True)
    assert checkpoint["meta"]["input_size"] == [64, 96]
    proto = onnx.load(str(onnx_path))
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.input_size == (64, 96)
    detector = Detector(DetectorConfig(str(onnx_path), conf_threshold=0.0))
    assert detector.input_size == (64, 96)
    image = cv2.imread(str(next((scenes / "images").glob("*.jpg"))))
    detections = detector.detect(image)
    assert len(detections) > 0
    assert (detections.boxes[:, 2] <= image.shape[1]).all()
    assert (detections.boxes[:, 3] <= image.shape[0]).all()
    assert TrainConfig.load(tmp_path / "config.yaml").train_size == (64, 96)


def test_resumed_training_ends_where_an_uninterrupted_run_ends(tmp_path: Path, scenes: Path):
    class StopRunError(Exception):
        pass

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise StopRunError

    with pytest.raises(StopRunError):
        train(_tiny_config(tmp_path / "resumed", scenes), log=stop_after_first_epoch)
    train(_tiny_config(tmp_path / "resumed", scenes, resume=True), log=lambda line: None)
    train(_tiny_config(tmp_path / "straight", scenes), log=lambda line: None)
    resumed = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, msg=key)


def test_the_cpu_training_step_runs_channels_last(tmp_path: Path, scenes: Path):
    # oneDNN runs the step ~1.5x faster on channels_last: the model, its EMA and every
    # batch the model is given (after the multiscale resize) must stay in that layout.
    trainer = Trainer(_tiny_config(tmp_path, scenes, device="cpu"), log=lambda line: None)
    model, average = trainer.state.model, trainer.state.ema.ema
    for module in (model, average):
        kernels = [p for p in module.parameters() if p.dim() == 4]
        assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)

    class StopRunError(Exception):
        pass

    layouts: list[bool] = []

    def record_layout(module: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
        layouts.append(inputs[0].is_contiguous(memory_format=torch.channels_last))
        if len(layouts) == 3:
            raise StopRunError

    model.register_forward_pre_hook(record_layout)
    with pytest.raises(StopRunError):
        trainer.run()
    assert layouts == [True, True, True]


@pytest.mark.parametrize("case", ["default", "turned off", "no compiler"])
def test_cpu_training_fuses_batchnorm_and_silu_where_it_can(
    tmp_path: Path, scenes: Path, monkeypatch, case: str
):
    if case == "no compiler":
        monkeypatch.setenv("CC", "no-such-cc")
    load_kernel.cache_clear()  # built anew under this case's compiler
    lines: list[str] = []
    config = _tiny_config(tmp_path, scenes, device="cpu", fused_bn_silu=case != "turned off")
    try:
        trainer = Trainer(config, log=lines.append)
    finally:
        load_kernel.cache_clear()
    layers = [m for m in trainer.state.model.modules() if isinstance(m, BaseConv)]
    fused = [m.train_bn_act is batchnorm_silu for m in layers]
    said = [line for line in lines if line.startswith("BatchNorm+SiLU")]
    if case == "default":
        assert all(fused) and said == [
            f"BatchNorm+SiLU of {len(layers)} layers through the fused kernel"
        ]
    elif case == "turned off":
        assert not any(fused) and not said
    else:
        assert not any(fused)
        assert said == [
            "BatchNorm+SiLU through PyTorch: the fused kernel is unavailable "
            "(no C compiler 'no-such-cc' found)"
        ]


def test_amp_on_the_cpu_trains_with_a_bfloat16_forward_pass(tmp_path: Path, scenes: Path):
    config = _tiny_config(tmp_path, scenes, device="cpu", amp=True)
    trainer = Trainer(config, log=lambda line: None)

    class StopRunError(Exception):
        pass

    dtypes: list[torch.dtype] = []

    def record_dtype(module: torch.nn.Module, inputs, outputs: list[torch.Tensor]) -> None:
        dtypes.append(outputs[0].dtype)
        if len(dtypes) == 2:  # a whole step (loss, backward, update) ran in between
            raise StopRunError

    trainer.state.model.register_forward_hook(record_dtype)
    with pytest.raises(StopRunError):
        trainer.run()
    assert dtypes == [torch.bfloat16, torch.bfloat16]
    assert all(torch.isfinite(p).all() for p in trainer.state.model.parameters())
    assert all(p.dtype == torch.float32 for p in trainer.state.model.parameters())


def test_too_short_runs_for_the_schedule_are_rejected(tmp_path: Path, capsys):
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainConfig(output=tmp_path, data="x", epochs=10)
    from yolox_ros.cli.train import main

    assert main(["--data", "x", "--output", str(tmp_path / "run"), "--epochs", "10"]) == 2
    assert "--no-aug-epochs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


def test_user_errors_are_one_line_and_leave_no_files(tmp_path: Path, scenes: Path, capsys):
    from yolox_ros.cli.train import main

    run = tmp_path / "run"
    common = ["--output", str(run), "--epochs", "3", "--warmup-epochs", "1", "--no-aug-epochs", "1"]
    common += ["--batch", "2"]
    assert main(["--data", str(tmp_path / "missing.json"), *common]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["--data", str(scenes), "--flip-pairs", "stop:up", *common]) == 2
    assert "unknown class 'up'" in capsys.readouterr().err
    assert main(["--data", str(scenes), "--resume", *common]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert not run.exists()


def test_resuming_with_other_classes_is_refused(tmp_path: Path, scenes: Path):
    train(_tiny_config(tmp_path, scenes), log=lambda line: None)
    with pytest.raises(ConfigError, match="trained on classes"):
        train(_tiny_config(tmp_path, scenes, resume=True, classes=CLASS_NAMES[:2]), log=print)


def test_init_from_an_official_checkpoint_with_another_class_count(
    tmp_path: Path, scenes, data_dir
):
    lines: list[str] = []
    official = str(data_dir / "yolox_nano_c7_bncal_state_dict.npz")  # 7 classes
    config = _tiny_config(tmp_path, scenes, init=official, classes=CLASS_NAMES[:2])
    train(config, log=lines.append)
    assert any(
        line.startswith(f"initialised from {official}") and "re-initialised" in line
        for line in lines
    ), lines


# --------------------------------------------------------------------------- real runs
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_short_real_training_run_learns_and_exports_a_working_model(tmp_path: Path):
    """A few minutes: 5 epochs of 396 synthetic scenes written as COCO, then ONNX."""
    from yolox_ros.core.detector import Detector, DetectorConfig
    from yolox_ros.datasets.synthetic import write_dataset

    write_dataset(tmp_path / "data", count=440, seed=0, width=640, height=480)
    config = _tiny_config(
        tmp_path / "run",
        tmp_path / "data",
        val_fraction=0.1,
        epochs=5,
        batch_size=8,
        train_size=256,
        test_size=256,
        multiscale=(224, 288),
        eval_interval=5,
        workers=2,
    )
    lines: list[str] = []
    onnx_path = train(config, log=lines.append)

    def losses_of_epoch(epoch: int) -> list[float]:
        prefix = f"epoch {epoch}/"
        return [float(x.split(" loss ")[1].split()[0]) for x in lines if x.startswith(prefix)]

    # Epoch 4 is the last one with mosaic (epoch 5 adds the L1 term): compare like with like.
    # Measured: 13.4 -> 10.6.
    assert np.mean(losses_of_epoch(4)) < 0.85 * np.mean(losses_of_epoch(1)), lines

    detector = Detector(DetectorConfig(model_path=str(onnx_path), conf_threshold=0.01))
    image, _, _ = render_scene(np.random.default_rng(0), signs=[(0, (200, 150, 330, 280))])
    detections = detector.detect(image)
    assert len(detections) > 0
    assert set(detections.class_names) <= set(CLASS_NAMES)
    assert np.all(detections.boxes >= 0)
    assert np.all(detections.boxes[:, [0, 2]] <= 640) and np.all(detections.boxes[:, [1, 3]] <= 480)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_training_cleanly_and_the_run_resumes_from_its_own_config(
    tmp_path: Path, scenes: Path, signal_number: int
):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "yolox_ros", "train", "--data", str(scenes)]
    command += ["--output", str(run), "--batch", "2", "--val-fraction", "0.25", "--epochs", "6"]
    command += ["--warmup-epochs", "1", "--no-aug-epochs", "1", "--train-size", "64"]
    command += ["--multiscale", "64,96", "--workers", "2", "--device", "cpu", "--threads", "1"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        start_new_session=True,
    )  # fmt: skip
    for line in process.stdout:
        if line.startswith("epoch 1/"):  # printed when epoch 1 has ended
            break
    os.killpg(process.pid, signal_number)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, stderr
    assert "Traceback" not in stderr, stderr
    name = signal.Signals(signal_number).name
    assert f"stopped by {name} at epoch" in stderr and "--resume" in stderr, stderr
    assert (run / "last.pt").is_file() and (run / "metrics.jsonl").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["resume"] is False
    resumed = subprocess.run(
        [sys.executable, "-m", "yolox_ros", "train", "--output", str(run), "--resume",
         "--threads", "1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    assert (run / "model.onnx").is_file()


def _damage(path: Path, damage: str) -> None:
    data = path.read_bytes()
    if damage == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "cut_short":
        path.write_bytes(data[: len(data) // 3])
    else:  # another size than the annotations say
        cv2.imwrite(str(path), np.zeros((50, 70, 3), np.uint8))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("random_bytes", "is not a readable JPEG, PNG or BMP file"),
        ("empty", "is empty (0 bytes)"),
        ("cut_short", "is cut short: the JPEG has no end marker"),
        ("resized", "is 70x50 but annotated as 128x96"),
    ],
)
def test_a_broken_image_stops_training_at_start_up_naming_the_file(
    tmp_path: Path, scenes: Path, damage: str, problem: str
):
    """With 2 workers: before any epoch, one line naming the file, no worker traceback."""
    data = tmp_path / "data"
    shutil.copytree(scenes, data)
    # Whichever split it falls in (the validation part included), it is found first.
    broken = data / "images" / "000003.jpg"
    _damage(broken, damage)
    with pytest.raises(DatasetError) as raised:
        train(_tiny_config(tmp_path / "run", data, workers=2), log=lambda line: None)
    message = str(raised.value)
    assert message.startswith(str(broken)) and problem in message and "\n" not in message
    assert not (tmp_path / "run" / "last.pt").exists()
    summary = summarize(open_dataset(data))
    assert any(str(broken) in p and problem in p for p in summary.problems), summary.problems


def test_classes_keep_and_rename_as_old_equals_new(tmp_path: Path, scenes: Path):
    config = _tiny_config(tmp_path, scenes, classes=("stop=halt", "yield"))
    splits = load_splits(config)
    assert splits.train.class_names == ("halt", "yield")
    with pytest.raises(ConfigError, match="is not NAME or OLD=NEW"):
        _tiny_config(tmp_path, scenes, classes=("stop=",)).class_selection()
