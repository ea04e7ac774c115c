import numpy as np
from numba import njit

from staticnet.kernels import exp32


@njit
def apply(x, out):
    for i in range(x.shape[0]):
        out[i] = exp32(x[i])


def test_exp32_relative_error_over_the_float32_range():
    x = np.linspace(-87, 88, 200_001).astype(np.float32)
    out = np.empty_like(x)
    apply(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 5e-7


def test_exp32_underflows_to_zero_and_saturates():
    x = np.array([-1e4, -100.0, 0.0, 1e4], np.float32)
    out = np.empty_like(x)
    apply(x, out)
    assert out[0] == 0.0 and out[1] == 0.0 and out[2] == 1.0 and np.isfinite(out[3])
