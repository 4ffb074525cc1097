"""The learning-rate schedule, EMA and the optimizer's weight decay."""

from __future__ import annotations

import math

import pytest
import torch

from yolox_ros.model import build_model
from yolox_ros.training.ema import ModelEMA
from yolox_ros.training.optimizer import optimizer_for
from yolox_ros.training.schedule import WarmCosineSchedule


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
