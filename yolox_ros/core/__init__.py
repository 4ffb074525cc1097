"""The ROS-free detector: image in, detections in the image's pixels out.

No rclpy and no PyTorch here (only the torch backend imports torch, when chosen).
"""

from yolox_ros.core.detections import Detections
from yolox_ros.core.detector import Detector, DetectorConfig

__all__ = ["Detections", "Detector", "DetectorConfig"]
