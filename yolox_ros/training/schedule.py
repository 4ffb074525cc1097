"""The ``yoloxwarmcos`` learning-rate schedule, set every iteration.

Quadratic warm-up from 0 to ``lr``, then a cosine from ``lr`` down to
``min_lr_ratio * lr``, then constant ``min_lr`` for the no-augmentation tail.

The official code: ``yoloxwarmcos_lr`` in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/utils/lr_scheduler.py
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmCosineSchedule:
    base_lr: float
    total_iters: int
    warmup_iters: int
    no_aug_iters: int
    min_lr_ratio: float = 0.05

    def __post_init__(self) -> None:
        if not self.warmup_iters + self.no_aug_iters < self.total_iters:
            raise ValueError(
                f"warm-up ({self.warmup_iters}) plus no-aug ({self.no_aug_iters}) iterations "
                f"must be fewer than the total ({self.total_iters})"
            )

    @classmethod
    def from_epochs(
        cls,
        base_lr: float,
        iters_per_epoch: int,
        epochs: int,
        warmup_epochs: int,
        no_aug_epochs: int,
    ) -> WarmCosineSchedule:
        return cls(
            base_lr=base_lr,
            total_iters=iters_per_epoch * epochs,
            warmup_iters=iters_per_epoch * warmup_epochs,
            no_aug_iters=iters_per_epoch * no_aug_epochs,
        )

    @property
    def min_lr(self) -> float:
        return self.base_lr * self.min_lr_ratio

    def lr(self, iteration: int) -> float:
        """Learning rate of (0-based) ``iteration``."""
        if iteration <= self.warmup_iters:
            return (
                self.base_lr * (iteration / self.warmup_iters) ** 2
                if self.warmup_iters
                else self.base_lr
            )
        cosine_iters = self.total_iters - self.warmup_iters - self.no_aug_iters
        progress = iteration - self.warmup_iters
        if progress >= cosine_iters:
            return self.min_lr
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (
            1 + math.cos(math.pi * progress / cosine_iters)
        )
