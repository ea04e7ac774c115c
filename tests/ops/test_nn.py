import numpy as np

import staticnet as sn
from tests.conftest import check_grads


def test_dense_creates_weight_in_out_and_bias(rng):
    x = sn.input("x", (None, 5), dtype="float64")
    h = sn.dense(x, 3, activation="tanh", name="layer")
    params = {p.name: p for p in sn.Graph(h).params}
    assert params["layer/W"].shape == (5, 3) and params["layer/b"].shape == (3,)
    assert params["layer/W"].regularize and not params["layer/b"].regularize
    v = rng.normal(size=(4, 5))
    expected = np.tanh(v @ params["layer/W"].value + params["layer/b"].value)
    np.testing.assert_allclose(sn.function([x], h)(v), expected, rtol=1e-14)


def test_dense_initialisers_are_seeded_and_scaled():
    x = sn.input("x", (None, 400))
    sn.seed(5)
    a = sn.Graph(sn.dense(x, 300)).params[0].value
    sn.seed(5)
    b = sn.Graph(sn.dense(x, 300)).params[0].value
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - 1 / 20) < 0.002  # N(0, 1/sqrt(n_in)), the book's improved initialisation
    he = sn.Graph(sn.dense(x, 300, init="he")).params[0].value
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.003
    glorot = sn.Graph(sn.dense(x, 300, init=sn.init.glorot_uniform())).params[0].value
    assert abs(np.abs(glorot).max() - np.sqrt(6 / 700)) < 0.002


def test_dense_gradient_through_weights(rng):
    W, b = rng.normal(size=(4, 3)), rng.normal(size=(3,))
    check_grads(lambda x, w, bb: sn.sigmoid(x @ w + bb), [rng.normal(size=(5, 4)), W, b], batch=(True, False, False))
