"""What the figures were measured on, and the roofline: the machine's sustained SGEMM speed."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time

import numpy as np


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe(threads: int) -> dict:
    from staticnet.kernels import blas
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
            "STATICNET_NUM_THREADS": os.environ.get("STATICNET_NUM_THREADS", "unset (all cores)"),
            "blas": blas.SOURCE, "python": platform.python_version(),
            **{name: _version(name) for name in ("staticnet", "numpy", "numba", "llvmlite", "scipy", "torch", "jax")}}


def sgemm_gflops(threads: int, size: int = 2048, repeats: int = 3) -> float:
    """Sustained float32 matrix-product speed at `threads` BLAS threads (NumPy's BLAS, which
    staticnet's kernels call), the median of `repeats` products of two size x size matrices."""
    from staticnet import threads as thread_control
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), np.float32), rng.random((size, size), np.float32)
    thread_control.apply(threads)
    try:
        a @ b
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
    finally:
        thread_control.apply()
    return 2 * size ** 3 / statistics.median(times) / 1e9
