"""Keep the training process's freed memory for its next step (glibc malloc).

A training step allocates and frees the same large activation and gradient
buffers every iteration. By default glibc serves every block over its mmap
threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it when freed, so the
kernel zero-fills each of those pages again on first touch, every step: at the
recipe's batch of 64 on a CPU, over half a million page faults a step and a
quarter of its time (``benchmarks/train_memory.py``). Served from the heap and not trimmed,
the pages stay mapped and are reused. Blocks of other sizes then fragment the
heap, so when the input size changes (multiscale, every 10 iterations) the
trainer hands the free pages back at once; the peak resident size is still
0.7-1.5 GB higher than with the defaults at that batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
C_INT_MAX = 2**31 - 1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    except (OSError, AttributeError):  # not glibc (musl has neither)
        return None
    return libc


def reuse_freed_memory() -> bool:
    """Ask malloc to keep freed memory for reuse; False where the C library has no mallopt."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, C_INT_MAX))


def release_freed_memory() -> None:
    """Give every wholly free page of the heap back to the system (``malloc_trim(0)``)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
