import numpy as np
import pytest
from numba import njit

from staticnet.kernels.runs import axpy_run, copy_run


@njit
def copy_literal_and_not(dst, src, count):
    copy_run(dst, 3, src, 5, 7)  # a literal length: one vector move
    copy_run(dst, 20, src, 1, count)  # a run-time length: memcpy


@njit
def axpy_literal(y, a, x):
    axpy_run(y, 2, a, x, 4, 9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_runs_match_numpy_slices(dtype):
    rng = np.random.default_rng(0)
    src, dst = rng.normal(size=40).astype(dtype), rng.normal(size=40).astype(dtype)
    expected = dst.copy()
    expected[3:10], expected[20:31] = src[5:12], src[1:12]
    copy_literal_and_not(dst, src, 11)
    np.testing.assert_array_equal(dst, expected)
    y, x = rng.normal(size=16).astype(dtype), rng.normal(size=16).astype(dtype)
    expected = y.astype(np.float64)
    expected[2:11] += 0.5 * x[4:13]
    axpy_literal(y, 0.5, x)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert y.dtype == dtype
