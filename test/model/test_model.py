"""YOLOX model: official layout, golden outputs, training contract, weight loading."""

from __future__ import annotations

import importlib.util
import logging
import math

import numpy as np
import pytest
import torch
from support import REPO_ROOT
from torch import nn

from yolox_ros.errors import ConfigError, ModelLoadError
from yolox_ros.model import (
    STANDARD_SIZES,
    build_model,
    load_weights,
    read_checkpoint,
    standard_input_size,
)

torch.set_num_threads(1)

CLASS_PREDICTION_KEYS = tuple(
    f"head.cls_preds.{level}.{p}" for level in range(3) for p in ("weight", "bias")
)


@pytest.fixture(scope="module")
def golden_state_dict(data_dir) -> dict[str, torch.Tensor]:
    return read_checkpoint(data_dir / "yolox_nano_c7_bncal_state_dict.npz").state_dict


@pytest.fixture(scope="module")
def golden_model(golden_state_dict):
    model = build_model("nano", 7)
    load_weights(model, golden_state_dict)
    return model.eval()


def test_state_dict_has_official_keys_and_shapes(golden_state_dict):
    ours = build_model("nano", 7).state_dict()
    assert list(ours) == list(golden_state_dict)
    for key, value in golden_state_dict.items():
        assert ours[key].shape == value.shape, key


def test_raw_output_matches_official(golden_model, golden_io):
    golden_model.head.decode_in_inference = False
    with torch.no_grad():
        raw = golden_model(torch.from_numpy(golden_io["input"])).numpy()
    assert raw.shape == golden_io["raw_output"].shape == (1, 3549, 12)
    assert np.abs(raw - golden_io["raw_output"]).max() < 1e-3


def test_decoded_output_matches_official(golden_model, golden_io):
    golden_model.head.decode_in_inference = True
    with torch.no_grad():
        decoded = golden_model(torch.from_numpy(golden_io["input"])).numpy()
    assert np.allclose(decoded, golden_io["decoded_output"], rtol=1e-3, atol=1e-2)


def test_decoding_is_on_by_default():
    assert build_model("nano", 7).head.decode_in_inference is True


@pytest.mark.parametrize(
    ("name", "expected"), [("nano", 912_159), ("tiny", 5_055_855), ("s", 8_968_255)]
)
def test_parameter_count_exact(name, expected):
    with torch.device("meta"):
        model = build_model(name, 80)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize(("name", "millions"), [("m", 25.3), ("l", 54.2), ("x", 99.1)])
def test_parameter_count_large_models(name, millions):
    with torch.device("meta"):
        model = build_model(name, 80)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == millions


def test_standard_sizes_and_input_sizes():
    expected = {
        "nano": (0.33, 0.25, True, 416),
        "tiny": (0.33, 0.375, False, 416),
        "s": (0.33, 0.50, False, 640),
        "m": (0.67, 0.75, False, 640),
        "l": (1.0, 1.0, False, 640),
        "x": (1.33, 1.25, False, 640),
    }
    for name, (depth, width, depthwise, side) in expected.items():
        size = STANDARD_SIZES[name]
        assert (size.depth, size.width, size.depthwise) == (depth, width, depthwise)
        assert standard_input_size(name) == (side, side)
    assert standard_input_size("YOLOX-Nano") == (416, 416)
    assert standard_input_size("yolox_s") == (640, 640)


def test_initialisation_follows_official():
    model = build_model("nano", 3)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.03 for m in norms)
    prior = -math.log((1 - 0.01) / 0.01)
    for conv in (*model.head.cls_preds, *model.head.obj_preds):
        assert torch.allclose(conv.bias, torch.full_like(conv.bias, prior))


def test_training_mode_returns_raw_logits_per_stride():
    model = build_model("nano", 3).train()
    images = torch.rand(2, 3, 64, 96) * 255
    outputs = model(images)
    assert model.head.strides == (8, 16, 32)
    assert [tuple(o.shape) for o in outputs] == [(2, 8, 8, 12), (2, 8, 4, 6), (2, 8, 2, 3)]
    sum(o.sum() for o in outputs).backward()
    assert model.backbone.backbone.stem.conv.conv.weight.grad is not None


def test_eval_output_is_flattened_training_output_with_sigmoid_and_decode():
    """Eval rows = training maps level by level, row-major, with obj/cls sigmoid and decode."""
    torch.manual_seed(0)
    model = build_model("nano", 3).eval()
    images = torch.rand(1, 3, 64, 96) * 255
    with torch.no_grad():
        # Only the head's own flag: it returns the raw maps while every BN keeps eval statistics.
        model.head.training = True
        levels = model(images)
        model.head.training = False
        decoded = model(images)
        model.head.decode_in_inference = False
        raw = model(images)

    level, stride, x, y = 1, 16, 5, 2
    width = levels[level].shape[3]
    row = levels[0].shape[2] * levels[0].shape[3] + y * width + x
    logits = levels[level][0, :, y, x]
    assert torch.allclose(raw[0, row, :4], logits[:4])
    assert torch.allclose(raw[0, row, 4:], logits[4:].sigmoid())
    tx, ty, tw, th = logits[:4]
    expected_box = torch.stack(
        [(tx + x) * stride, (ty + y) * stride, tw.exp() * stride, th.exp() * stride]
    )
    assert torch.allclose(decoded[0, row, :4], expected_box, rtol=1e-5)
    assert torch.allclose(decoded[0, row, 4:], raw[0, row, 4:])


def test_decoding_runs_on_the_model_device():
    with torch.device("meta"):
        model = build_model("nano", 7).eval()
        output = model(torch.zeros(2, 3, 128, 96))
    assert output.device.type == "meta" and output.shape == (2, 192 + 48 + 12, 12)


def test_custom_size_builds_and_runs():
    model = build_model("my_small", 2, depth=0.5, width=0.26, depthwise=False).eval()
    with torch.no_grad():
        output = model(torch.zeros(1, 3, 64, 64))
    assert output.shape == (1, 64 + 16 + 4, 7)


@pytest.mark.parametrize(
    ("name", "num_classes", "kwargs", "message"),
    [
        ("huge", 7, {}, "unknown model 'huge'"),
        ("nano", 0, {}, "num_classes must be a positive integer"),
        ("custom", 7, {"depth": 0.33, "width": 0.001}, "width multiplier"),
    ],
)
def test_bad_model_request_is_a_clear_error(name, num_classes, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_model(name, num_classes, **kwargs)


def test_other_class_count_reinitialises_only_class_predictions(golden_state_dict, caplog):
    model = build_model("nano", 3)
    with caplog.at_level(logging.WARNING, logger="yolox_ros.model.weights"):
        report = load_weights(model, golden_state_dict)

    assert report.reinitialized == CLASS_PREDICTION_KEYS
    warning = caplog.text
    assert "head.cls_preds.0.weight [7, 64, 1, 1] -> [3, 64, 1, 1]" in warning
    state = model.state_dict()
    for key, value in golden_state_dict.items():
        if key not in CLASS_PREDICTION_KEYS:
            assert torch.equal(state[key], value), key
    assert torch.allclose(state["head.cls_preds.2.bias"], torch.full((3,), -math.log(99)))


def test_same_class_count_reinitialises_nothing(golden_state_dict, caplog):
    with caplog.at_level(logging.WARNING):
        report = load_weights(build_model("nano", 7), golden_state_dict)
    assert report.reinitialized == ()
    assert report.loaded == len(golden_state_dict)
    assert caplog.text == ""


def test_weights_of_another_width_are_rejected(golden_state_dict):
    wider_nano = build_model("nano", 7, width=0.375)
    with pytest.raises(
        ModelLoadError,
        match=r"wrong model size.*backbone\.backbone\.stem\.conv\.conv\.weight \[16, 12, 3, 3\] "
        r"vs model \[24, 12, 3, 3\]",
    ):
        load_weights(wider_nano, golden_state_dict)


def test_weights_of_another_architecture_are_rejected(golden_state_dict):
    with pytest.raises(ModelLoadError, match=r"missing backbone\.backbone\.dark2\.0\.conv\.weight"):
        load_weights(build_model("tiny", 7), golden_state_dict)


def test_unexpected_and_missing_keys_are_rejected(golden_state_dict):
    renamed = dict(golden_state_dict)
    renamed["module.extra"] = renamed.pop("head.stems.0.conv.weight")
    with pytest.raises(
        ModelLoadError, match=r"missing head\.stems\.0\.conv\.weight.*unexpected module\.extra"
    ):
        load_weights(build_model("nano", 7), renamed)


def load_flops_script():
    path = REPO_ROOT / "benchmarks" / "flops.py"
    spec = importlib.util.spec_from_file_location("flops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "side", "paper_gflops"), [("nano", 416, 1.08), ("tiny", 416, 6.45), ("s", 640, 26.8)]
)
def test_flops_script_reproduces_paper_figures(name, side, paper_gflops):
    flops = load_flops_script()
    with torch.device("meta"):
        model = build_model(name, 80).eval()
    gflops = flops.paper_gflops(flops.count_operations(model, (side, side)))
    assert round(gflops, 2 if gflops < 10 else 1) == paper_gflops
