"""Synthetic scenes on disk: JPEG images plus one COCO detection file.

``python -m yolox_ros synthetic --out DIR`` (``write_dataset``)::

    DIR/images/000000.jpg      scene i from scene_rng(seed, i, theme)
    DIR/annotations.json       COCO: file_name relative to DIR/images

``--drive`` (``drive=True``), a sequence for the image replay node::

    DIR/frame_0000.jpg ...     frames in order
    DIR/annotations.json       COCO: file_name relative to DIR

In ``annotations.json`` category ``id`` is class id + 1 (COCO keeps 0 for
background), in the theme's class order; ``bbox`` is ``[x, y, width, height]`` in
pixels (the box's edges, see ``compositing``), ``area`` its width x height,
``iscrowd`` 0; image and annotation ids count from 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from yolox_ros.synthetic.drive import render_drive
from yolox_ros.synthetic.scenes import render_scene, scene_rng, scene_style
from yolox_ros.synthetic.signs import class_names

ANNOTATIONS = "annotations.json"


def coco_detections(
    names: Iterable[str],
    frames: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    description: str,
) -> dict:
    """A COCO detection document from ``(file_name, image, boxes x1y1x2y2, class_ids)``."""
    images, annotations = [], []
    for image_id, (file_name, image, boxes, class_ids) in enumerate(frames, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": image.shape[1],
                "height": image.shape[0],
            }
        )
        for (x1, y1, x2, y2), class_id in zip(boxes.tolist(), class_ids.tolist(), strict=True):
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)  # area is of the box as written
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": class_id + 1,
                    "bbox": [round(x1, 2), round(y1, 2), w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                }
            )
    return {
        "info": {"description": description},
        "categories": [
            {"id": i, "name": name, "supercategory": "sign"} for i, name in enumerate(names, 1)
        ],
        "images": images,
        "annotations": annotations,
    }


# The replay node's frames are re-encoded at a camera's usual quality; scenes for training keep
# more detail.
SCENE_JPEG_QUALITY, DRIVE_JPEG_QUALITY = 92, 80


def write_dataset(
    out: Path,
    count: int,
    seed: int,
    width: int | None = None,
    height: int | None = None,
    theme: str = "street",
    drive: bool = False,
    jpeg_quality: int | None = None,
) -> None:
    """Write ``count`` random ``theme`` scenes (scene i from ``scene_rng(seed, i, theme)``)
    under ``out/images``, or with ``drive`` a ``render_drive`` sequence into ``out``, and their
    ``out/annotations.json``; each JPEG is written as it is rendered."""
    out = Path(out)
    if drive:
        image_dir, kind = out, "drive"
        frames = (
            (f"frame_{index:04d}.jpg", *frame)
            for index, frame in enumerate(render_drive(seed, count, width, height, theme))
        )
    else:
        image_dir, kind = out / "images", "scenes"
        width, height = width or scene_style(theme).size[0], height or scene_style(theme).size[1]
        frames = (
            (
                f"{index:06d}.jpg",
                *render_scene(scene_rng(seed, index, theme), width, height, theme=theme),
            )
            for index in range(count)
        )
    if jpeg_quality is None:
        jpeg_quality = DRIVE_JPEG_QUALITY if drive else SCENE_JPEG_QUALITY
    image_dir.mkdir(parents=True, exist_ok=True)

    def written():
        for file_name, image, boxes, class_ids in frames:
            cv2.imwrite(str(image_dir / file_name), image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            yield file_name, image, boxes, class_ids

    description = f"yolox_ros synthetic {theme} {kind}, seed {seed}"
    document = coco_detections(class_names(theme), written(), description)
    (out / ANNOTATIONS).write_text(json.dumps(document, indent=1) + "\n")
