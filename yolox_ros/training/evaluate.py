"""Predictions of a PyTorch YOLOX for evaluation during training.

``predict`` runs the model the way the official evaluator does (letterbox,
confidence 0.01, class-aware NMS at 0.65); ``yolox_ros.datasets.metrics``
scores the result.
"""

from __future__ import annotations

import torch

from yolox_ros.core.detections import Detections
from yolox_ros.core.postprocess import PostprocessSettings, select_detections, visible_in_image
from yolox_ros.core.preprocess import LetterboxBuffers
from yolox_ros.datasets.metrics import EVAL_SETTINGS
from yolox_ros.datasets.records import DetectionDataset


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    dataset: DetectionDataset,
    input_hw: tuple[int, int],
    settings: PostprocessSettings = EVAL_SETTINGS,
    batch_size: int = 32,
) -> list[Detections]:
    """Detections of a PyTorch YOLOX on every image of ``dataset``, boxes in its pixels."""
    was_training = model.training
    decoded = model.head.decode_in_inference
    device = next(model.parameters()).device
    model.eval()
    model.head.decode_in_inference = True
    letterbox = LetterboxBuffers(input_hw)
    results = []
    try:
        for start in range(0, len(dataset), batch_size):
            images = [
                dataset.load(index)[0]
                for index in range(start, min(start + batch_size, len(dataset)))
            ]
            tensor, ratios = letterbox.fill(images)
            outputs = model(torch.from_numpy(tensor).to(device)).float().cpu().numpy()
            for output, ratio, image in zip(outputs, ratios, images, strict=True):
                boxes, scores, class_ids = select_detections(
                    output, input_hw, True, settings, model.head.strides
                )
                boxes, scores, class_ids = visible_in_image(
                    boxes, scores, class_ids, ratio, image.shape[:2]
                )
                names = tuple(dataset.class_names[i] for i in class_ids.tolist())
                results.append(Detections(boxes, scores, class_ids, names))
    finally:
        model.train(was_training)
        model.head.decode_in_inference = decoded
    return results
