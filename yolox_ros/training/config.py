"""A training run's recipe: every setting it depends on, checked once, saved as ``config.yaml``.

``TrainConfig.load(path)`` reads a saved recipe back, so a run is reproduced
with ``python -m yolox_ros train --config runs/x/config.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from yolox_ros.datasets import FORMATS, class_selection
from yolox_ros.datasets.splits import check_val_fraction
from yolox_ros.errors import ConfigError
from yolox_ros.model import canonical_name
from yolox_ros.training.augment import NO_MIRROR
from yolox_ros.training.recipes import RECIPES, Recipe, recipe_for

DEVICES = ("auto", "cpu", "cuda")
# Settings whose default is the model's recipe (None until the config is built).
FROM_RECIPE = ("epochs", "warmup_epochs", "no_aug_epochs", "batch_size", "lr")


def option(
    help: str, flag: str | None = None, kind: str | None = None, **argparse: Any
) -> dict[str, Any]:
    """A setting's command-line option: its help, flag (default ``--field-name``), a value
    ``kind`` the command line parses (``names``, ``size``, ``heights``, ``scales``) and other
    ``argparse`` keywords."""
    return {"option": {"help": help, "flag": flag, "kind": kind, "argparse": argparse}}


def setting(default: Any, help: str, **option_keywords: Any) -> Any:
    """A field with a default and its command-line option."""
    return field(default=default, metadata=option(help, **option_keywords))


@dataclass(frozen=True)
class RunPlan:
    """How many epochs a run trains and how many of them are its warm-up and no-aug tails:
    the recipe's, or a time budget's (which a resumed run keeps)."""

    epochs: int
    warmup_epochs: int
    no_aug_epochs: int


@dataclass
class TrainConfig:
    """Everything a run depends on; each field's option and help in ``python -m yolox_ros train``.

    Input sizes are ``(height, width)`` in pixels, multiples of 32 (a single number is a
    square). ``multiscale`` draws the training height; the width keeps the training
    size's aspect ratio (as the official ``random_resize``). ``None`` means the model's
    recipe (``training.recipes``).
    """

    output: Path = field(metadata=option("run directory"))
    data: str = field(metadata=option("training dataset (COCO JSON, VOC folder, YOLO data.yaml)"))
    model_name: str = setting("nano", f"model size: {', '.join(RECIPES)}", flag="--model")
    data_format: str | None = setting(
        None, "dataset format; default: detected", flag="--format", choices=FORMATS
    )
    images: str | None = setting(None, "folder of --data's images, where the layout does not say")
    val: str | None = setting(None, "validation dataset; default: --val-fraction of --data")
    val_fraction: float = setting(0.1, "fraction of the frames (groups) held out", type=float)
    group_pattern: str | None = setting(
        None, "regex whose group 1 names a frame; default: Roboflow's copies of one photo"
    )
    one_copy_per_epoch: bool = setting(False, "an epoch sees one copy of each frame")
    classes: tuple[str, ...] = setting(
        (), "comma-separated classes to keep, OLD=NEW renames; default: all", kind="names"
    )
    flip_pairs: tuple[str, ...] = setting(
        (), "mirror-image classes a flip swaps, e.g. left:right,no_left:no_right", kind="names"
    )
    asymmetric_classes: tuple[str, ...] = setting(
        (), "classes whose mirror image is no class: an image holding one is not flipped",
        kind="names",
    )  # fmt: skip
    epochs: int | None = setting(None, "epochs of the run", type=int)
    batch_size: int | None = setting(None, "images per step", flag="--batch", type=int)
    lr: float | None = setting(
        None, "peak learning rate of a batch of 64 images (scaled with the batch)", type=float
    )
    train_size: tuple[int, int] | None = setting(
        None, "training input SIDE or HEIGHT,WIDTH; default: the model's", kind="size"
    )
    test_size: tuple[int, int] | None = setting(
        None, "evaluation and export size; default: the training size", kind="size"
    )
    multiscale: tuple[int, int] | None = setting(
        None, "MIN,MAX training heights (the width keeps the aspect); default: the recipe's",
        kind="heights",
    )  # fmt: skip
    mosaic_scale: tuple[float, float] | None = setting(
        None, "MIN,MAX scale of the mosaic's affine step; default: the recipe's", kind="scales"
    )
    antialias: bool = setting(
        False, "where the mosaic's affine step shrinks, shrink by area averaging (not bilinear)"
    )
    warmup_epochs: int | None = setting(None, "epochs of learning-rate warm-up", type=int)
    no_aug_epochs: int | None = setting(
        None, "last epochs without mosaic, affine and mixup (with the L1 loss)", type=int
    )
    flip_prob: float = setting(0.5, "probability of a horizontal flip", type=float)
    init: str | None = setting(
        None, "weights to start from: an official .pth or one of our checkpoints"
    )
    seed: int = setting(0, "random seed", type=int)
    eval_interval: int = setting(
        10, "epochs between evaluations (every epoch in the no-aug tail)", type=int
    )
    patience: int = setting(0, "stop after N evaluations without AP gain (0: never)", type=int)
    device: str = setting("auto", "auto, cpu, cuda or cuda:N")
    amp: bool = setting(False, "bfloat16 forward pass (CUDA, or a CPU with native bfloat16)")
    fused_bn_silu: bool = setting(
        True, "on the CPU, PyTorch's BatchNorm and SiLU instead of the compiled fused kernel",
        flag="--no-fused-bn-silu",
    )  # fmt: skip
    sync_bn: bool = setting(False, "under torchrun: BatchNorm statistics over the whole batch")
    workers: int = setting(2, "data-loading processes (0: in the training process)", type=int)
    cache: bool = setting(False, "keep the decoded training images in RAM")
    time_budget_s: float = setting(
        0.0,
        "seconds for the whole run: after the first epoch, plan the most epochs (up to --epochs) "
        "that end within it, tails cut to a quarter each; refused with the minimum if 2 do not "
        "fit (0: no budget)",
        flag="--time-budget", type=float,
    )  # fmt: skip
    resume: bool = setting(False, "continue the run in --output from its last.pt")
    class_names: tuple[str, ...] = field(default_factory=tuple)  # filled from the data

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.model_name = canonical_name(self.model_name)
        recipe = self.recipe
        for name in FROM_RECIPE:
            if getattr(self, name) is None:
                setattr(self, name, getattr(recipe, name))
        self.classes = tuple(self.classes)
        self.flip_pairs = tuple(self.flip_pairs)
        self.asymmetric_classes = tuple(self.asymmetric_classes)
        self.class_names = tuple(self.class_names)
        self.train_size = input_hw(self.train_size or recipe.model.input_size)
        self.test_size = input_hw(self.test_size or self.train_size)
        self.multiscale = tuple(self.multiscale or recipe.multiscale_for(self.train_size[0]))
        self.mosaic_scale = tuple(float(v) for v in self.mosaic_scale or recipe.mosaic_scale)
        self._check()

    @property
    def recipe(self) -> Recipe:
        """The official recipe of the run's model size (its defaults)."""
        return recipe_for(self.model_name)

    def _check(self) -> None:
        sizes = (*self.train_size, *self.test_size, *self.multiscale)
        if any(s <= 0 or s % 32 for s in sizes) or self.multiscale[0] > self.multiscale[1]:
            raise ConfigError(
                f"sizes must be positive multiples of 32 and multiscale min <= max, got {sizes}"
            )
        if not (len(self.mosaic_scale) == 2 and 0 < self.mosaic_scale[0] <= self.mosaic_scale[1]):
            raise ConfigError(
                f"mosaic_scale must be MIN,MAX with 0 < MIN <= MAX, got {self.mosaic_scale}"
            )
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ConfigError(
                f"batch size and epochs must be >= 1, got {self.batch_size}, {self.epochs}"
            )
        if self.warmup_epochs < 0 or self.no_aug_epochs < 0 or self.eval_interval < 1:
            raise ConfigError(
                f"warmup_epochs and no_aug_epochs must be >= 0 and eval_interval >= 1, got "
                f"{self.warmup_epochs}, {self.no_aug_epochs}, {self.eval_interval}"
            )
        if not self.warmup_epochs + self.no_aug_epochs < self.epochs:
            raise ConfigError(
                f"warmup_epochs ({self.warmup_epochs}) + no_aug_epochs ({self.no_aug_epochs}) "
                f"must be fewer than epochs ({self.epochs}); "
                "for short runs set --warmup-epochs and --no-aug-epochs"
            )
        check_val_fraction(self.val_fraction)
        if self.val is None and self.val_fraction == 0:
            raise ConfigError(
                "val_fraction must be > 0 without val: a run validates on held-out frames"
            )
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ConfigError(f"flip_prob must be in [0, 1], got {self.flip_prob}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be one of {', '.join(DEVICES)} or cuda:N")
        if self.workers < 0 or self.patience < 0:
            raise ConfigError("workers and patience must be >= 0")
        if not (math.isfinite(self.time_budget_s) and self.time_budget_s >= 0):
            raise ConfigError(
                f"time_budget_s must be seconds >= 0 (0: none), got {self.time_budget_s}"
            )

    def size_at_height(self, height: int) -> tuple[int, int]:
        """A training size of ``height`` with the training size's aspect ratio (width rounded
        down to a multiple of 32, as the official multiscale)."""
        train_h, train_w = self.train_size
        return height, max(32, 32 * int(height * train_w / train_h / 32))

    def class_selection(self) -> tuple[list[str], dict[str, str]]:
        """``classes`` as the names to keep and their renames (``"old=new"``)."""
        return class_selection(self.classes)

    @property
    def plan(self) -> RunPlan:
        """The epochs and tails this recipe asks for."""
        return RunPlan(self.epochs, self.warmup_epochs, self.no_aug_epochs)

    @property
    def batch_lr(self) -> float:
        """The peak learning rate of this run's batch size (linear scaling, as the reference)."""
        return self.lr / 64 * self.batch_size

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["output"] = str(self.output)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in values.items()
        }

    def save(self, path: Path, plan: RunPlan) -> None:
        """The recipe as YAML, with the epochs and tails of the run's ``plan`` (a time
        budget's, or a resumed run's); ``resume`` is how a run was started, not part of it."""
        values = {
            **self.to_dict(),
            "epochs": plan.epochs,
            "warmup_epochs": plan.warmup_epochs,
            "no_aug_epochs": plan.no_aug_epochs,
            "resume": False,
        }
        path.write_text(yaml.safe_dump(values, sort_keys=False))

    @classmethod
    def load(cls, path: str | Path, **overrides: object) -> TrainConfig:
        """The recipe saved at ``path``; ``overrides`` replace some of its values."""
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read training config {path}: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a training config is a mapping of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown settings {unknown}")
        values.update(overrides)
        values.pop("class_names", None)  # always re-read from the data
        return cls(**values)


def input_hw(size: int | Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` of a size given as one side (a square) or as a pair."""
    if isinstance(size, int):
        return size, size
    values = tuple(size)
    if len(values) != 2 or not all(isinstance(v, int) for v in values):
        raise ConfigError(f"an input size is SIDE or HEIGHT,WIDTH in pixels, got {size!r}")
    return values


def mirror_classes(
    flip_pairs: Sequence[str], class_names: Sequence[str], asymmetric: Sequence[str] = ()
) -> tuple[int, ...]:
    """``"a:b"`` pairs to the class id each class becomes under a horizontal flip;
    ``asymmetric`` classes become ``NO_MIRROR``."""
    mirror = list(range(len(class_names)))
    index = {name: i for i, name in enumerate(class_names)}
    paired: set[str] = set()
    for pair in flip_pairs:
        names = [name.strip() for name in pair.split(":")]
        if len(names) != 2 or not all(names) or names[0] == names[1]:
            raise ConfigError(f"flip pair {pair!r} must be two different class names as a:b")
        for name in names:
            if name not in index:
                raise ConfigError(
                    f"flip pair {pair!r}: unknown class {name!r}; classes: {list(class_names)}"
                )
            if name in paired:
                raise ConfigError(f"flip pair {pair!r}: class {name!r} is in two pairs")
            paired.add(name)
        first, second = index[names[0]], index[names[1]]
        mirror[first], mirror[second] = second, first
    for name in asymmetric:
        if name not in index:
            raise ConfigError(f"asymmetric class {name!r} is unknown; classes: {list(class_names)}")
        if name in paired:
            raise ConfigError(f"class {name!r} is in a flip pair and asymmetric")
        mirror[index[name]] = NO_MIRROR
    return tuple(mirror) if paired or asymmetric else ()
