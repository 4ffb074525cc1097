"""Checkpoints carry the model's metadata in the form an exported model does (ModelMetadata)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from yolox_ros.errors import ModelLoadError
from yolox_ros.metadata import ModelMetadata
from yolox_ros.model import build_model, read_checkpoint

META = ModelMetadata(class_names=("left", "right"), input_size=(480, 640), model_name="nano")


@pytest.fixture(scope="module")
def state_dict() -> dict[str, torch.Tensor]:
    return build_model("nano", 2).state_dict()


def test_meta_written_as_values_reads_back_as_the_same_metadata(tmp_path: Path, state_dict):
    path = tmp_path / "best.pt"
    torch.save({"model": state_dict, "meta": META.to_values()}, path)
    checkpoint = read_checkpoint(path)
    assert checkpoint.meta == META and checkpoint.num_classes == 2


def test_a_checkpoint_of_an_earlier_version_without_strides_reads(tmp_path: Path, state_dict):
    path = tmp_path / "old.pt"
    meta = {"model_name": "nano", "class_names": ["left", "right"], "input_size": [480, 640]}
    torch.save({"model": state_dict, "meta": meta}, path)
    assert read_checkpoint(path).meta == META


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"class_names": "left,right"}, "'class_names' must be a list of strings"),
        ({"input_size": [480]}, r"'input_size' must be \[height, width\], got \[480\]"),
        ({"model_name": 3}, "'model_name' must be a string, got 3"),
        ("nano", "'meta' must be a dict, got str"),
    ],
)
def test_bad_meta_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, state_dict, meta, message
):
    path = tmp_path / "bad.pt"
    torch.save({"model": state_dict, "meta": meta}, path)
    with pytest.raises(ModelLoadError, match=f"checkpoint {path}: .*{message}") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)
