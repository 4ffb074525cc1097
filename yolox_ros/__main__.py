"""``python -m yolox_ros COMMAND ...``: the offline command lines in one place.

Each command is a module of ``yolox_ros.cli`` with a ``main(argv) -> exit code``;
it is imported only when chosen, so ``detect`` never imports PyTorch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from yolox_ros.cli import stdout_closed

COMMANDS = {
    "detect": "detect objects in images, a directory or a video",
    "export": "export a checkpoint to ONNX with class names in its metadata",
    "train": "train a YOLOX and export it to ONNX",
    "synthetic": "write synthetic traffic scenes as a dataset",
    "check": "summarise a labelled dataset (COCO, VOC, YOLO) and list its problems",
    "eval": "measure a model on a labelled dataset (COCO metrics, recall by size)",
}


def usage() -> str:
    lines = ["usage: python -m yolox_ros COMMAND [--help] ...", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        return stdout_closed()


def _run(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"python -m yolox_ros: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"yolox_ros.cli.{command}")
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
