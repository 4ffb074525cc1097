"""Command lines (argparse only): ``python -m yolox_ros COMMAND``, one module per command."""

import os
import sys


def stdout_closed() -> int:
    """The exit status after the reader of stdout left (``... | head``): 0, as for any filter.

    Python flushes stdout again at exit and would fail once more: it is pointed at devnull.
    """
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
