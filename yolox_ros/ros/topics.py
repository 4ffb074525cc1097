"""Where a camera's outputs go: the namespace of its image topic."""

from __future__ import annotations


def output_namespace(input_topic: str) -> str:
    """Where a camera's outputs go: the namespace of its image topic.

    ``image_raw`` -> ``""`` (outputs ``detections``...), ``front/image_raw`` ->
    ``front`` (``front/detections``...), ``/car/front/image_raw`` -> ``/car/front``.
    """
    namespace = input_topic.rstrip("/").rpartition("/")[0]
    return "/" if not namespace and input_topic.startswith("/") else namespace


def output_topic(namespace: str, name: str) -> str:
    if not namespace:
        return name
    return namespace + name if namespace.endswith("/") else f"{namespace}/{name}"
