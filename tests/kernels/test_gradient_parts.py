import numpy as np
import pytest

from staticnet.kernels import gradient_parts as K


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_into_writes_each_gradient_times_the_weight_one_after_another(dtype):
    rng = np.random.default_rng(0)
    gradients = (rng.standard_normal(12).astype(dtype), rng.standard_normal(5).astype(dtype))
    weight = dtype(0.3)
    out = np.full(17, np.nan, dtype)
    K.scale_into(gradients, weight, out)
    np.testing.assert_array_equal(out, np.concatenate(gradients) * weight)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_parts_adds_in_part_order_as_numpy_does(dtype):
    # values of very different sizes, so that another order of the additions would round differently
    rng = np.random.default_rng(1)
    gathered = (rng.standard_normal((5, 300)) * 10.0 ** rng.integers(-8, 8, (5, 300))).astype(dtype)
    out = np.empty(300, dtype)
    K.add_parts(gathered, out)
    expected = gathered[0].copy()
    for part in gathered[1:]:
        expected += part
    np.testing.assert_array_equal(out, expected)
    backwards = gathered[4].copy()
    for part in gathered[3::-1]:
        backwards += part
    assert not np.array_equal(backwards, expected)  # the order matters for these values, so the test can tell
    nan = gathered.copy()
    nan[2, 7], nan[3, 8] = np.nan, np.inf
    K.add_parts(nan, out)
    assert np.isnan(out[7]) and out[8] == np.inf
