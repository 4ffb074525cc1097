"""Compiled kernels: built once per machine and cached, once between processes, on
PyTorch's own OpenMP runtime (each case in fresh processes, as runs and torchrun ranks are)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yolox_ros.training.kernels import build

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here")

# Loads the fused kernel in a fresh process and prints which OpenMP runtimes were mapped
# before and after, and the cached library's path.
LOAD = textwrap.dedent(
    """
    import sys
    if len(sys.argv) > 1:
        __import__(sys.argv[1])  # a package bringing an OpenMP runtime of its own, first
    import torch
    from yolox_ros.training.kernels import build
    from yolox_ros.training.kernels.fused_bn_silu import SOURCE
    from importlib import resources
    before = build.openmp_runtimes()
    source = resources.files("yolox_ros.training.kernels").joinpath(SOURCE).read_text()
    _, path = build.load_library("fused_bn_silu", source)
    after = build.openmp_runtimes()
    print(sorted(map(str, before)), sorted(map(str, after)), path, sep="\\n")
    """
)


def counting_compiler(tmp_path: Path, delay_s: float = 0.0) -> tuple[str, Path]:
    """A ``$CC`` that runs ``cc`` and appends a line to a log for each call."""
    calls = tmp_path / "calls.log"
    script = tmp_path / "counting-cc"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nsleep {delay_s}\nexec cc "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), calls


def load_in_process(env: dict[str, str], *first_imports: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LOAD, *first_imports],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def environment(tmp_path: Path, cc: str) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "CC": cc,
        "OMP_NUM_THREADS": "1",
    }


def finished(process: subprocess.Popen) -> list[str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out.splitlines()


def test_built_once_then_loaded_from_the_cache_without_the_compiler(tmp_path: Path) -> None:
    cc, calls = counting_compiler(tmp_path)
    env = environment(tmp_path, cc)
    first = finished(load_in_process(env))
    builds = calls.read_text().splitlines()
    assert len(builds) == 2  # compile, link
    second = finished(load_in_process(env))
    assert calls.read_text().splitlines() == builds
    assert first[2] == second[2]
    assert Path(first[2]).parent == tmp_path / "cache" / "yolox_ros" / "kernels"


def test_processes_starting_together_build_it_once(tmp_path: Path) -> None:
    cc, calls = counting_compiler(tmp_path, delay_s=0.5)
    env = environment(tmp_path, cc)
    processes = [load_in_process(env) for _ in range(3)]
    paths = {finished(process)[2] for process in processes}
    assert len(paths) == 1
    assert len(calls.read_text().splitlines()) == 2


def test_the_kernel_brings_no_second_openmp_runtime(tmp_path: Path) -> None:
    """It needs the runtime PyTorch loaded (whatever its name), not the compiler's default."""
    before, after, _ = finished(load_in_process(environment(tmp_path, "cc")))
    assert before == after
    assert len(eval(before)) == 1  # noqa: S307 - our own subprocess's printed list


def test_another_packages_openmp_runtime_is_not_taken_for_pytorchs(tmp_path: Path) -> None:
    """ncnn's wheel brings its own renamed libgomp; the kernel still gets PyTorch's."""
    pytest.importorskip("ncnn")
    before, after, _ = finished(load_in_process(environment(tmp_path, "cc"), "ncnn"))
    assert before == after
    runtimes = eval(before)  # noqa: S307 - our own subprocess's printed list
    assert len(runtimes) == 2 and str(build.pytorch_openmp_runtime()) in runtimes


def test_another_source_or_cpu_gets_its_own_build(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Path("/lib/libgomp.so.1")
    path = build.library_path("k", "int f(void) { return 1; }", runtime)
    assert build.library_path("k", "int f(void) { return 2; }", runtime) != path
    monkeypatch.setattr(build, "cpu_features", lambda: "x86_64 another cpu avx2")
    assert build.library_path("k", "int f(void) { return 1; }", runtime) != path


def test_an_unwritable_cache_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(
        build.KernelBuildError, match="cannot write the kernel cache .*not-a-directory"
    ):
        build.load_library("k", "int f(void) { return 1; }")
