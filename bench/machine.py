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


def vector_units() -> str:
    """The CPU as LLVM names it, and its widest float vectors: what the compiled code may use ("znver3, AVX2")."""
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    widest = "AVX-512" if features.get("avx512f") else "AVX2" if features.get("avx2") else "SSE"
    return f"{llvm.get_host_cpu_name()}, {widest}"


def describe(threads: int) -> dict:
    from staticnet.kernels import blas
    return {"cpu": cpu_model(), "vector_units": vector_units(), "cores": os.cpu_count(), "threads": threads,
            "STATICNET_NUM_THREADS": os.environ.get("STATICNET_NUM_THREADS", "unset (all cores)"),
            "blas": blas.SOURCE, "python": platform.python_version(),
            **{name: _version(name) for name in ("staticnet", "numpy", "numba", "llvmlite", "scipy", "torch", "jax")}}


ROOFLINE_ROUNDS = 5  # products timed at each thread count, taken in turn, each time the roofline is measured


def sgemm_rounds(threads: int, rounds: int = ROOFLINE_ROUNDS, size: int = 2048) -> dict:
    """Float32 matrix-product speeds (GFLOP/s, NumPy's BLAS, which staticnet's kernels call) of `rounds`
    products of two size x size matrices on one thread and on `threads`, one of each in turn, so that a busy
    moment of a shared machine slows both counts alike: {"one_thread": [...], "all_threads": [...]}."""
    from staticnet import threads as thread_control
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), np.float32), rng.random((size, size), np.float32)
    speeds = {"one_thread": [], "all_threads": []}
    try:
        for count in (1, threads):  # untimed, the first product at each count
            thread_control.apply(count)
            a @ b
        for _ in range(rounds):
            for key, count in (("one_thread", 1), ("all_threads", threads)):
                thread_control.apply(count)
                start = time.perf_counter()
                a @ b
                speeds[key].append(2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    finally:
        thread_control.apply()
    return speeds


def roofline(*measurements: dict) -> dict:
    """The sustained speed the hardware reaches: the best product of all `measurements` (sgemm_rounds, taken
    at several times of one run), as noise on a shared machine only ever slows a product down.  A median
    taken in a busy moment once read below what the workloads themselves reached (above 100% of it)."""
    return {f"{key}_gflops": max(speed for m in measurements for speed in m[key])
            for key in ("one_thread", "all_threads")} | {"rounds": sum(len(m["one_thread"]) for m in measurements)}
