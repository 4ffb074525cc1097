"""Conversion of a YOLOX ONNX file to ncnn (``.param`` + ``.bin`` + ``.json`` metadata sidecar).

pnnx does the conversion; the Focus stem's strided slices, which ncnn cannot
run, are first rewritten as an equivalent convolution. No torch needed.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from yolox_ros.errors import ConfigError, ModelLoadError
from yolox_ros.metadata import ModelMetadata, sidecar_path


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _pixel_offset(
    name: str, source: str, producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray]
) -> tuple[int, int] | None:
    """(dy, dx) when ``name`` is ``source[..., dy::2, dx::2]`` built from Slice nodes, else None."""
    offsets: dict[int, int] = {}
    while name != source:
        node = producers.get(name)
        if node is None or node.op_type != "Slice" or len(node.input) != 5:
            return None
        try:
            starts, axes, steps = (constants[node.input[i]] for i in (1, 3, 4))
        except KeyError:
            return None
        for start, axis, step in zip(starts, axes, steps, strict=True):
            if step != 2 or start not in (0, 1):
                return None
            offsets[int(axis) % 4] = int(start)
        name = node.input[0]
    if set(offsets) != {2, 3}:
        return None
    return offsets[2], offsets[3]


def _focus_as_convolution(graph: onnx.GraphProto) -> None:
    """Replace the stem's strided slices + concat (Focus) with an equivalent 2x2 stride-2 conv.

    ncnn has no layer for slices with a step, so the converted net would not
    load. A convolution whose weights are one-hot picks the same pixels in the
    same channel order; multiplying by 1 and adding zeros is exact in float32.
    """
    source = graph.input[0].name
    channels = graph.input[0].type.tensor_type.shape.dim[1].dim_value
    producers = {output: node for node in graph.node for output in node.output}
    constants = _constants(graph)
    for position, concat in enumerate(graph.node):
        if concat.op_type != "Concat":
            continue
        offsets = [_pixel_offset(name, source, producers, constants) for name in concat.input]
        if None in offsets:
            continue
        weight = np.zeros((len(offsets) * channels, channels, 2, 2), np.float32)
        for branch, (dy, dx) in enumerate(offsets):
            for channel in range(channels):
                weight[branch * channels + channel, channel, dy, dx] = 1.0
        weight_name = f"{concat.name or 'focus'}_space_to_depth_weight"
        graph.initializer.append(numpy_helper.from_array(weight, weight_name))
        conv = helper.make_node(
            "Conv",
            [source, weight_name],
            list(concat.output),
            name=f"{concat.name or 'focus'}_space_to_depth",
            kernel_shape=[2, 2],
            strides=[2, 2],
        )
        graph.node.remove(concat)
        graph.node.insert(position, conv)
        _drop_unused_nodes(graph)
        return
    raise ModelLoadError("no Focus stem (strided slices of the input) found in the ONNX graph")


def _drop_unused_nodes(graph: onnx.GraphProto) -> None:
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))


def _pnnx_executable() -> str:
    """The executable the pnnx package ships (its ``EXEC_PATH``), found without importing
    the package: ``import pnnx`` imports torch, which converting an ONNX file does not need."""
    spec = importlib.util.find_spec("pnnx")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    name = "pnnx.exe" if platform.system() == "Windows" else "pnnx"
    for folder in folders:
        if (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    raise ConfigError("ncnn export needs the pnnx converter: pip install pnnx")


def ncnn_paths(param_path: str | Path) -> tuple[Path, Path, Path]:
    """The three files of an ncnn model: ``m.param``, ``m.bin`` and the metadata ``m.json``."""
    param_path = Path(param_path)
    if param_path.suffix != ".param":
        raise ConfigError(f"an ncnn model path must end in .param, got {param_path}")
    return param_path, param_path.with_suffix(".bin"), sidecar_path(param_path)


def export_ncnn(onnx_path: str | Path, param_path: str | Path) -> Path:
    """Convert a YOLOX ONNX file (as ``export_onnx`` writes) to ncnn with pnnx; returns the .param.

    Writes ``m.param`` and ``m.bin`` (float32 weights, so results match the
    ONNX model) and ``m.json`` with the ONNX file's ``ModelMetadata``, which
    the ncnn backend reads. The input size is fixed at the ONNX file's.
    """
    executable = _pnnx_executable()
    param_path, bin_path, metadata_path = ncnn_paths(param_path)
    proto = onnx.load(str(onnx_path))
    metadata = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    height, width = metadata.input_size or (dims[2], dims[3])
    if not height or not width:
        raise ConfigError(f"{onnx_path} has no fixed input size and no input_size metadata")
    metadata = ModelMetadata(
        class_names=metadata.class_names,
        input_size=(height, width),
        model_name=metadata.model_name,
        decoded=metadata.decoded,
        strides=metadata.strides,
    )
    _focus_as_convolution(proto.graph)

    param_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yolox_ncnn_") as work:
        work_dir = Path(work)
        source = work_dir / "model.onnx"
        onnx.save(proto, str(source))
        # pnnx writes several intermediate files next to its input unless told where.
        outputs = {
            key: work_dir / name
            for key, name in (
                ("pnnxparam", "model.pnnx.param"),
                ("pnnxbin", "model.pnnx.bin"),
                ("pnnxpy", "model_pnnx.py"),
                ("pnnxonnx", "model.pnnx.onnx"),
                ("ncnnparam", "model.ncnn.param"),
                ("ncnnbin", "model.ncnn.bin"),
                ("ncnnpy", "model_ncnn.py"),
            )
        }
        command = [
            executable,
            str(source),
            f"inputshape=[1,3,{height},{width}]",
            "fp16=0",
            *(f"{key}={path}" for key, path in outputs.items()),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not outputs["ncnnparam"].is_file():
            raise ModelLoadError(
                f"pnnx could not convert {onnx_path}: {result.stderr.strip()[-2000:]}"
            )
        unsupported = [
            line for line in result.stderr.splitlines() if "not supported" in line.lower()
        ]
        if unsupported:
            raise ModelLoadError(f"pnnx left unsupported layers: {'; '.join(unsupported[:5])}")
        shutil.move(outputs["ncnnparam"], param_path)
        shutil.move(outputs["ncnnbin"], bin_path)
    metadata_path.write_text(metadata.to_json() + "\n", encoding="utf-8")
    return param_path
