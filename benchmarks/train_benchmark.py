"""Training speed on CPU: our trainer against the official YOLOX training, img/s end to end.

    python benchmarks/train_benchmark.py --data DATASET --official /tmp/yolox_official

Both train YOLOX-nano on the same images (the first ``--images`` of the COCO
dataset DATASET after a seeded shuffle) at batch 16 (``--batch``) and input 416 (no multiscale
change during the measurement), with the nano augmentation of the official Exp
(mosaic 0.5, no mixup, HSV, flip), data loading included: img/s is the batch size
times the iterations after ``--warmup`` iterations, over their wall time.

- ``official ...``: the official Exp, COCODataset, MosaicDetection, DataLoader,
  model, optimizer, LR scheduler and EMA, driven as its ``Trainer.train_one_iter``
  drives them (its ``tools/train.py`` needs CUDA). ``--official`` is a checkout of
  github.com/Megvii-BaseDetection/YOLOX kept outside this repository; its Python
  needs (loguru, tabulate, pycocotools) must be importable, e.g. installed with
  ``pip install --target DIR`` and DIR put on PYTHONPATH. Without it the official
  configurations are skipped with a message. ``official ... (freed memory kept)`` first
  makes the glibc setting our trainer makes itself (``reuse_freed_memory`` of
  ``training/allocator.py``), like for like.
- ``ours``: ``yolox_ros.training.Trainer`` itself, its loop stopped after the
  measured iterations; ``ours --no-fused-bn-silu`` the same with PyTorch's BatchNorm
  and SiLU instead of the fused kernel; ``ours --amp`` with its bfloat16 forward pass
  (the official trainer has no such option on the CPU).

Every configuration runs in a fresh process, configurations alternate (A, B, C,
A, B, C...) for ``--rounds`` rounds, and the table gives the median img/s with
the range and the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BATCH = 16  # the setting; the recipe's own is 64 (--batch 64)
SIZE = 416
SUBSET_SEED = 0


@dataclass(frozen=True)
class Setup:
    name: str
    trainer: str  # "official" or "ours"
    workers: int
    channels_last: bool  # official only: model and inputs converted; ours decides itself
    amp: bool = False  # ours only: --amp, a bfloat16 forward pass (the official has none on CPU)
    fused_bn_silu: bool = True  # ours only: False is --no-fused-bn-silu (PyTorch's ops)
    # official only: glibc told to keep freed memory, as our trainer does itself
    keep_freed_memory: bool = False


SETUPS = (
    Setup("official NCHW 0 workers", "official", 0, False),
    Setup("official NCHW 2 workers", "official", 2, False),
    Setup("official channels_last 2 workers", "official", 2, True),
    Setup(
        "official channels_last 2 workers (freed memory kept)",
        "official",
        2,
        True,
        keep_freed_memory=True,
    ),
    Setup("ours (yolox_ros) 2 workers", "ours", 2, False),
    Setup("ours --no-fused-bn-silu 2 workers", "ours", 2, False, fused_bn_silu=False),
    Setup("ours --amp (bf16) 2 workers", "ours", 2, False, amp=True),
)


def write_subset(data: Path, count: int, out: Path) -> tuple[Path, int]:
    """``out/annotations/train.json`` with ``count`` images of ``data``; ``out/train`` links them.

    The layout is the one both trainers read (official: ``data_dir/annotations/<json>``
    with images in ``data_dir/<name>``). Categories no box uses (Roboflow's
    supercategory) are left out, so that both models have the same number of classes.
    """
    doc = json.loads((data / "annotations" / "train.json").read_text())
    images = sorted(doc["images"], key=lambda image: image["id"])
    chosen = random.Random(SUBSET_SEED).sample(images, min(count, len(images)))
    ids = {image["id"] for image in chosen}
    annotations = [a for a in doc["annotations"] if a["image_id"] in ids]
    used = {a["category_id"] for a in annotations}
    categories = [c for c in doc["categories"] if c["id"] in used]
    (out / "annotations").mkdir(parents=True)
    subset = dict(doc, images=chosen, annotations=annotations, categories=categories)
    (out / "annotations" / "train.json").write_text(json.dumps(subset))
    (out / "train").symlink_to((data / "train").resolve())
    return out / "annotations" / "train.json", len(categories)


def official_timestamps(
    setup: Setup, root: Path, official: Path, classes: int, iterations: int, batch: int
) -> list[float]:
    """The official training, one timestamp after each iteration."""
    import torch

    sys.path.insert(0, str(official))
    try:
        import torchvision  # noqa: F401 - only to know whether it imports
    except (ImportError, RuntimeError):
        # yolox.utils imports torchvision for NMS alone, which training never calls; a CPU
        # torchvision matching this torch is not always installable.
        sys.modules["torchvision"] = types.ModuleType("torchvision")
    from yolox.data import COCODataset, TrainTransform
    from yolox.exp import get_exp
    from yolox.utils import ModelEMA, configure_module

    configure_module()  # as tools/train.py: OpenCV threads and OpenCL off
    exp = get_exp(str(official / "exps" / "default" / "yolox_nano.py"))
    exp.num_classes, exp.data_num_workers = classes, setup.workers
    exp.input_size = (SIZE, SIZE)
    # Exp.get_dataset with the subset's image folder name (COCO's is train2017).
    exp.dataset = COCODataset(
        data_dir=str(root),
        json_file="train.json",
        name="train",
        img_size=exp.input_size,
        preproc=TrainTransform(max_labels=50, flip_prob=exp.flip_prob, hsv_prob=exp.hsv_prob),
    )
    model = exp.get_model()
    if setup.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = exp.get_optimizer(batch)
    loader = exp.get_data_loader(batch_size=batch, is_distributed=False, no_aug=False)
    scheduler = exp.get_lr_scheduler(exp.basic_lr_per_img * batch, len(loader))
    ema = ModelEMA(model, 0.9998)
    batches = iter(loader)  # DataPrefetcher is CUDA streams: on CPU the loader is read directly
    stamps = []
    for iteration in range(iterations):
        # Trainer.train_one_iter without AMP (its GradScaler is disabled on CPU).
        inputs, targets, _, _ = next(batches)  # as DataPrefetcher: image info and id unused
        inputs, targets = inputs.to(torch.float32), targets.to(torch.float32)
        targets.requires_grad = False
        inputs, targets = exp.preprocess(inputs, targets, exp.input_size)
        if setup.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss = model(inputs, targets)["total_loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update(model)
        lr = scheduler.update_lr(iteration + 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        stamps.append(time.monotonic())
    return stamps


class _StopRunError(Exception):
    """Raised from the progress hook once the measured iterations are done."""


def ours_timestamps(setup: Setup, data_json: Path, iterations: int, batch: int) -> list[float]:
    """Our trainer's own loop, one timestamp after each iteration (taken in its progress)."""
    from yolox_ros.training.config import TrainConfig
    from yolox_ros.training.trainer import Trainer

    config = TrainConfig(
        # Beside the data subset, in the scratch folder the parent deletes.
        output=data_json.parents[1] / f"run-{os.getpid()}",
        data=str(data_json),
        val=str(data_json),  # all images train; no evaluation happens before the stop
        batch_size=batch,
        train_size=SIZE,
        multiscale=(SIZE, SIZE),
        workers=setup.workers,
        device="cpu",
        amp=setup.amp,
        fused_bn_silu=setup.fused_bn_silu,
    )
    trainer = Trainer(config, log=lambda line: None)
    stamps: list[float] = []
    step = trainer.progress.step

    def timed_step(*args, **kwargs) -> None:
        step(*args, **kwargs)
        stamps.append(time.monotonic())
        if len(stamps) == iterations:
            raise _StopRunError

    trainer.progress.step = timed_step
    try:
        trainer.run()
    except _StopRunError:
        pass
    return stamps


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints ``{"img_s": ...}`` as its last line."""
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)  # as `python -m yolox_ros train --threads`
    setup = next(s for s in SETUPS if s.name == args.child)
    if setup.keep_freed_memory:
        from yolox_ros.training.allocator import reuse_freed_memory

        reuse_freed_memory()
    iterations = args.warmup + args.iterations
    if setup.trainer == "official":
        stamps = official_timestamps(
            setup, args.root, args.official, args.classes, iterations, args.batch
        )
    else:
        data_json = args.root / "annotations" / "train.json"
        stamps = ours_timestamps(setup, data_json, iterations, args.batch)
    seconds = stamps[-1] - stamps[args.warmup - 1]
    print(json.dumps({"img_s": args.batch * args.iterations / seconds}))


def measure(setup: Setup, args: argparse.Namespace, root: Path, classes: int) -> float:
    command = [
        sys.executable,
        __file__,
        "--child",
        setup.name,
        "--root",
        str(root),
        "--classes",
        str(classes),
        "--threads",
        str(args.threads),
        "--warmup",
        str(args.warmup),
        "--iterations",
        str(args.iterations),
        "--batch",
        str(args.batch),
    ]
    if args.official:
        command += ["--official", str(args.official)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{setup.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["img_s"]


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="COCO dataset: annotations/train.json, train/")
    parser.add_argument("--official", type=Path, help="checkout of the official YOLOX")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--warmup", type=int, default=3, help="iterations not timed")
    parser.add_argument("--iterations", type=int, default=12, help="iterations timed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated setup names (default: all)")
    # Internal: one measurement in a child process.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.data is None:
        parser.error("--data is required")
    setups = [s for s in SETUPS if not args.only or s.name in args.only.split(",")]
    if args.official is None or not (args.official / "yolox" / "exp").is_dir():
        print(
            f"official YOLOX checkout not found at {args.official}: its setups are skipped "
            "(pass --official PATH to a checkout of Megvii-BaseDetection/YOLOX)"
        )
        setups = [s for s in setups if s.trainer != "official"]
    with tempfile.TemporaryDirectory(prefix="train_benchmark_data_") as scratch:
        root = Path(scratch)
        _, classes = write_subset(args.data, args.images, root)
        print(
            f"{args.images} images, {classes} classes, batch {args.batch}, {SIZE}x{SIZE}, "
            f"{args.threads} threads, {args.warmup} + {args.iterations} iterations, "
            f"{args.rounds} rounds; torch {_torch_version()}; load average {load()}",
            flush=True,
        )
        results: dict[str, list[float]] = {s.name: [] for s in setups}
        for round_ in range(args.rounds):
            for setup in setups:
                img_s = measure(setup, args, root, classes)
                results[setup.name].append(img_s)
                print(f"round {round_ + 1}: {setup.name}: {img_s:.1f} img/s", flush=True)
    print(f"load average after: {load()}\n")
    best_official = max(
        (statistics.median(v) for k, v in results.items() if k.startswith("official")),
        default=None,
    )
    print("| setup | img/s (median) | range | vs best official |")
    print("| --- | --- | --- | --- |")
    for name, values in results.items():
        median = statistics.median(values)
        ratio = f"{median / best_official:.2f}x" if best_official else "-"
        print(f"| {name} | {median:.1f} | {min(values):.1f}-{max(values):.1f} | {ratio} |")
    return 0


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    sys.exit(main())
