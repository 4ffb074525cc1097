"""The result type of the detector: boxes in original-image pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Detections of one image, sorted by decreasing score.

    ``boxes`` are ``x1, y1, x2, y2`` in pixels of the image given to the
    detector (not of the network input), clipped to that image.
    """

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]  # (N,) name of each detection's class

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            class_ids=np.zeros((0,), np.int64),
            class_names=(),
        )

    def subset(self, rows: np.ndarray) -> Detections:
        """The detections at ``rows`` (indices, or a boolean mask), in that order."""
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        return Detections(
            boxes=self.boxes[rows],
            scores=self.scores[rows],
            class_ids=self.class_ids[rows],
            class_names=tuple(self.class_names[i] for i in rows.tolist()),
        )

    def to_dicts(self) -> list[dict]:
        """One JSON-ready dict per detection."""
        return [
            {
                "x1": float(b[0]),
                "y1": float(b[1]),
                "x2": float(b[2]),
                "y2": float(b[3]),
                "score": float(s),
                "class_id": int(c),
                "class_name": n,
            }
            for b, s, c, n in zip(
                self.boxes, self.scores, self.class_ids, self.class_names, strict=False
            )
        ]
