"""YOLOX object detection for ROS 2.

Importing this package is cheap: it imports neither ROS, nor an inference
runtime, nor PyTorch. Those are imported by the modules that need them.
"""

__version__ = "0.1.0"
