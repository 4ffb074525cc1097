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
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from pathlib import Path

from yolox_ros.cli import comma_names
from yolox_ros.errors import ConfigError


def _range(cast: type, example: str) -> Callable[[str], tuple]:
    """An argparse type for ``MIN,MAX`` of ``cast`` values."""

    def parse(text: str) -> tuple:
        try:
            low, high = (cast(v) for v in text.split(","))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                f"expected MIN,MAX such as {example}, got {text!r}"
            ) from exc
        return low, high

    return parse


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


def _default_threads() -> int:
    """The cores this process may use, shared among the processes torchrun starts here."""
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, len(os.sched_getaffinity(0)) // local_processes)


# How the command line reads the values of each ``kind`` of TrainConfig option.
VALUE_PARSERS = {
    "names": comma_names,
    "size": _input_size,
    "heights": _range(int, "320,640"),
    "scales": _range(float, "0.3,1.5"),
}


def _threads_parser() -> argparse.ArgumentParser:
    # Parsed first, on its own: OpenMP reads OMP_NUM_THREADS when torch is imported.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--threads",
        type=int,
        default=_default_threads(),
        help="CPU threads of the training process (default: the cores available to it)",
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    """The options of every TrainConfig setting, with its help and default (imports torch)."""
    from yolox_ros.training.config import FROM_RECIPE, TrainConfig
    from yolox_ros.training.recipes import RECIPES

    # Options default to "not given", so that a --config file's values stand unless overridden.
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
        parents=[_threads_parser()],
    )
    parser.add_argument(
        "--config", type=Path, help="a run's config.yaml to repeat (other options override it)"
    )
    nano = RECIPES["nano"]
    for setting in fields(TrainConfig):
        option = setting.metadata.get("option")
        if option is None:
            continue
        keywords = {"dest": setting.name, **option["argparse"]}
        if option["kind"]:
            keywords["type"] = VALUE_PARSERS[option["kind"]]
        help_text = option["help"]
        if isinstance(setting.default, bool):
            keywords["action"] = "store_false" if setting.default else "store_true"
        elif setting.name in FROM_RECIPE:
            help_text += f" (default: the model's recipe; nano {getattr(nano, setting.name)})"
        elif setting.default not in (None, (), MISSING):
            help_text += f" (default {setting.default})"
        keywords["help"] = help_text
        flag = option["flag"] or "--" + setting.name.replace("_", "-")
        parser.add_argument(flag, **keywords)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    threads = _threads_parser().parse_known_args(argv)[0].threads
    if threads < 1:
        print(f"error: --threads must be >= 1, got {threads}", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    args = vars(_parser().parse_args(argv))
    args.pop("threads")
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
