"""Exponential moving average of the weights.

After ``n`` updates the decay is ``0.9998 * (1 - exp(-n / 2000))``, so early
updates follow the model closely and late ones average over ~5000 iterations.
Every floating-point entry of the state dict (parameters and BatchNorm
statistics) is averaged; integer buffers are copied.

The official code: ``ModelEMA`` in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/utils/ema.py
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    def __init__(
        self,
        model: nn.Module,
        decay: float = 0.9998,
        ramp_updates: float = 2000.0,
        updates: int = 0,
    ) -> None:
        self.ema = copy.deepcopy(model).eval()
        for parameter in self.ema.parameters():
            parameter.requires_grad_(False)
        self.max_decay = decay
        self.ramp_updates = ramp_updates
        self.updates = updates

    def decay(self, updates: int) -> float:
        return self.max_decay * (1 - math.exp(-updates / self.ramp_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = self.decay(self.updates)
        current = model.state_dict()
        averages, values = [], []
        for name, average in self.ema.state_dict().items():
            if average.dtype.is_floating_point:
                averages.append(average)
                values.append(current[name])
            else:
                average.copy_(current[name])
        # The same two operations on every tensor, done by a few fused kernels instead of
        # two per tensor (nano has ~500): the arithmetic, and so the result, is unchanged.
        torch._foreach_mul_(averages, decay)
        torch._foreach_add_(averages, values, alpha=1 - decay)
