"""C kernels built once per machine and cached, on PyTorch's own OpenMP runtime.

A kernel is compiled with the system's C compiler (``$CC``, else ``cc``) the first time
a process needs it, into ``$XDG_CACHE_HOME/yolox_ros/kernels`` (``~/.cache/...``), under a
name made of its source, compiler command, flags and the CPU's features: a later run on the
same machine loads it without compiling, a changed source or another CPU gets its own build.
A file lock makes the processes ``torchrun`` starts build it once between them.

``-march=native`` makes the build specific to the CPU (hence the features in its name).
OpenMP: the source is compiled with ``-fopenmp`` but linked against the very runtime
PyTorch's CPU library uses (asked of the dynamic linker), never the compiler's default one,
so the kernel's parallel loops run on PyTorch's threads. A second runtime would start
its own team of threads on the same cores; a process whose PyTorch has no OpenMP runtime
loaded does not get the kernel.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

COMPILE_FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC")
BUILD_TIMEOUT_S = 120  # a build takes under a second; a hung compiler must not hang training
# Shared objects of the OpenMP runtimes PyTorch may come with: GNU, LLVM, Intel.
OPENMP_RUNTIME = re.compile(r"^lib(gomp|omp|iomp5)([-.].*)?\.so")


class KernelBuildError(RuntimeError):
    """A kernel could not be built or loaded (the message says why, in one line)."""


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "yolox_ros" / "kernels"


def _mapped_files() -> set[str]:
    with open("/proc/self/maps") as maps:
        return set(re.findall(r"(/\S+)$", maps.read(), re.MULTILINE))


def openmp_runtimes() -> set[Path]:
    """The OpenMP runtime libraries mapped into this process (resolved paths)."""
    return {Path(p).resolve() for p in _mapped_files() if OPENMP_RUNTIME.match(Path(p).name)}


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def pytorch_openmp_runtime() -> Path:
    """The OpenMP runtime PyTorch's CPU library uses; KernelBuildError when it has none.

    Asked of the dynamic linker (the library defining ``omp_get_max_threads`` for
    ``libtorch_cpu``), not guessed from the mappings: other packages (ncnn, OpenCV builds)
    may have loaded runtimes of their own into the same process.
    """
    import torch  # noqa: F401 - loads libtorch_cpu and its OpenMP runtime

    libtorch = next((p for p in _mapped_files() if Path(p).name == "libtorch_cpu.so"), None)
    if libtorch is None:
        raise KernelBuildError("PyTorch's CPU library (libtorch_cpu.so) is not in the process")
    try:
        function = ctypes.CDLL(libtorch).omp_get_max_threads
    except AttributeError:
        raise KernelBuildError("PyTorch here is built without OpenMP") from None
    info = _DlInfo()
    address = ctypes.cast(function, ctypes.c_void_p)
    if not ctypes.CDLL(None).dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        raise KernelBuildError("cannot tell which OpenMP runtime PyTorch uses")
    return Path(os.fsdecode(info.dli_fname)).resolve()


def cpu_features() -> str:
    """The CPU's model and instruction-set flags (what ``-march=native`` compiles for)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return os.uname().machine
    fields = dict(re.findall(r"^(model name|flags|Features)\s*:\s*(.*)$", cpuinfo, re.MULTILINE))
    flags = fields.get("flags", fields.get("Features", ""))
    return f"{os.uname().machine} {fields.get('model name', '')} {flags}"


def compiler() -> list[str]:
    command = shlex.split(os.environ.get("CC", "cc"))
    if not command or shutil.which(command[0]) is None:
        raise KernelBuildError(f"no C compiler {command[0] if command else '$CC'!r} found")
    return command


def library_path(name: str, source: str, runtime: Path) -> Path:
    """Where the build of ``source`` for this compiler, runtime and CPU is cached."""
    key = "\n".join(
        [source, os.environ.get("CC", "cc"), *COMPILE_FLAGS, str(runtime), cpu_features()]
    )
    return cache_dir() / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.so"


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise KernelBuildError(f"{shlex.join(command[:1])} took over {exc.timeout} s") from exc
    if done.returncode != 0:
        lines = done.stderr.splitlines() or [f"exit status {done.returncode}"]
        first_error = next((line for line in lines if "error" in line), lines[0])
        raise KernelBuildError(f"{shlex.join(command[:1])} failed: {first_error.strip()}")


def _build(source: str, target: Path, runtime: Path) -> None:
    """Compile and link into a temporary file beside ``target``, then move it in place."""
    cc = compiler()
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        source_path, object_path = Path(scratch) / "kernel.c", Path(scratch) / "kernel.o"
        built = Path(scratch) / target.name
        source_path.write_text(source)
        _run([*cc, *COMPILE_FLAGS, "-c", "-o", str(object_path), str(source_path)])
        # Linked by the runtime's own path: its soname is what the kernel needs, and the
        # rpath finds it again in a later process (it is already loaded in this one).
        _run([*cc, "-shared", "-o", str(built), str(object_path), str(runtime),
              f"-Wl,-rpath,{runtime.parent}", "-lm"])  # fmt: skip
        os.replace(built, target)


def load_library(name: str, source: str) -> tuple[ctypes.CDLL, Path]:
    """The kernel compiled from ``source``, built now or taken from the cache, and its path.

    Raises KernelBuildError (no compiler, a compile error, an unwritable cache, a cache on a
    ``noexec`` mount, a PyTorch without OpenMP, or one more runtime loaded by the kernel).
    """
    runtime = pytorch_openmp_runtime()
    target = library_path(name, source, runtime)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build between processes; the others wait
            if not target.is_file():
                _build(source, target, runtime)
    except OSError as exc:
        raise KernelBuildError(f"cannot write the kernel cache {target.parent}: {exc}") from exc
    before = openmp_runtimes()
    try:
        library = ctypes.CDLL(str(target))
    except OSError as exc:
        hint = " (is it on a noexec mount? set XDG_CACHE_HOME)" if "map" in str(exc) else ""
        raise KernelBuildError(f"cannot load {target}{hint}: {exc}") from exc
    loaded = openmp_runtimes() - before - {runtime}
    if loaded:
        raise KernelBuildError(
            f"{target.name} loaded a second OpenMP runtime ({', '.join(map(str, loaded))}) "
            f"beside PyTorch's {runtime}"
        )
    return library, target
