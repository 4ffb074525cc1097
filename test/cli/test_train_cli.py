"""The train command's options are the recipe's settings: one per TrainConfig field, defaults
and help from the config and the model's recipe."""

from __future__ import annotations

from dataclasses import fields

import pytest

pytest.importorskip("torch")

from yolox_ros.cli.train import _parser  # noqa: E402
from yolox_ros.errors import ConfigError  # noqa: E402
from yolox_ros.training.config import FROM_RECIPE, TrainConfig  # noqa: E402
from yolox_ros.training.recipes import RECIPES, recipe_for  # noqa: E402


def test_every_setting_has_an_option_and_no_option_repeats_a_default() -> None:
    parser = _parser()
    destinations = {action.dest for action in parser._actions}
    settings = {f.name for f in fields(TrainConfig)} - {"class_names"}
    assert settings <= destinations
    assert destinations - settings == {"help", "threads", "config"}
    help_text = parser.format_help()
    for name in FROM_RECIPE:
        assert f"nano {getattr(RECIPES['nano'], name)})" in " ".join(help_text.split()), name


def test_options_build_the_config_they_name(tmp_path) -> None:
    argv = ["--data", "d.json", "--output", str(tmp_path), "--model", "tiny", "--batch", "8"]
    argv += ["--train-size", "480,640", "--classes", "stop,left=turn", "--no-fused-bn-silu"]
    values = vars(_parser().parse_args(argv))
    values.pop("threads")
    config = TrainConfig(**values)
    assert config.batch_size == 8 and config.train_size == (480, 640)
    assert config.classes == ("stop", "left=turn") and config.fused_bn_silu is False


@pytest.mark.parametrize("name", list(RECIPES))
def test_unset_settings_come_from_the_models_recipe(tmp_path, name: str) -> None:
    config = TrainConfig(output=tmp_path, data="d.json", model_name=name)
    recipe = recipe_for(name)
    assert config.train_size == recipe.model.input_size
    assert config.multiscale == recipe.multiscale_for(config.train_size[0])
    assert config.mosaic_scale == recipe.mosaic_scale
    assert [getattr(config, n) for n in FROM_RECIPE] == [getattr(recipe, n) for n in FROM_RECIPE]
    augment = recipe.augment(config.flip_prob)
    assert (augment.mosaic_prob, augment.mixup_prob) == (recipe.mosaic_prob, recipe.mixup_prob)


def test_official_recipes_of_nano_and_a_larger_size() -> None:
    nano, small = recipe_for("YOLOX-Nano"), recipe_for("s")
    assert nano.model.input_size == (416, 416) and nano.multiscale_for(416) == (320, 640)
    assert (nano.mosaic_prob, nano.mixup_prob, nano.mosaic_scale) == (0.5, 0.0, (0.5, 1.5))
    assert small.multiscale_for(640) == (480, 800)
    assert (small.mosaic_prob, small.mixup_prob, small.mosaic_scale) == (1.0, 1.0, (0.1, 2.0))
    assert (nano.evaluation.conf_threshold, nano.evaluation.nms_threshold) == (0.01, 0.65)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\), got 1.0"),
        ({"val_fraction": 0.0}, "val_fraction must be > 0 without val"),
    ],
)
def test_held_out_fraction_follows_the_splits_rule(tmp_path, settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(output=tmp_path, data="d.json", **settings)
    TrainConfig(output=tmp_path, data="d.json", val="v.json", val_fraction=0.0)  # not used
