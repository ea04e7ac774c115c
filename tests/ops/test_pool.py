"""Pooling: max, average and L2 (the square root of the sum of squares) over windows of NHWC images."""
import numpy as np
import pytest

import staticnet as sn
from tests.conftest import check_grads


def windows(x, p, s):
    n, H, W, C = x.shape
    oh, ow = (H - p) // s + 1, (W - p) // s + 1
    return [[x[:, y * s:y * s + p, z * s:z * s + p, :] for z in range(ow)] for y in range(oh)]


@pytest.mark.parametrize("window,stride", [(2, 2), (3, 1), (2, 1)])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pools_match_their_definitions(window, stride, backend):
    xv = np.random.default_rng(0).permutation(2 * 6 * 6 * 3).reshape(2, 6, 6, 3) / 10.0
    x = sn.input("x", (None, 6, 6, 3), dtype="float64")
    outs = [sn.max_pool2d(x, window, stride), sn.avg_pool2d(x, window, stride), sn.l2_pool2d(x, window, stride)]
    got = sn.function([x], outs, backend=backend)(xv)
    rows = windows(xv, window, stride)
    expected = [np.array([[w.max((1, 2)) for w in row] for row in rows]).transpose(2, 0, 1, 3),
                np.array([[w.mean((1, 2)) for w in row] for row in rows]).transpose(2, 0, 1, 3),
                np.array([[np.sqrt((w ** 2).sum((1, 2))) for w in row] for row in rows]).transpose(2, 0, 1, 3)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10)


@pytest.mark.parametrize("pool", [sn.max_pool2d, sn.avg_pool2d, sn.l2_pool2d])
@pytest.mark.parametrize("window,stride", [(2, 2), (3, 1)])
def test_pool_gradients(pool, window, stride):
    xv = np.random.default_rng(1).permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 7.0 + 0.1
    check_grads(lambda t: pool(t, window, stride), [xv], batch=True)


def test_pool_shape_errors_name_the_op_and_shapes():
    x = sn.input("x", (None, 4, 4, 1))
    for pool in (sn.max_pool2d, sn.avg_pool2d, sn.l2_pool2d):
        with pytest.raises(sn.ShapeError, match=rf"^{pool.__name__} at .*test_pool.py:\d+: a 5x5 window is larger "
                                                r"than the input 4x4"):
            pool(x, 5)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_global_pools_are_each_channels_mean_and_maximum(backend):
    xv = np.random.default_rng(3).normal(size=(2, 5, 4, 3))
    x = sn.input("x", (None, 5, 4, 3), dtype="float64")
    outs = [sn.global_avg_pool2d(x), sn.global_max_pool2d(x)]
    assert [o.shape for o in outs] == [(None, 3), (None, 3)]
    got = sn.function([x], outs, backend=backend)(xv)
    np.testing.assert_allclose(got[0], xv.mean((1, 2)), rtol=1e-12)
    np.testing.assert_array_equal(got[1], xv.max((1, 2)))
    check_grads(sn.global_avg_pool2d, [xv], batch=True)
    check_grads(sn.global_max_pool2d, [xv], batch=True)


def test_global_pools_refuse_what_is_not_an_nhwc_image():
    with pytest.raises(sn.ShapeError, match=r"^global_avg_pool2d at .*: input \(None, 5, 4\) must be \(batch, height, "
                                            r"width, channels\)"):
        sn.global_avg_pool2d(sn.input("x", (None, 5, 4)))
