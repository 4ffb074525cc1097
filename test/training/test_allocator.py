"""The trainer keeps freed memory for its next step, and hands it back when told to."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from yolox_ros.training.allocator import reuse_freed_memory

# A 128 MB buffer filled and freed, as a training step does with its activations: how the
# resident size moves across such a round, before the call, twice after it, and across a
# release.
SCRIPT = textwrap.dedent(
    """
    import os
    import numpy as np
    from yolox_ros.training.allocator import release_freed_memory, reuse_freed_memory

    def resident():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def growth(action):
        start = resident()
        action()
        return resident() - start

    def fill_and_free():
        buffer = np.ones(32 * 2**20, np.float32)
        del buffer

    before = growth(fill_and_free)
    assert reuse_freed_memory()
    print(before, growth(fill_and_free), growth(fill_and_free), growth(release_freed_memory))
    """
)
MB = 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc, /proc")
def test_freed_blocks_stay_mapped_are_reused_and_go_back_on_release():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    before, first, second, released = map(int, result.stdout.split())
    assert before < 16 * MB  # by default the block went back to the system when freed
    assert first > 100 * MB  # now it stays mapped after the free...
    assert second < 16 * MB  # ...the next round reuses it instead of mapping more...
    assert released < -100 * MB  # ...and a release hands it back


def test_reports_whether_malloc_took_the_settings():
    assert reuse_freed_memory() is sys.platform.startswith("linux")
