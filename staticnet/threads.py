"""How many threads the compiled code uses: $STATICNET_NUM_THREADS, default all cores.

It sets Numba's thread count (for the batch-parallel segments of convolutional steps,
codegen/parallel.py, and the large matrix products, kernels/gemm.py, which call BLAS on one
thread each) and that of every OpenBLAS loaded in the process (NumPy's and SciPy's), so that
NumPy's own products, in the reference interpreter and the baselines, follow it too.
"""
from __future__ import annotations

import ctypes
import os

import numba


def _openblas_setters():
    """The thread-count functions of the OpenBLAS builds loaded in this process."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    setters = []
    for path in sorted(p for p in paths if os.path.isfile(p)):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
            setter = getattr(library, name, None)
            if setter is not None:
                setters.append(setter)
                break
    return setters


def configured() -> int:
    value = os.environ.get("STATICNET_NUM_THREADS")
    if not value:
        return numba.config.NUMBA_NUM_THREADS
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"STATICNET_NUM_THREADS must be a positive integer, got {value!r}") from None
    if count < 1:
        raise ValueError(f"STATICNET_NUM_THREADS must be a positive integer, got {value!r}")
    return min(count, numba.config.NUMBA_NUM_THREADS)


def apply(count: int | None = None) -> int:
    """Use `count` threads (default: the configured number) in Numba and BLAS; returns it."""
    count = count or configured()
    numba.set_num_threads(count)
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS too, so that it is set as well)
    for setter in _openblas_setters():
        setter(count)
    return count


_applied = False


def apply_once() -> None:
    """Apply the configured thread count before the first compiled call of the process."""
    global _applied
    if not _applied:
        apply()
        _applied = True
