"""One recipe per model size: what the official YOLOX experiment of that size trains with.

The official code keeps each size's settings in one ``Exp`` object
(https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/exp/yolox_base.py, overridden in
``exps/default/yolox_nano.py`` and ``yolox_tiny.py``); ``Recipe`` is that object here. A run's
``TrainConfig`` starts from its model's recipe and overrides what the user gives; the command
line's defaults and help come from it, and so do the figures of the model card.
"""

from __future__ import annotations

from dataclasses import dataclass

from yolox_ros.core.postprocess import PostprocessSettings
from yolox_ros.datasets.metrics import EVAL_SETTINGS
from yolox_ros.errors import ConfigError
from yolox_ros.model import canonical_name
from yolox_ros.model.sizes import STANDARD_SIZES, ModelSize
from yolox_ros.training.augment import AugmentConfig

# Larger models draw training heights within this margin of their input height
# (the official multiscale_range of 5 steps of 32 pixels).
MULTISCALE_MARGIN = 160


@dataclass(frozen=True)
class Recipe:
    """Architecture and input, multiscale, augmentation, schedule and evaluation of one size."""

    model: ModelSize
    # Training heights drawn every 10 iterations; None: the input height +- MULTISCALE_MARGIN.
    multiscale: tuple[int, int] | None
    mosaic_prob: float
    mixup_prob: float
    mosaic_scale: tuple[float, float]
    epochs: int = 300
    warmup_epochs: int = 5
    no_aug_epochs: int = 15
    batch_size: int = 64
    lr: float = 0.01  # peak learning rate of a batch of 64 images, scaled with the batch
    evaluation: PostprocessSettings = EVAL_SETTINGS

    def multiscale_for(self, height: int) -> tuple[int, int]:
        """The training heights of a run whose input is ``height`` pixels high."""
        if self.multiscale is not None:
            return self.multiscale
        return height - MULTISCALE_MARGIN, height + MULTISCALE_MARGIN

    def augment(
        self,
        flip_prob: float,
        mirror_classes: tuple[int, ...] = (),
        mosaic_scale: tuple[float, float] | None = None,
        antialias: bool = False,
    ) -> AugmentConfig:
        """This size's augmentation; ``mosaic_scale`` replaces its affine scale range."""
        return AugmentConfig(
            mosaic_prob=self.mosaic_prob,
            mixup_prob=self.mixup_prob,
            mosaic_scale=tuple(mosaic_scale or self.mosaic_scale),
            flip_prob=flip_prob,
            mirror_classes=mirror_classes,
            antialias=antialias,
        )


_COCO = {"multiscale": None, "mosaic_prob": 1.0, "mixup_prob": 1.0, "mosaic_scale": (0.1, 2.0)}
RECIPES: dict[str, Recipe] = {
    # Nano and tiny: lighter augmentation (no mixup, a narrower scale range) and fixed
    # multiscale heights 320..640 around their 416 input.
    "nano": Recipe(STANDARD_SIZES["nano"], (320, 640), 0.5, 0.0, (0.5, 1.5)),
    "tiny": Recipe(STANDARD_SIZES["tiny"], (320, 640), 1.0, 0.0, (0.5, 1.5)),
    **{name: Recipe(STANDARD_SIZES[name], **_COCO) for name in ("s", "m", "l", "x")},
}


def recipe_for(model_name: str) -> Recipe:
    """The recipe of a standard model size; ConfigError naming the sizes for another."""
    recipe = RECIPES.get(canonical_name(model_name))
    if recipe is None:
        raise ConfigError(f"unknown model {model_name!r}: use one of {', '.join(RECIPES)}")
    return recipe
