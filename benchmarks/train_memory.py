"""What keeping freed memory (``training/allocator.py``) does to CPU training.

    python benchmarks/train_memory.py --data DATASET [--batch 64] [--iterations 32] [--size 0]

Runs our trainer on the CPU twice, each in a fresh process: with the allocator
setting the trainer makes, and with it switched off (glibc's defaults). ``--size
0`` keeps the recipe's multiscale draw (a new size every 10 iterations), another
value trains at that fixed size. Prints img/s over the iterations after the
first two, the process's minor page faults and its peak resident size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    import yolox_ros.training.trainer as trainer_module
    from yolox_ros.training.config import TrainConfig

    if args.child == "glibc defaults":
        trainer_module.reuse_freed_memory = lambda: False
        trainer_module.release_freed_memory = lambda: None
    fixed = {"multiscale": (args.size, args.size), "train_size": args.size} if args.size else {}
    config = TrainConfig(
        output=Path(args.output),
        data=str(args.data),
        val=str(args.data),  # no evaluation happens before the stop
        batch_size=args.batch,
        workers=2,
        device="cpu",
        epochs=30,
        **fixed,
    )
    trainer = trainer_module.Trainer(config, log=lambda line: None)
    stamps: list[float] = []
    step = trainer.progress.step

    class StopRunError(Exception):
        pass

    def timed_step(*step_args, **kwargs) -> None:
        step(*step_args, **kwargs)
        stamps.append(time.monotonic())
        if len(stamps) == args.iterations:
            raise StopRunError

    trainer.progress.step = timed_step
    try:
        trainer.run()
    except StopRunError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    img_s = args.batch * (len(stamps) - 2) / (stamps[-1] - stamps[1])
    print(
        json.dumps(
            {"img_s": img_s, "peak_gb": usage.ru_maxrss / 1e6, "faults_m": usage.ru_minflt / 1e6}
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="any dataset the readers take")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--size", type=int, default=0, help="fixed input size; 0: multiscale")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    shape = f"size {args.size}" if args.size else "multiscale"
    print(f"batch {args.batch}, {shape}, {args.iterations} iterations, {args.data}")
    print("| allocator | img/s | minor page faults | peak resident |")
    print("|---|---|---|---|")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH")))),
    )
    for setting in ("glibc defaults", "freed memory kept (the trainer's)"):
        with tempfile.TemporaryDirectory(prefix="train_memory_") as output:
            command = [
                sys.executable,
                __file__,
                "--data",
                str(args.data),
                "--batch",
                str(args.batch),
            ]
            command += ["--iterations", str(args.iterations), "--size", str(args.size)]
            command += ["--child", setting, "--output", str(Path(output) / "run")]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{setting} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| {setting} | {result['img_s']:.1f} | {result['faults_m']:.1f} M | "
            f"{result['peak_gb']:.1f} GB |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
