import numpy as np
from numba import njit

from staticnet.kernels.fastmath import exp32


@njit
def apply(x, out):
    for i in range(x.shape[0]):
        out[i] = exp32(x[i])


def test_exp32_relative_error_over_the_float32_range():
    x = np.concatenate([np.linspace(-87.33, 88.72, 200_001), np.linspace(88.0, 88.7228, 1001)]).astype(np.float32)
    out = np.empty_like(x)
    apply(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 5e-7


def test_exp32_gives_what_numpy_gives_at_the_ends_and_for_nan_and_inf():
    """Below the normal range 0 (NumPy gives denormals there, which the compiled loops flush to zero);
    overflow, inf and NaN as np.exp."""
    x = np.array([-np.inf, -1e4, -100.0, 0.0, 88.8, 1e4, np.inf, np.nan], np.float32)
    out = np.empty_like(x)
    apply(x, out)
    np.testing.assert_array_equal(out[:4], [0.0, 0.0, 0.0, 1.0])
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out[4:], np.exp(x[4:]))
