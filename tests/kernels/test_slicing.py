"""The copies along one axis against NumPy's slicing on the (outer, axis, inner) view."""
import numpy as np
import pytest

from staticnet.kernels import slicing as K


@pytest.mark.parametrize("start,stop,step", [(0, 7, 1), (2, 5, 1), (1, 7, 3), (6, None, -1), (5, 0, -2)])
def test_take_place_and_scatter_equal_numpy(start, stop, step):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 4)).astype(np.float32)
    part = x[:, start:stop:step]
    out = np.full_like(part, np.nan)
    K.take(x, out, start, step)
    np.testing.assert_array_equal(out, part)
    g = rng.normal(size=part.shape)
    dx = np.full(x.shape, np.nan)
    K.scatter(g, dx, start, step)
    expected = np.zeros(x.shape)
    expected[:, start:stop:step] = g
    np.testing.assert_array_equal(dx, expected)
    kept = np.full(x.shape, 7.0)
    K.place(g, kept, start, step)
    expected[expected == 0] = 7.0
    expected[:, start:stop:step] = g
    np.testing.assert_array_equal(kept, expected)
