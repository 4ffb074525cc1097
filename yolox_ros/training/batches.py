"""Training data: synthetic-scene layout on disk or the same scenes rendered on the fly; batching.

Both sources give ``(bgr uint8 image, labels (N, 5) float32 x1, y1, x2, y2,
class_id)``. ``GeneratedScenes(count, seed)`` renders exactly the images
``python -m yolox_ros synthetic --out DIR --count N --seed S`` writes (without
the JPEG compression). See ``yolox_ros.datasets.synthetic`` for the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from yolox_ros.datasets.synthetic import CLASS_NAMES, render_scene, scene_rng
from yolox_ros.training.augment import AugmentConfig, train_sample

MAX_LABELS = 120  # per image, as the reference


class SceneSource(Protocol):
    class_names: tuple[str, ...]

    def __len__(self) -> int: ...

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]: ...


class GeneratedScenes:
    """``count`` synthetic scenes rendered on demand (scene ``i`` is always the same image)."""

    class_names = CLASS_NAMES

    def __init__(self, count: int, seed: int, width: int = 640, height: int = 480) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.count, self.seed, self.width, self.height = count, seed, width, height

    def __len__(self) -> int:
        return self.count

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, boxes, class_ids = render_scene(scene_rng(self.seed, index), self.width, self.height)
        return image, np.concatenate([boxes, class_ids[:, None].astype(np.float32)], axis=1)


class SceneDirectory:
    """A dataset in the synthetic layout: ``classes.txt``, ``images/*``, ``labels/<stem>.txt``."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        classes_file = root / "classes.txt"
        if not classes_file.is_file():
            raise FileNotFoundError(
                f"dataset {root}: missing classes.txt (one class name per line)"
            )
        self.class_names = tuple(
            line.strip() for line in classes_file.read_text().splitlines() if line.strip()
        )
        self.images = sorted(
            p for p in (root / "images").glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        if not self.images:
            raise FileNotFoundError(f"dataset {root}: no .jpg/.png images in {root / 'images'}")
        self.labels_dir = root / "labels"

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        path = self.images[index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {path}")
        return image, self._read_labels(self.labels_dir / f"{path.stem}.txt")

    def _read_labels(self, path: Path) -> np.ndarray:
        if not path.is_file():
            return np.zeros((0, 5), np.float32)
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        try:
            values = np.array([[float(v) for v in row] for row in rows], np.float32).reshape(-1, 5)
        except ValueError as exc:
            raise ValueError(
                f"{path}: each line must be 'class_id x1 y1 x2 y2', got {rows!r}"
            ) from exc
        class_ids = values[:, 0]
        if np.any(
            (class_ids < 0)
            | (class_ids >= len(self.class_names))
            | (class_ids != np.round(class_ids))
        ):
            raise ValueError(
                f"{path}: class ids must be integers in 0..{len(self.class_names) - 1}"
            )
        return np.concatenate([values[:, 1:5], values[:, 0:1]], axis=1)


def labels_to_targets(labels: np.ndarray, max_labels: int = MAX_LABELS) -> np.ndarray:
    """(N, 5) x1y1x2y2+class to the loss's padded (max_labels, 5) rows ``class, cx, cy, w, h``."""
    targets = np.zeros((max_labels, 5), np.float32)
    labels = labels[:max_labels]
    targets[: len(labels), 0] = labels[:, 4]
    targets[: len(labels), 1:3] = (labels[:, 0:2] + labels[:, 2:4]) / 2
    targets[: len(labels), 3:5] = labels[:, 2:4] - labels[:, 0:2]
    return targets


class TrainBatches:
    """Augmented batches; sample ``slot`` of ``iteration`` always gets the same randomness."""

    def __init__(
        self, source: SceneSource, input_hw: tuple[int, int], config: AugmentConfig, seed: int
    ) -> None:
        self.source, self.input_hw, self.config, self.seed = source, input_hw, config, seed

    def epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, 1]).permutation(len(self.source))

    def batch(
        self, indices: np.ndarray, iteration: int, strong: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 3, H, W] float32 BGR 0..255 and targets [B, MAX_LABELS, 5]."""
        images, targets = [], []
        for slot, index in enumerate(indices):
            rng = np.random.default_rng([self.seed, iteration, slot, 2])
            image, labels = train_sample(
                self.source.load,
                int(index),
                self.input_hw,
                self.config,
                rng,
                len(self.source),
                strong,
            )
            images.append(image.transpose(2, 0, 1))
            targets.append(labels_to_targets(labels))
        return torch.from_numpy(np.stack(images)).float(), torch.from_numpy(np.stack(targets))
