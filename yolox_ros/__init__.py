"""YOLOX object detection for ROS 2.

Importing this package is cheap: it imports neither ROS, nor an inference
runtime, nor PyTorch. Those are imported by the modules that need them.
The version is package.xml's (``importlib.metadata.version("yolox_ros")`` once installed).
"""
