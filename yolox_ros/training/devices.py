"""The device a run trains on, and what a CPU there runs natively."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """The device of ``--device``: ``auto`` is the GPU when PyTorch sees one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU")
    return torch.device(name)


def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively (AVX512-BF16, AMX); True when torch cannot say."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without this probe
        return True
