import numpy as np

import staticnet as sn
from tests.conftest import check_grads


def test_reshape_keeps_batch_and_infers_minus_one(rng):
    x = sn.input("x", (None, 12), dtype="float64")
    assert sn.reshape(x, (None, 3, 4)).shape == (None, 3, 4)
    assert sn.reshape(x, (-1, 2, 6)).shape == (None, 2, 6)
    v = rng.normal(size=(5, 12))
    np.testing.assert_array_equal(sn.function([x], sn.reshape(x, (None, 3, 4)))(v), v.reshape(5, 3, 4))
    check_grads(lambda t: sn.reshape(t, (None, 4, 3)) * 2.0, [v], batch=True)


def test_flatten(rng):
    x = sn.input("x", (None, 2, 3, 4), dtype="float64")
    f = sn.flatten(x)
    assert f.shape == (None, 24)
    v = rng.normal(size=(3, 2, 3, 4))
    np.testing.assert_array_equal(sn.function([x], f)(v), v.reshape(3, 24))


def test_transpose_forward_and_gradient(rng):
    v = rng.normal(size=(2, 3, 4))
    x = sn.input("x", v.shape, dtype="float64")
    np.testing.assert_array_equal(sn.function([x], sn.transpose(x, (1, 2, 0)))(v), v.transpose(1, 2, 0))
    np.testing.assert_array_equal(sn.function([x], x.T)(v), v.T)
    check_grads(lambda t: sn.transpose(t, (2, 0, 1)), [v])


def test_broadcast_like_gradient_sums_back(rng):
    ref = sn.input("r", (None, 3), dtype="float64")
    check_grads(lambda a: sn.broadcast_like(a, sn.constant(np.zeros((4, 3)))), [rng.normal(size=(1, 3))])
    out = sn.function([ref], sn.broadcast_like(sn.constant(np.arange(3.0)), ref))(np.zeros((2, 3)))
    np.testing.assert_array_equal(out, [[0, 1, 2], [0, 1, 2]])
