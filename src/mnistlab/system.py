"""What a result was measured on: hardware, library versions, date; and device selection."""

from __future__ import annotations

import ctypes
import datetime as dt
import functools
import os
import platform

import torch

from mnistlab.errors import MnistlabError
from mnistlab.version import __version__


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then the CPU; an unavailable device is a user error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MnistlabError("--device cuda: no CUDA GPU is available here; use --device cpu")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise MnistlabError("--device mps: Apple MPS is not available here; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise MnistlabError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the kernel.

    A training step on the CPU allocates and frees activations of a few MB each. By default
    glibc serves such blocks with mmap and trims its heap after each free, so every step
    faults its pages in again; measured on a 2-core machine, that is a quarter of a LeNet5
    step (docs/speed-log.md). The cost is memory kept at the process's high-water mark.
    Returns False where this is not glibc. Process-wide, so only the training paths call it.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # from glibc's malloc.h
    ok = libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum: blocks below use the heap
    ok &= libc.mallopt(m_trim_threshold, 512 << 20)
    ok &= libc.mallopt(m_top_pad, 64 << 20)
    return bool(ok)


def configure_for_training(device: torch.device | str) -> None:
    """Process-wide settings that make training faster; the CLI, the benchmarks and scripts call
    it once at their entry point, and library code never does (a notebook that wants the CLI's
    speed calls it too). On the CPU: glibc keeps freed memory (keep_freed_memory). On CUDA:
    cuDNN times its algorithms once per shape and keeps the fastest, and fp32 matrix products
    outside autocast may use TF32."""
    device = torch.device(device)
    if device.type == "cpu":
        keep_freed_memory()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch has the same shape
        torch.backends.cuda.matmul.allow_tf32 = True


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether oneDNN computes bf16 natively here (AVX512-BF16 or AMX); elsewhere it emulates
    bf16 and is slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | str = "cpu") -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    return f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def versions() -> dict[str, str]:
    import numpy

    return {
        "mnistlab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def header(device: torch.device | str = "cpu") -> str:
    """One line for benchmark output: hardware, versions and date."""
    v = versions()
    return (
        f"hardware: {hardware(device)} | torch {v['torch']}, numpy {v['numpy']}, "
        f"python {v['python']}, mnistlab {v['mnistlab']} | date: {now_iso()}"
    )
