"""A training run's recipe: every setting it depends on, checked once, saved as ``config.yaml``.

``TrainConfig.load(path)`` reads a saved recipe back, so a run is reproduced
with ``python -m yolox_ros train --config runs/x/config.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from yolox_ros.datasets import class_selection
from yolox_ros.errors import ConfigError
from yolox_ros.model import canonical_name, standard_input_size

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything a run depends on.

    Input sizes are ``(height, width)`` in pixels, multiples of 32 (a single number is a
    square). ``multiscale`` draws the training height; the width keeps the training
    size's aspect ratio (as the official ``random_resize``).
    """

    output: Path
    data: str  # a dataset: COCO JSON, Pascal VOC folder or YOLO data.yaml (auto-detected)
    model_name: str = "nano"
    data_format: str | None = None  # "coco", "voc" or "yolo"; None: detected
    images: str | None = None  # folder of ``data``'s images where its layout does not say
    val: str | None = None  # a validation dataset; None: carved from ``data``
    val_fraction: float = 0.1  # of the frames (groups) held out when ``val`` is None
    group_pattern: str | None = None  # regex whose group 1 names a frame; None: Roboflow copies
    one_copy_per_epoch: bool = False  # an epoch sees one copy of each frame
    classes: tuple[str, ...] = ()  # keep only these classes ("old=new" renames); empty: all
    flip_pairs: tuple[str, ...] = ()  # "left:right": a horizontal flip swaps these labels
    epochs: int = 300
    batch_size: int = 64
    lr: float = 0.01  # peak learning rate of a batch of 64 images, scaled with the batch size
    train_size: tuple[int, int] | None = None  # (height, width); default: the model's standard
    test_size: tuple[int, int] | None = None  # evaluation / export size; default: train_size
    multiscale: tuple[int, int] | None = None  # min, max training heights; None: official range
    mosaic_scale: tuple[float, float] | None = None  # affine scale range; None: the model's
    warmup_epochs: int = 5
    no_aug_epochs: int = 15
    flip_prob: float = 0.5
    init: str | None = None  # weights to start from: official .pth or one of ours
    seed: int = 0
    eval_interval: int = 10  # epochs between evaluations (every epoch in the no-aug tail)
    patience: int = 0  # stop after this many evaluations without AP gain; 0: never
    device: str = "auto"
    amp: bool = False  # bfloat16 forward pass (CUDA; CPUs with native bfloat16)
    fused_bn_silu: bool = True  # CPU: BatchNorm and SiLU in one compiled kernel (C compiler)
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the whole batch (CUDA)
    workers: int = 2  # data-loading processes; 0: in the training process
    cache: bool = False  # decode every training image once and keep it in RAM
    time_budget_s: float = 0.0  # seconds for the whole run, planned on its first epoch; 0: off
    resume: bool = False
    class_names: tuple[str, ...] = field(default_factory=tuple)  # filled from the data

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.model_name = canonical_name(self.model_name)
        self.classes = tuple(self.classes)
        self.flip_pairs = tuple(self.flip_pairs)
        self.class_names = tuple(self.class_names)
        self.train_size = input_hw(self.train_size or standard_input_size(self.model_name))
        self.test_size = input_hw(self.test_size or self.train_size)
        if self.multiscale is None:
            # Official: nano/tiny draw heights 320..640; larger models the height +- 160.
            height = self.train_size[0]
            low, high = (
                (320, 640) if self.model_name in ("nano", "tiny") else (height - 160, height + 160)
            )
            self.multiscale = (low, high)
        self.multiscale = tuple(self.multiscale)
        if self.mosaic_scale is not None:
            self.mosaic_scale = tuple(float(v) for v in self.mosaic_scale)
        self._check()

    def _check(self) -> None:
        sizes = (*self.train_size, *self.test_size, *self.multiscale)
        if any(s <= 0 or s % 32 for s in sizes) or self.multiscale[0] > self.multiscale[1]:
            raise ConfigError(
                f"sizes must be positive multiples of 32 and multiscale min <= max, got {sizes}"
            )
        if self.mosaic_scale is not None and not (
            len(self.mosaic_scale) == 2 and 0 < self.mosaic_scale[0] <= self.mosaic_scale[1]
        ):
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
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")
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
    def batch_lr(self) -> float:
        """The peak learning rate of this run's batch size (linear scaling, as the reference)."""
        return self.lr / 64 * self.batch_size

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["output"] = str(self.output)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in values.items()
        }

    def save(self, path: Path) -> None:
        """The recipe as YAML; ``resume`` is how a run was started, not part of it."""
        values = {**self.to_dict(), "resume": False}
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


def mirror_classes(flip_pairs: Sequence[str], class_names: Sequence[str]) -> tuple[int, ...]:
    """``"a:b"`` pairs to the class id each class becomes under a horizontal flip."""
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
    return tuple(mirror) if paired else ()
