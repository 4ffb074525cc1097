"""The last value each parameter was given on the command line, as rcl reads it.

rcl merges ``--params-file`` files and ``-p name:=value`` in order, but a
later value of another type does not replace an earlier one: both stay in
rcl's variant and rclpy reads the first type it finds (``--params-file
traffic_sign.yaml -p conf_threshold:=high`` starts at 0.5, silently). Reading
the arguments again here lets the node refuse such a value with one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from yolox_ros.errors import ConfigError

ROS_ARGS, END_ROS_ARGS = "--ros-args", "--"
PARAMS_FILE_FLAGS = ("--params-file",)
PARAM_FLAGS = ("-p", "--param")


def last_values(argv: Sequence[str], node_fqn: str) -> dict[str, tuple[object, str]]:
    """``name -> (value, where it came from)`` for ``node_fqn``, the last given winning."""
    values: dict[str, tuple[object, str]] = {}
    for flag, argument in _ros_arguments(argv):
        if flag in PARAMS_FILE_FLAGS:
            for name, value in _file_values(Path(argument), node_fqn).items():
                values[name] = (value, argument)
        elif flag in PARAM_FLAGS:
            name, separator, text = argument.partition(":=")
            node, _, parameter = name.rpartition(":")
            if separator and (not node or _matches(node, node_fqn)):
                values[parameter] = (_yaml_value(text), f"-p {argument}")
    return values


def _ros_arguments(argv: Sequence[str]) -> list[tuple[str, str]]:
    pairs, inside, flag = [], False, None
    for word in argv:
        if word == ROS_ARGS:
            inside, flag = True, None
        elif inside and word == END_ROS_ARGS:
            inside = False
        elif inside and flag is not None:
            pairs.append((flag, word))
            flag = None
        elif inside and word in (*PARAMS_FILE_FLAGS, *PARAM_FLAGS):
            flag = word
    return pairs


def _yaml_value(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _file_values(path: Path, node_fqn: str) -> dict[str, object]:
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}  # rcl has refused it already, with its own message
    values: dict[str, object] = {}
    if not isinstance(content, dict):
        return values
    for pattern, section in content.items():
        if isinstance(section, dict) and _matches(str(pattern), node_fqn):
            parameters = section.get("ros__parameters")
            if isinstance(parameters, dict):
                values.update(_flattened(parameters))
    return values


def _flattened(parameters: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flattened(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _matches(pattern: str, node_fqn: str) -> bool:
    """rcl's node-name patterns: ``/**`` (any node), ``/**/name``, ``/ns/*``, a plain name."""
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    regex = re.escape(pattern).replace(r"/\*\*/", "(/.*)?/").replace(r"\*\*", ".*")
    return re.fullmatch(regex.replace(r"\*", "[^/]*"), node_fqn) is not None


_KIND_OF = {bool: "bool", int: "int", float: "float", str: "str"}


def value_kind(value: object) -> str:
    """The parameter kind a value read from YAML is (``names`` for a list of strings,
    ``floats`` for one of numbers)."""
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "names"
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        return "floats" if numbers else "list"
    return _KIND_OF.get(type(value), type(value).__name__)


def check_kinds(values: dict[str, tuple[object, str]], kinds: dict[str, str]) -> None:
    """``ConfigError`` for the first declared parameter whose last value has another kind."""
    for name, (value, source) in values.items():
        kind = kinds.get(name)
        given = value_kind(value)
        if kind is None or given == kind or (kind == "float" and given == "int"):
            continue
        if kind in ("names", "floats") and value == []:
            continue  # an empty YAML list has no element type
        article = "an" if kind[0] in "aeiou" else "a"
        raise ConfigError(f"{name}: {value!r} (from {source}) is not {article} {kind}")
