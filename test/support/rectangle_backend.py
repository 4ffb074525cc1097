"""A real inference backend for tests: it "detects" one rectangle of a known colour.

Its "model file" is JSON (see ``write_rectangle_model``). ``run`` looks at the
letterboxed network input it receives, finds the pixels of the target colour
and emits the YOLOX output encoding of their bounding box: at the stride-8
anchor whose cell holds the box centre (score 0.9 x 0.95), plus a weaker
duplicate at the stride-16 anchor that NMS must remove. Everything else is
zero. So the detector's result shows whether letterbox, decode and mapping
back to original pixels are right.

With ``colors_bgr`` (one colour per class) it detects one rectangle of each
colour present instead: the tracking tests move several signs.

Tests make it discoverable through the ``yolox_ros.backends`` entry-point
group with ``declare_entry_points``, as a third-party package would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yolox_ros.core.postprocess import anchor_count
from yolox_ros.metadata import ModelMetadata

ENTRY_POINT_NAME = "rectangle"
OBJECTNESS = 0.9
CLASS_PROBABILITY = 0.95
OTHER_CLASS_PROBABILITY = 0.02
DUPLICATE_OBJECTNESS = 0.6


def write_rectangle_model(
    path: Path,
    *,
    color_bgr: tuple[int, int, int],
    background_bgr: tuple[int, int, int],
    class_id: int = 1,
    num_classes: int = 3,
    input_size: tuple[int, int] = (416, 416),
    class_names: list[str] | None = None,
    decoded: bool | None = False,
    batch: int | None = None,
    colors_bgr: list[tuple[int, int, int]] | None = None,
) -> Path:
    """Write the JSON "model"; ``batch`` None makes the batch dimension dynamic;
    ``colors_bgr``: class i is the colour ``colors_bgr[i]`` (``color_bgr`` then unused)."""
    spec = {
        "colors_bgr": [list(c) for c in colors_bgr] if colors_bgr else None,
        "color_bgr": list(color_bgr),
        "background_bgr": list(background_bgr),
        "class_id": class_id,
        "num_classes": num_classes,
        "input_size": list(input_size),
        "class_names": class_names,
        "decoded": decoded,
        "batch": batch,
    }
    path.write_text(json.dumps(spec))
    return path


def declare_entry_points(site_dir: Path, entries: Mapping[str, str]) -> None:
    """Create an installed-distribution record in ``site_dir`` declaring ``entries``."""
    dist_info = site_dir / "det_test_backends-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: det-test-backends\nVersion: 1.0\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (dist_info / "entry_points.txt").write_text(f"[yolox_ros.backends]\n{lines}")


class RectangleBackend:
    """See the module docstring; follows ``yolox_ros.core.backends.Backend``."""

    name = ENTRY_POINT_NAME

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        num_threads: int = 0,
        strict_device: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        spec = json.loads(Path(model_path).read_text())
        if spec.get("colors_bgr"):
            self._targets = list(enumerate(np.array(spec["colors_bgr"], np.float32)))
        else:
            self._targets = [(spec["class_id"], np.array(spec["color_bgr"], np.float32))]
        self._background = np.array(spec["background_bgr"], np.float32)
        self._num_classes = spec["num_classes"]
        self._decoded = bool(spec["decoded"])
        self._input_size = tuple(spec["input_size"])
        names = spec["class_names"]
        self.metadata = ModelMetadata(
            class_names=tuple(names) if names is not None else None,
            input_size=self._input_size,
            decoded=spec["decoded"],
        )
        self.input_shape = (spec["batch"], 3, *self._input_size)
        self.output_width = 5 + self._num_classes
        self.device = "cpu"
        self.providers = ("numpy",)

    def _boxes(self, image_chw: np.ndarray) -> list[tuple[int, tuple[float, ...]]]:
        """(class id, input-pixel x1, y1, x2, y2) of the pixels nearest each target colour."""
        pixels = image_chw.transpose(1, 2, 0)
        colors = [self._background, *(color for _, color in self._targets)]
        nearest = np.argmin([np.linalg.norm(pixels - c, axis=2) for c in colors], axis=0)
        boxes = []
        for index, (class_id, _) in enumerate(self._targets, start=1):
            rows, cols = np.nonzero(nearest == index)
            if rows.size:
                box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
                boxes.append((class_id, tuple(float(v) for v in box)))
        return boxes

    def _encode(
        self, box: tuple[float, float, float, float], stride: int
    ) -> tuple[int, np.ndarray]:
        """Row index and box columns of the stride-``stride`` anchor holding the box centre."""
        x1, y1, x2, y2 = box
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        cell_x, cell_y = int(cx // stride), int(cy // stride)
        first_row = 0
        for level_stride in (8, 16, 32):
            if level_stride == stride:
                break
            first_row += (self._input_size[0] // level_stride) * (
                self._input_size[1] // level_stride
            )
        row = first_row + cell_y * (self._input_size[1] // stride) + cell_x
        if self._decoded:
            return row, np.array([cx, cy, w, h], np.float32)
        raw = [cx / stride - cell_x, cy / stride - cell_y, np.log(w / stride), np.log(h / stride)]
        return row, np.array(raw, np.float32)

    def run(self, batch: np.ndarray) -> np.ndarray:
        rows = anchor_count(self._input_size)
        output = np.zeros((batch.shape[0], rows, 5 + self._num_classes), np.float32)
        for index, image in enumerate(batch):
            for class_id, box in self._boxes(image):
                class_probs = np.full(self._num_classes, OTHER_CLASS_PROBABILITY, np.float32)
                class_probs[class_id] = CLASS_PROBABILITY
                for stride, objectness in ((8, OBJECTNESS), (16, DUPLICATE_OBJECTNESS)):
                    row, box_columns = self._encode(box, stride)
                    output[index, row, :4] = box_columns
                    output[index, row, 4] = objectness
                    output[index, row, 5:] = class_probs
        return output
