"""Small ONNX models with the YOLOX input/output layout, for testing backends and the detector.

Each level (stride 8, 16, 32) averages the image over stride x stride cells
and maps the 3 channel means to ``5 + C`` predictions with a fixed random
1x1 convolution; objectness and class columns go through a sigmoid, as in the
official export. The network is meaningless but deterministic, sensitive to
the image, and runs in microseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from yolox_ros.core.postprocess import anchor_grid
from yolox_ros.metadata import DEFAULT_STRIDES, ModelMetadata

OPSET = 13


def write_yolox_like_onnx(
    path: Path,
    *,
    input_size: tuple[int, int] = (64, 96),
    num_classes: int = 3,
    metadata: ModelMetadata | None = None,
    dynamic: bool = False,
    decoded: bool = False,
    seed: int = 0,
) -> Path:
    """Write the model to ``path``; ``dynamic`` makes batch, height and width symbolic."""
    if decoded and dynamic:
        raise ValueError("a decoded test model needs a static input size (its grid is a constant)")
    rng = np.random.default_rng(seed)
    width = 5 + num_classes
    nodes, initializers = [], []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(value, name))
        return name

    level_outputs = []
    for stride in DEFAULT_STRIDES:
        weight = rng.normal(0.0, 0.02, (width, 3, 1, 1)).astype(np.float32)
        bias = rng.normal(0.0, 0.5, (width,)).astype(np.float32)
        nodes += [
            helper.make_node(
                "AveragePool",
                ["images"],
                [f"pool{stride}"],
                kernel_shape=[stride, stride],
                strides=[stride, stride],
            ),
            helper.make_node(
                "Conv",
                [f"pool{stride}", constant(f"w{stride}", weight), constant(f"b{stride}", bias)],
                [f"conv{stride}"],
            ),
            helper.make_node(
                "Reshape",
                [f"conv{stride}", constant(f"shape{stride}", np.array([0, width, -1], np.int64))],
                [f"flat{stride}"],
            ),
        ]
        level_outputs.append(f"flat{stride}")
    nodes += [
        helper.make_node("Concat", level_outputs, ["channels_first"], axis=2),
        helper.make_node("Transpose", ["channels_first"], ["rows"], perm=[0, 2, 1]),
        helper.make_node(
            "Split",
            ["rows", constant("split", np.array([4, 1 + num_classes], np.int64))],
            ["boxes", "logits"],
            axis=2,
        ),
        helper.make_node("Sigmoid", ["logits"], ["probs"]),
    ]
    box_output = "boxes"
    if decoded:
        grid, strides = anchor_grid(input_size)
        nodes += [
            helper.make_node(
                "Split",
                ["boxes", constant("split_xy", np.array([2, 2], np.int64))],
                ["xy", "wh"],
                axis=2,
            ),
            helper.make_node("Add", ["xy", constant("grid", grid[None])], ["xy_cells"]),
            helper.make_node("Mul", ["xy_cells", constant("strides", strides[None])], ["centres"]),
            helper.make_node("Exp", ["wh"], ["wh_cells"]),
            helper.make_node("Mul", ["wh_cells", "strides"], ["sizes"]),
            helper.make_node("Concat", ["centres", "sizes"], ["decoded_boxes"], axis=2),
        ]
        box_output = "decoded_boxes"
    nodes.append(helper.make_node("Concat", [box_output, "probs"], ["output"], axis=2))

    input_shape = ["batch", 3, "height", "width"] if dynamic else [1, 3, *input_size]
    output_shape = ["batch", "anchors", width] if dynamic else [1, None, width]
    graph = helper.make_graph(
        nodes,
        "yolox_like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, metadata.to_props())
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
