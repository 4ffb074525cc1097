"""Keep the training process's freed memory for its next step (glibc malloc).

A training step allocates and frees the same large activation and gradient
buffers every iteration. By default glibc serves every block over its mmap
threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it when freed, so the
kernel zero-fills each of those pages again on first touch, every step: at the
recipe's batch of 64 on a CPU that is millions of page faults a step and 1.7x
the step's time (``benchmarks/train_benchmark.py --batch 64``). Serving them
from the heap and never trimming it makes the pages stay mapped and be reused;
the process keeps its peak resident size instead of returning memory between
steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
C_INT_MAX = 2**31 - 1


def reuse_freed_memory() -> bool:
    """Ask malloc to keep freed memory for reuse; False where the C library has no mallopt."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, C_INT_MAX))
