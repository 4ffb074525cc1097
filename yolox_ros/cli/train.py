"""Train a YOLOX on a labelled dataset and export it to ONNX.

    python -m yolox_ros train --data DATASET --model nano --epochs 300 --output runs/nano
    python -m yolox_ros train --config runs/nano/config.yaml        # the same run again
    torchrun --nproc_per_node 4 -m yolox_ros train --data DATASET --output runs/nano  # 4 GPUs

DATASET is a COCO JSON file (or a folder with annotations/*.json), a Pascal VOC
folder or a YOLO data.yaml; the format is detected. Without --val, a fraction of
the frames is held out for validation (copies of one frame stay together). The
run writes config.yaml, last.pt, best.pt, metrics.jsonl, curves.png,
val_samples.jpg and finally model.onnx (class names in its metadata) into --output.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from yolox_ros.cli import comma_names
from yolox_ros.errors import ConfigError


def _size_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX such as 320,640, got {text!r}") from exc
    return low, high


def _input_size(text: str) -> tuple[int, int]:
    try:
        values = [int(v) for v in text.replace("x", ",").split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(
            f"expected SIDE or HEIGHT,WIDTH such as 480,640, got {text!r}"
        )
    return values[0], values[1]


def _scale_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX such as 0.3,1.5, got {text!r}") from exc
    return low, high


def _default_threads() -> int:
    """The cores this process may use, shared among the processes torchrun starts here.

    On a 2-core machine one thread trained at 0.76x the speed of two, end to end
    (benchmarks/train_benchmark.py).
    """
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, len(os.sched_getaffinity(0)) // local_processes)


def _parser() -> argparse.ArgumentParser:
    # Options default to "not given", so that a --config file's values stand unless overridden.
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--config", type=Path, help="a run's config.yaml to repeat (other options override it)")
    add("--data", help="training dataset (COCO JSON, VOC folder, YOLO data.yaml)")
    add("--format", dest="data_format", choices=("coco", "voc", "yolo"), help="dataset format")
    add("--images", help="folder of --data's images, where the layout does not say")
    add("--val", help="validation dataset (default: hold out --val-fraction of --data)")
    add("--val-fraction", type=float, help="fraction of frames held out (default 0.1)")
    add("--group-pattern", help="regex whose group 1 names a frame (default: Roboflow copies)")
    add("--one-copy-per-epoch", action="store_true", help="an epoch sees one copy of each frame")
    add(
        "--classes",
        type=comma_names,
        help="comma-separated classes to keep, OLD=NEW renames (default: all)",
    )
    add(
        "--flip-pairs",
        type=comma_names,
        help="mirror-image classes, e.g. left:right,no_left:no_right",
    )
    add("--output", type=Path, help="run directory")
    add("--model", dest="model_name", help="nano, tiny, s, m, l or x (default nano)")
    add("--init", help="weights to start from: an official .pth or one of our checkpoints")
    add("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    add("--epochs", type=int, help="default 300")
    add("--batch", dest="batch_size", type=int, help="default 64")
    add("--lr", type=float, help="peak learning rate per 64 images (default 0.01, official)")
    add(
        "--train-size",
        type=_input_size,
        help="training input SIDE or HEIGHT,WIDTH (default: the model's standard)",
    )
    add("--test-size", type=_input_size, help="evaluation and export size (default: train size)")
    add(
        "--multiscale",
        type=_size_range,
        help="MIN,MAX training heights; the width keeps the aspect (default: official)",
    )
    add(
        "--mosaic-scale",
        type=_scale_range,
        help="MIN,MAX scale of the mosaic's affine step (default: the model's, nano 0.5,1.5)",
    )
    add("--warmup-epochs", type=int, help="default 5")
    add("--no-aug-epochs", type=int, help="default 15")
    add("--flip-prob", type=float, help="default 0.5")
    add("--eval-interval", type=int, help="epochs between evaluations (default 10)")
    add("--patience", type=int, help="early stop after N evaluations without gain (0: never)")
    add("--device", help="auto (default), cpu, cuda or cuda:N")
    add("--amp", action="store_true", help="bfloat16 forward pass (CUDA, or a CPU with bf16)")
    add(
        "--no-fused-bn-silu",
        dest="fused_bn_silu",
        action="store_false",
        help="on the CPU, PyTorch's BatchNorm and SiLU instead of the compiled fused kernel",
    )
    add("--sync-bn", action="store_true", help="under torchrun: SyncBatchNorm across the GPUs")
    add("--workers", type=int, help="data-loading processes (default 2)")
    add("--cache", action="store_true", help="keep the decoded training images in RAM")
    add(
        "--time-budget",
        dest="time_budget_s",
        type=float,
        help="seconds: after the first epoch, plan the most epochs (up to --epochs) that end "
        "within it, tails cut to a quarter each; refused with the minimum if 2 do not fit",
    )
    add("--seed", type=int, help="default 0")
    add(
        "--threads",
        type=int,
        default=_default_threads(),
        help="CPU threads of the training process (default: the cores available to it)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    threads = args.pop("threads")
    if threads < 1:
        print(f"error: --threads must be >= 1, got {threads}", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import cv2
    import torch

    from yolox_ros.training.config import TrainConfig
    from yolox_ros.training.distributed import USER_ERRORS, PeerError, session
    from yolox_ros.training.trainer import TrainingInterruptedError, train

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    config_path = args.pop("config", None)

    def read_config() -> TrainConfig:
        if config_path is None and args.get("resume") and "output" in args:
            saved = Path(args["output"]) / "config.yaml"  # a resumed run keeps its recipe
            if saved.is_file():
                return TrainConfig.load(saved, **args)
        if config_path is not None:
            return TrainConfig.load(config_path, **args)
        if "data" not in args or "output" not in args:
            raise ConfigError("--data and --output are required (or --config)")
        return TrainConfig(**args)

    try:
        # Under torchrun, every process runs this; a user error on any gives one line (rank 0's).
        with session() as world:
            config = world.agree(read_config)
            train(config, log=lambda line: print(line, flush=True), world=world)
    except TrainingInterruptedError as stopped:
        print(stopped, file=sys.stderr, flush=True)
        return 128 + stopped.signal_number
    except PeerError:
        return 2  # rank 0 reports it
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
