"""The README's generated tables: the node's parameters (from their declarations) and the
launch files' arguments (from ``launch_arguments``).

``python -m yolox_ros.ros.param_table --markdown`` (or ``--launch``) prints one;
test/ros/test_params.py compares both with the README's.
"""

from __future__ import annotations

import argparse
from typing import Any

from yolox_ros.ros import launch_arguments
from yolox_ros.ros.params import SPECS

_README_TYPES = {
    "float": "double",
    "int": "int",
    "bool": "bool",
    "str": "string",
    "names": "string[]",
    "floats": "double[]",
}


def markdown_table() -> str:
    """The README's parameter table, one row per parameter."""
    rows = [
        "| name | type | default | live | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in SPECS:
        meaning = f"{spec.description}; {spec.range_text}" if spec.range_text else spec.description
        rows.append(
            f"| `{spec.name}` | {_README_TYPES[spec.kind]} | `{yaml_value(spec.default)}` | "
            f"{'yes' if spec.live else 'no'} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


def yaml_value(value: Any) -> str:
    """A value as a params file writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return f"[{', '.join(f'{v:g}' if isinstance(v, float) else v for v in value)}]"
    if value == "":
        return '""'
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m yolox_ros.ros.param_table", description=__doc__
    )
    parser.add_argument("--markdown", action="store_true", help="print the parameters table")
    parser.add_argument("--launch", action="store_true", help="print the launch arguments table")
    args = parser.parse_args()
    if args.markdown:
        print(markdown_table(), end="")
    elif args.launch:
        print(launch_arguments.markdown_table(), end="")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
