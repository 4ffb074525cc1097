"""The trainer keeps freed memory for its next step instead of mapping it in again."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from yolox_ros.training.allocator import reuse_freed_memory

# A 128 MB buffer filled and freed, as a training step does with its activations: how
# much the resident size grows across a fill-and-free, before the call and twice after.
SCRIPT = textwrap.dedent(
    """
    import os
    import numpy as np
    from yolox_ros.training.allocator import reuse_freed_memory

    def resident_growth_of_a_round():
        def resident():
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        start = resident()
        buffer = np.ones(32 * 2**20, np.float32)
        del buffer
        return resident() - start

    before = resident_growth_of_a_round()
    assert reuse_freed_memory()
    print(before, resident_growth_of_a_round(), resident_growth_of_a_round())
    """
)
MB = 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc, /proc")
def test_freed_blocks_stay_mapped_and_are_reused():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    before, first, second = map(int, result.stdout.split())
    assert before < 16 * MB  # by default the block went back to the system when freed
    assert first > 100 * MB  # now it stays mapped after the free...
    assert second < 16 * MB  # ...and the next round reuses it instead of mapping more


def test_reports_whether_malloc_took_the_settings():
    assert reuse_freed_memory() is sys.platform.startswith("linux")
