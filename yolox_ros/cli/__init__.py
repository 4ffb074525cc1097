"""Command lines (argparse only): ``python -m yolox_ros COMMAND``, one module per command."""

import argparse
import os
import sys


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one readable line (exit status 2), not usage plus message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def comma_names(text: str) -> tuple[str, ...]:
    """``NAME,NAME,...`` from a command line (an argparse type), spaces around names dropped;
    an empty name (``a,,b``, a trailing comma) is refused rather than guessed."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"an empty name in {text!r}: give NAME,NAME,...")
    return names


def stdout_closed() -> int:
    """The exit status after the reader of stdout left (``... | head``): 0, as for any filter.

    Python flushes stdout again at exit and would fail once more: it is pointed at devnull.
    """
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
