"""What a run shows and records while it trains.

A tqdm bar per epoch on a terminal (loss parts, lr, img/s, ETA), one log line
per epoch everywhere, a ``metrics.jsonl`` row per epoch (the curves are drawn
from it), and TensorBoard scalars when the ``tensorboard`` package is installed
(``val/AP/<class>`` and ``val/AP50/<class>`` beside the overall AP).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from yolox_ros.datasets.metrics import CocoMetrics
from yolox_ros.training.loss import LossTerms

LOSS_PARTS = ("total", "iou", "obj", "cls", "l1")


class Progress:
    def __init__(
        self, output: Path, class_names: Sequence[str], log: Callable[[str], None]
    ) -> None:
        self.output, self.class_names, self.log = output, tuple(class_names), log
        self.metrics_path = output / "metrics.jsonl"
        self._bar = None
        self._sums: dict[str, float] = {}
        self._images = 0
        self._steps = 0
        self._start = time.monotonic()
        self.last_total = 0.0
        self._board = self._open_board(output)

    def _open_board(self, output: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("no TensorBoard scalars: the tensorboard package is not installed")
            return None
        return SummaryWriter(str(output / "tensorboard"))

    def begin_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        self._sums = dict.fromkeys(LOSS_PARTS, 0.0)
        self._images = self._steps = 0
        self._start = time.monotonic()
        self._epoch, self._epochs = epoch, epochs
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=batches, desc=f"epoch {epoch + 1}/{epochs}", unit="it", leave=False
            )

    def step(
        self, iteration: int, images: int, size: tuple[int, int], lr: float, terms: LossTerms
    ) -> None:
        values = terms.values()
        self.last_total = values["total"]
        for part in LOSS_PARTS:
            self._sums[part] += values[part]
        self._images += images
        self._steps += 1
        self._lr = lr
        if self._board is not None:
            for part in LOSS_PARTS:
                self._board.add_scalar(f"loss/{part}", values[part], iteration)
            self._board.add_scalar("lr", lr, iteration)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(
                loss=f"{values['total']:.3f}",
                iou=f"{values['iou']:.3f}",
                obj=f"{values['obj']:.3f}",
                cls=f"{values['cls']:.3f}",
                lr=f"{lr:.4f}",
                size=f"{size[0]}x{size[1]}" if size[0] != size[1] else size[0],
                img_s=f"{self._images / max(time.monotonic() - self._start, 1e-9):.0f}",
            )

    def end_epoch(self, metrics: CocoMetrics | None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        seconds = time.monotonic() - self._start
        means = {part: total / max(self._steps, 1) for part, total in self._sums.items()}
        row: dict[str, object] = {
            "epoch": self._epoch + 1,
            "lr": self._lr,
            "seconds": round(seconds, 2),
            "images_per_s": round(self._images / max(seconds, 1e-9), 1),
            **{f"loss_{part}": value for part, value in means.items()},
        }
        line = (
            f"epoch {self._epoch + 1}/{self._epochs}: loss {means['total']:.3f} (iou "
            f"{means['iou']:.3f} obj {means['obj']:.3f} cls {means['cls']:.3f} l1 "
            f"{means['l1']:.3f}) lr {self._lr:.5f} {row['images_per_s']} img/s {seconds:.0f} s"
        )
        if metrics is not None:
            row.update(metrics.as_dict(self.class_names))
            line += f"; val AP@[.5:.95] {metrics.ap:.4f} AP@.5 {metrics.ap50:.4f}"
            if self._board is not None:
                self._board.add_scalar("val/AP", metrics.ap, self._epoch + 1)
                self._board.add_scalar("val/AP50", metrics.ap50, self._epoch + 1)
                for name, ap, ap50 in zip(
                    self.class_names, metrics.class_ap, metrics.class_ap50, strict=True
                ):
                    # A class without validation boxes has no AP (NaN): no point drawn.
                    if not math.isnan(ap):
                        self._board.add_scalar(f"val/AP/{name}", ap, self._epoch + 1)
                    if not math.isnan(ap50):
                        self._board.add_scalar(f"val/AP50/{name}", ap50, self._epoch + 1)
        self.log(line)
        with self.metrics_path.open("a") as out:
            out.write(json.dumps(row) + "\n")

    def close(self) -> None:
        if self._board is not None:
            self._board.close()
