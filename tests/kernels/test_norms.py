"""The sum of squares against NumPy's, every remainder of the four accumulators included."""
import numpy as np
import pytest

from staticnet.kernels import norms as K


@pytest.mark.parametrize("size", [1, 3, 4, 5, 8, 1001])
def test_sum_of_squares_equals_numpy_in_float64(size):
    x = np.random.default_rng(size).normal(size=size)
    assert K.sum_of_squares(x) == pytest.approx(np.sum(x * x), rel=1e-13)
    assert K.sum_of_squares(x.astype(np.float32)) == pytest.approx(np.sum(x.astype(np.float32) ** 2, dtype=np.float64),
                                                                   rel=1e-12)


def test_nan_and_infinity_reach_the_sum():
    assert np.isnan(K.sum_of_squares(np.array([1.0, np.nan, 2.0, 3.0, 4.0])))
    assert K.sum_of_squares(np.array([1.0, 2.0, -np.inf], np.float32)) == np.inf
