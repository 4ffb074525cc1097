"""The node's parameters agree with their one declaration: README table, params files, CLI."""

from __future__ import annotations

import re

import pytest
import yaml
from support import REPO_ROOT

pytest.importorskip("rclpy")

from yolox_ros.cli.detect import _parser  # noqa: E402
from yolox_ros.core.detector import DetectorConfig  # noqa: E402
from yolox_ros.core.settings import BACKEND_SETTINGS, DETECTION_SETTINGS  # noqa: E402
from yolox_ros.errors import ConfigError  # noqa: E402
from yolox_ros.ros import launch_arguments  # noqa: E402
from yolox_ros.ros.param_table import markdown_table  # noqa: E402
from yolox_ros.ros.params import SPECS  # noqa: E402

pytestmark = pytest.mark.ros

README_TABLE = re.compile(
    r"<!-- parameters: generated [^\n]*-->\n(.*?)<!-- parameters: end -->", re.DOTALL
)
README_LAUNCH_TABLE = re.compile(
    r"<!-- launch arguments: generated [^\n]*-->\n(.*?)<!-- launch arguments: end -->", re.DOTALL
)


def test_readme_parameter_table_is_the_generated_one() -> None:
    found = README_TABLE.search((REPO_ROOT / "README.md").read_text())
    assert found, "README.md lost its generated parameter table markers"
    assert found.group(1) == markdown_table(), (
        "README parameter table is stale: regenerate it with "
        "`python -m yolox_ros.ros.param_table --markdown`"
    )


def test_readme_launch_table_is_the_generated_one() -> None:
    found = README_LAUNCH_TABLE.search((REPO_ROOT / "README.md").read_text())
    assert found, "README.md lost its generated launch arguments table markers"
    assert found.group(1) == launch_arguments.markdown_table(), (
        "README launch arguments table is stale: regenerate it with "
        "`python -m yolox_ros.ros.param_table --launch`"
    )


def test_launch_files_declare_their_arguments_from_the_one_table() -> None:
    for path in (REPO_ROOT / "launch").glob("*.launch.py"):
        source = path.read_text()
        assert "DeclareLaunchArgument" not in source, path.name
        assert "declare(" in source, path.name
    for config in launch_arguments.MODEL_CONFIGS.values():
        assert (REPO_ROOT / "config" / config).is_file(), config


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "config").glob("*.yaml")), ids=str)
def test_params_files_name_only_known_parameters_with_valid_values(path) -> None:
    specs = {spec.name: spec for spec in SPECS}
    for node, content in yaml.safe_load(path.read_text()).items():
        parameters = content["ros__parameters"]
        unknown = sorted(set(parameters) - set(specs))
        assert not unknown, f"{path.name}: {node} sets unknown parameters {unknown}"
        for name, value in parameters.items():
            try:
                specs[name].check(tuple(value) if isinstance(value, list) else value)
            except ConfigError as exc:
                pytest.fail(f"{path.name}: {exc}")


def test_detector_and_command_line_defaults_are_the_declared_ones() -> None:
    config = DetectorConfig("model.onnx")
    for spec in (*BACKEND_SETTINGS, *DETECTION_SETTINGS):
        assert getattr(config, spec.name) == spec.default, spec.name
    args = _parser().parse_args(["image.jpg", "--model", "m.onnx"])
    flags = {
        "--backend": "backend", "--device": "device", "--threads": "num_threads",
        "--conf": "conf_threshold", "--nms": "nms_threshold", "--max-det": "max_detections",
    }  # fmt: skip
    declared = {spec.name: spec.default for spec in (*BACKEND_SETTINGS, *DETECTION_SETTINGS)}
    actions = {flag: action for action in _parser()._actions for flag in action.option_strings}
    for flag, name in flags.items():
        assert actions[flag].dest == name, flag
        assert getattr(args, name) == declared[name], flag


def test_a_value_outside_the_declared_range_is_refused_naming_it() -> None:
    conf = next(spec for spec in SPECS if spec.name == "conf_threshold")
    with pytest.raises(ConfigError, match=r"conf_threshold must be a number in \[0, 1\], got 2"):
        conf.check(2)
