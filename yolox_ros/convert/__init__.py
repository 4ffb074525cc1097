"""Conversions of an exported YOLOX ONNX file, without PyTorch: to ncnn (``ncnn.py``, with
pnnx) and to a statically quantised INT8 ONNX file (``int8.py``), each keeping the model's
metadata; ``onnx_layout.py`` names the tensors and opsets of the ONNX files this package
writes. Turning a checkpoint into ONNX needs torch and lives in ``yolox_ros.model.export``;
keeping the conversions apart lets a machine without torch convert a model it was given.
"""
