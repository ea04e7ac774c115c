import numpy as np
import pytest

from staticnet.kernels.finite import first_non_finite_row


def numpy_first_bad_row(rows):
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    return int(bad[0]) if bad.size else -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 7, 16, 33, 784])
def test_the_first_row_holding_nan_or_an_infinity_is_the_one_numpy_finds(dtype, width):
    rng = np.random.default_rng(width)
    for trial in range(20):
        rows = rng.standard_normal((50, width)).astype(dtype)
        for value in rng.choice([np.nan, np.inf, -np.inf], size=trial % 4):
            rows[rng.integers(50), rng.integers(width)] = value
        assert first_non_finite_row(rows) == numpy_first_bad_row(rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_finite_values_pass_and_the_last_value_of_the_last_row_is_read(dtype):
    info = np.finfo(dtype)
    rows = np.array([[info.max, -info.max, info.tiny / 4, -0.0, 0.0]] * 3, dtype)
    assert first_non_finite_row(rows) == -1
    rows[2, 4] = np.nan
    assert first_non_finite_row(rows) == 2
    assert first_non_finite_row(rows[:0]) == -1
