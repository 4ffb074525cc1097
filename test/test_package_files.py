"""package:// paths: files shipped with the package, never a file outside it."""

from __future__ import annotations

import pytest

from yolox_ros.package_files import SOURCE_ROOT, resolve_package_url, shipped_path


def test_a_shipped_model_resolves_inside_the_package():
    path = resolve_package_url("package://yolox_ros/models/track_sign_nano.onnx")
    assert path.is_file()
    assert path.name == "track_sign_nano.onnx"


@pytest.mark.parametrize(
    "url",
    [
        "package://yolox_ros/../../etc/passwd",
        "package://yolox_ros/../../../../tmp/x/m.onnx",
        "package://yolox_ros//tmp/x/m.onnx",
        "package://yolox_ros/models/../../../etc/passwd",
    ],
)
def test_a_package_url_that_leaves_the_package_is_refused(url):
    with pytest.raises(ValueError, match="leaves the package's directory"):
        resolve_package_url(url)


def test_a_path_inside_the_package_may_use_dot_dot_within_it():
    assert shipped_path("config/../models/track_sign_nano.onnx").is_file()
    with pytest.raises(ValueError):
        shipped_path("../outside")


def test_a_plain_path_is_returned_as_it_is():
    assert str(resolve_package_url("/tmp/m.onnx")) == "/tmp/m.onnx"
    assert SOURCE_ROOT.is_dir()
