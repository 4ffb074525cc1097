"""FLOPs and parameter counts of the YOLOX sizes, in the YOLOX paper's convention.

    python benchmarks/flops.py [--models nano tiny s] [--num-classes 80] [--input-size H W]

Paper convention (matches the official README figures 1.08 / 6.45 / 26.8 G for
nano@416 / tiny@416 / s@640): 2 x (conv multiply-accumulates + 2 per BatchNorm
output element + 1 per upsampled output element); biases and activations are
not counted. Counted with forward hooks on a shape-only ("meta") forward pass.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolox_ros.model import STANDARD_SIZES, build_model, resolve_size  # noqa: E402


def count_operations(model: nn.Module, input_size: tuple[int, int]) -> dict[str, int]:
    """Conv MACs, BatchNorm and upsample output elements of one image at ``input_size``."""
    counts = {"conv_macs": 0, "bn_elements": 0, "upsample_elements": 0}

    def on_conv(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        kernel_h, kernel_w = module.kernel_size
        per_output = (module.in_channels // module.groups) * kernel_h * kernel_w
        counts["conv_macs"] += output.numel() * per_output

    def on_bn(_module, _inputs, output: torch.Tensor) -> None:
        counts["bn_elements"] += output.numel()

    def on_upsample(_module, _inputs, output: torch.Tensor) -> None:
        counts["upsample_elements"] += output.numel()

    hooks = {nn.Conv2d: on_conv, nn.BatchNorm2d: on_bn, nn.Upsample: on_upsample}
    handles = [
        module.register_forward_hook(hook)
        for module in model.modules()
        for kind, hook in hooks.items()
        if isinstance(module, kind)
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return counts


def paper_gflops(counts: dict[str, int]) -> float:
    operations = counts["conv_macs"] + 2 * counts["bn_elements"] + counts["upsample_elements"]
    return 2 * operations / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(STANDARD_SIZES))
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"))
    args = parser.parse_args()

    print(
        f"{'model':<6} {'input':>9} {'params':>12} {'params M':>9} {'GFLOPs':>8} {'conv-only':>10}"
    )
    for name in args.models:
        input_size = tuple(args.input_size or resolve_size(name).input_size)
        with torch.device("meta"):
            model = build_model(name, args.num_classes).eval()
        params = sum(p.numel() for p in model.parameters())
        counts = count_operations(model, input_size)
        print(
            f"{name:<6} {input_size[0]:>4}x{input_size[1]:<4} {params:>12,} {params / 1e6:>9.2f} "
            f"{paper_gflops(counts):>8.3f} {2 * counts['conv_macs'] / 1e9:>10.3f}"
        )


if __name__ == "__main__":
    main()
