"""Detection datasets: read users' labelled photos into one in-memory form.

``formats.open_dataset`` reads COCO JSON, Pascal VOC XML or YOLO txt (as
exported by CVAT, Label Studio, Roboflow or labelme converters) into a
``DetectionDataset`` (``records``); ``splits.split_by_group`` holds images out
for validation without leaking copies of one frame across the split;
``classes.select_classes`` keeps, reorders or renames classes;
``summary.summarize`` counts what is there and finds images that will not
decode. Import-light on purpose (numpy and OpenCV only: no torch, no ROS), so
the ``check`` command and the node can use it.
"""

from yolox_ros.datasets.classes import class_selection, select_classes
from yolox_ros.datasets.formats import FORMATS, detect_format, open_dataset
from yolox_ros.datasets.records import DatasetError, DetectionDataset, ImageRecord
from yolox_ros.datasets.splits import group_names, split_by_group
from yolox_ros.datasets.summary import DatasetSummary, summarize

__all__ = [
    "FORMATS",
    "DatasetError",
    "DatasetSummary",
    "DetectionDataset",
    "ImageRecord",
    "class_selection",
    "detect_format",
    "group_names",
    "open_dataset",
    "select_classes",
    "split_by_group",
    "summarize",
]
