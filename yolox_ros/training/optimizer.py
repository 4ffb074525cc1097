"""The official recipe's optimizer: SGD with momentum 0.9 (Nesterov), weight decay on conv and
linear weights only (BatchNorm weights and all biases get none).

The official code: ``get_optimizer`` in
https://github.com/Megvii-BaseDetection/YOLOX/blob/main/yolox/exp/yolox_base.py
"""

from __future__ import annotations

import torch
from torch import nn

MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def optimizer_for(model: nn.Module, lr: float) -> torch.optim.SGD:
    """SGD with weight decay on conv/linear weights; BatchNorm weights and all biases get none."""
    decayed, not_decayed = [], []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            is_conv_weight = name == "weight" and not isinstance(
                module, nn.modules.batchnorm._BatchNorm
            )
            (decayed if is_conv_weight else not_decayed).append(parameter)
    return torch.optim.SGD(
        [
            {"params": not_decayed, "weight_decay": 0.0},
            {"params": decayed, "weight_decay": WEIGHT_DECAY},
        ],
        lr=lr,
        momentum=MOMENTUM,
        nesterov=True,
    )
