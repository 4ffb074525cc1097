"""Command line: train a YOLOX and export it to ONNX.

    python -m yolox_ros train --model nano --data synthetic --epochs 300 --batch 64 \
        --output runs/nano

``--data`` is a directory in the ``yolox_ros.datasets.synthetic`` layout or ``synthetic``
(scenes rendered on the fly). The run writes ``config.json``, ``last.pt``,
``best.pt``, ``metrics.jsonl`` and finally ``model.onnx`` (not decoded, with
class names and input size in its metadata) into ``--output``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _size_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX such as 320,640, got {text!r}") from exc
    return low, high


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="nano", help="nano, tiny, s, m, l or x")
    parser.add_argument("--data", default="synthetic", help="dataset directory or 'synthetic'")
    parser.add_argument(
        "--val", default="synthetic", help="validation directory or 'synthetic' (held-out seed)"
    )
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--output", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for PyTorch and OpenCV")
    parser.add_argument(
        "--train-size", type=int, help="training input size (default: the model's standard size)"
    )
    parser.add_argument(
        "--test-size", type=int, help="evaluation and export size (default: standard size)"
    )
    parser.add_argument(
        "--multiscale", type=_size_range, help="MIN,MAX training sizes (default: official)"
    )
    parser.add_argument("--warmup-epochs", type=int, default=5)
    parser.add_argument("--no-aug-epochs", type=int, default=15)
    parser.add_argument(
        "--flip-prob", type=float, default=0.5, help="0 for class sets with mirror-image classes"
    )
    parser.add_argument("--synthetic-train-count", type=int, default=10000)
    parser.add_argument("--synthetic-val-count", type=int, default=200)
    parser.add_argument("--eval-interval", type=int, default=10, help="epochs between evaluations")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads < 1:
        print(f"error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2
    import torch

    from yolox_ros.training.trainer import TrainConfig, train

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    try:
        config = TrainConfig(
            output=args.output,
            model_name=args.model,
            data=args.data,
            val=args.val,
            epochs=args.epochs,
            batch_size=args.batch,
            train_size=args.train_size,
            test_size=args.test_size,
            multiscale=args.multiscale,
            warmup_epochs=args.warmup_epochs,
            no_aug_epochs=args.no_aug_epochs,
            flip_prob=args.flip_prob,
            synthetic_train_count=args.synthetic_train_count,
            synthetic_val_count=args.synthetic_val_count,
            seed=args.seed,
            eval_interval=args.eval_interval,
            resume=args.resume,
        )
        train(config, log=lambda line: print(line, flush=True))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
