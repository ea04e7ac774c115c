import numpy as np
from numba import njit

from staticnet.kernels.fastmath import exp32, exp_of, one_of, tanh32, tanh_of


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


@njit
def apply_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = tanh32(x[i])


def test_tanh32_relative_error_from_tiny_to_saturated_values():
    x = np.concatenate([np.geomspace(1e-30, 1e-3, 2001), np.linspace(1e-3, 12.0, 200_001)]).astype(np.float32)
    x = np.concatenate([x, -x])
    out = np.empty_like(x)
    apply_tanh(x, out)
    exact = np.tanh(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / np.abs(exact)) < 5e-7


def test_tanh32_of_zero_nan_and_infinities():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 100.0], np.float32)
    out = np.empty_like(x)
    apply_tanh(x, out)
    np.testing.assert_array_equal(out, np.tanh(x))


@njit
def typed_results(a32, a64):
    return exp_of(a32[0]), exp_of(a64[0]), tanh_of(a32[0]), tanh_of(a64[0]), one_of(a32[0]) + a32[0]


def test_exp_of_and_tanh_of_keep_the_float_type():
    got = typed_results(np.array([0.5], np.float32), np.array([0.5]))
    assert [type(v) for v in got] == [float] * 5  # Numba returns Python floats; their values show the type
    assert got[0] == exp32(np.float32(0.5)) and got[2] == tanh32(np.float32(0.5))
    assert got[1] == np.exp(0.5) and got[3] == np.tanh(0.5)
