"""Drawing detections on images (shared by the ROS node's debug image and the detect command)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from yolox_ros.core.detections import Detections
from yolox_ros.core.preprocess import validate_image

FONT = cv2.FONT_HERSHEY_SIMPLEX
# Sizes are tuned for a 640-pixel image and scale with the image's longer side.
REFERENCE_SIDE = 640.0
GOLDEN_RATIO_CONJUGATE = 0.618033988749895
# Perceived luminance (ITU-R BT.601) above which black text reads better than white.
LIGHT_BACKGROUND = 140


def class_color(class_id: int) -> tuple[int, int, int]:
    """A saturated BGR colour per class; consecutive ids get far-apart hues."""
    hue = (class_id * GOLDEN_RATIO_CONJUGATE) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(blue * 255), int(green * 255), int(red * 255)


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = background
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    return (0, 0, 0) if luminance > LIGHT_BACKGROUND else (255, 255, 255)


def draw_detections(
    image: np.ndarray, detections: Detections, track_ids: Sequence[str] | None = None
) -> np.ndarray:
    """A copy of ``image`` (BGR uint8) with each detection's box and a "name score" label,
    "#id name score" for a detection with a track id.

    Labels are text in black or white, whichever contrasts with a filled box
    of the class colour, so they read on any background. A label sits above
    its box, or inside it at the top when the box touches the image's top edge.
    """
    validate_image(image)
    labels = [
        f"#{track_id} {name} {score:.2f}" if track_id else f"{name} {score:.2f}"
        for name, score, track_id in zip(
            detections.class_names,
            detections.scores.tolist(),
            track_ids if track_ids is not None else [""] * len(detections),
            strict=True,
        )
    ]
    return draw_boxes(image, detections.boxes, detections.class_ids, labels)


def draw_boxes(
    image: np.ndarray, boxes: np.ndarray, class_ids: np.ndarray, labels: Sequence[str]
) -> np.ndarray:
    """A copy of ``image`` with each x1y1x2y2 box in its class colour, its label above it
    (as ``draw_detections`` draws them)."""
    canvas = np.ascontiguousarray(image).copy()
    height, width = canvas.shape[:2]
    scale = max(height, width) / REFERENCE_SIDE
    line = max(1, round(2 * scale))
    font_scale = min(max(0.5 * scale, 0.35), 3.0)
    text_line = max(1, round(font_scale * 2))
    padding = max(1, round(3 * scale))

    for box, class_id, label in zip(boxes, class_ids, labels, strict=True):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        color = class_color(int(class_id))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, line)

        (text_w, text_h), baseline = cv2.getTextSize(label, FONT, font_scale, text_line)
        label_w, label_h = text_w + 2 * padding, text_h + baseline + 2 * padding
        top = y1 - label_h if y1 - label_h >= 0 else y1
        left = max(0, min(x1, width - label_w))
        cv2.rectangle(canvas, (left, top), (left + label_w, top + label_h), color, cv2.FILLED)
        cv2.putText(
            canvas,
            label,
            (left + padding, top + padding + text_h),
            FONT,
            font_scale,
            _text_color(color),
            text_line,
            cv2.LINE_AA,
        )
    return canvas
