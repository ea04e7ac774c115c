import numpy as np
import pytest

import staticnet as sn
from tests.conftest import check_grads


def one_hot(labels, k):
    return np.eye(k)[labels]


def test_mse_is_the_books_quadratic_cost(rng):
    a, y = rng.uniform(size=(6, 4)), rng.uniform(size=(6, 4))
    ta, ty = sn.input("a", (None, 4), dtype="float64"), sn.input("y", (None, 4), dtype="float64")
    expected = np.sum(np.linalg.norm(y - a, axis=1) ** 2) / (2 * 6)
    np.testing.assert_allclose(sn.function([ta, ty], sn.mse(ta, ty))(a, y), expected, rtol=1e-14)
    check_grads(sn.mse, [a, y], batch=True)


def test_binary_cross_entropy_formula_and_gradient(rng):
    a, y = rng.uniform(0.1, 0.9, (5, 3)), rng.uniform(size=(5, 3))
    ta, ty = sn.input("a", (None, 3), dtype="float64"), sn.input("y", (None, 3), dtype="float64")
    expected = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / 5
    np.testing.assert_allclose(sn.function([ta, ty], sn.cross_entropy(ta, ty))(a, y), expected, rtol=1e-14)
    check_grads(sn.cross_entropy, [a, y], batch=True)


def test_cross_entropy_of_a_sigmoid_is_stable_with_gradient_a_minus_y(rng):
    z, y = rng.normal(size=(5, 3)), (rng.uniform(size=(5, 3)) > 0.5).astype(float)
    tz, ty = sn.input("z", (None, 3), dtype="float64"), sn.input("y", (None, 3), dtype="float64")
    loss = sn.cross_entropy(sn.sigmoid(tz), ty)
    a = 1 / (1 + np.exp(-z))
    value, g = sn.function([tz, ty], [loss, sn.grad(loss, tz)])(z, y)
    np.testing.assert_allclose(value, -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / 5, rtol=1e-12)
    np.testing.assert_allclose(g, (a - y) / 5, rtol=1e-12)
    check_grads(lambda zz, yy: sn.cross_entropy(sn.sigmoid(zz), yy), [z, y], batch=True)
    big = sn.function([tz, ty], loss)(np.full((1, 3), 1e4), np.zeros((1, 3)))
    assert np.isfinite(big) and np.isclose(big, 3e4)


@pytest.mark.parametrize("integer_labels", [False, True])
def test_softmax_cross_entropy_from_logits(integer_labels, rng):
    z, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    y = one_hot(labels, 4)
    tz = sn.input("z", (None, 4), dtype="float64")
    ty = sn.input("y", (None,), dtype="int64") if integer_labels else sn.input("y", (None, 4), dtype="float64")
    loss = sn.softmax_cross_entropy(tz, ty)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    value, g = sn.function([tz, ty], [loss, sn.grad(loss, tz)])(z, labels if integer_labels else y)
    np.testing.assert_allclose(value, -np.sum(y * np.log(p)) / 6, rtol=1e-12)
    np.testing.assert_allclose(g, (p - y) / 6, rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_gradient_numerically(rng):
    check_grads(sn.softmax_cross_entropy, [rng.normal(size=(3, 4)), rng.dirichlet(np.ones(4), 3)], batch=True)


def test_cross_entropy_of_a_softmax_is_the_log_likelihood(rng):
    z, labels = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    tz, ty = sn.input("z", (None, 3), dtype="float64"), sn.input("y", (None, 3), dtype="float64")
    loss = sn.cross_entropy(sn.softmax(tz), ty)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(sn.function([tz, ty], loss)(z, one_hot(labels, 3)),
                               -np.mean(np.log(p[np.arange(5), labels])), rtol=1e-12)


def test_perceptron_loss_and_its_gradient(rng):
    s, y = np.array([0.5, -2.0, 0.0, 1.0]), np.array([1.0, 1.0, -1.0, -1.0])
    ts, ty = sn.input("s", (None,), dtype="float64"), sn.input("y", (None,), dtype="float64")
    loss = sn.perceptron_loss(ts, ty)
    value, g = sn.function([ts, ty], [loss, sn.grad(loss, ts)])(s, y)
    np.testing.assert_allclose(value, (0 + 2.0 + 0 + 1.0) / 4)
    np.testing.assert_allclose(g, -y * np.array([0, 1, 1, 1]) / 4)  # the boundary point counts as a mistake


def test_l2_and_l1_cover_weights_not_biases(rng):
    sn.seed(3)
    x = sn.input("x", (None, 3), dtype="float64")
    h = sn.dense(x, 4, activation="sigmoid", name="h")
    params = {p.name: p for p in sn.Graph(h).params}
    W = params["h/W"].value
    base = sn.sum(h)
    l2 = base + sn.l2(lam=5.0, n=100)
    l1 = base + sn.l1(lam=2.0, n=100)
    xv = rng.normal(size=(2, 3))
    b0 = sn.function([x], base)(xv)
    np.testing.assert_allclose(sn.function([x], l2)(xv) - b0, 5.0 / 200 * np.sum(W**2), rtol=1e-12)
    np.testing.assert_allclose(sn.function([x], l1)(xv) - b0, 2.0 / 100 * np.sum(np.abs(W)), rtol=1e-12)
    gW = sn.function([x], sn.grad(l2, params["h/W"]) - sn.grad(base, params["h/W"]))(xv)
    np.testing.assert_allclose(gW, 5.0 / 100 * W, rtol=1e-12)
    assert sn.function([x], sn.grad(l2, params["h/b"]) - sn.grad(base, params["h/b"]))(xv).tolist() == [0, 0, 0, 0]


def test_one_hot():
    labels = sn.input("l", (None,), dtype="int32")
    np.testing.assert_array_equal(sn.function([labels], sn.one_hot(labels, 3))(np.array([2, 0])), [[0, 0, 1], [1, 0, 0]])
    for backend in ("numpy", "numba"):
        with pytest.raises(sn.DataError, match=r"one_hot: a label lies outside \[0, 3\)"):
            sn.function([labels], sn.one_hot(labels, 3), backend=backend)(np.array([3]))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("op", ["softmax_xent", "sigmoid_xent"])
def test_cross_entropies_with_row_weights_formula_and_gradients(op, backend, rng):
    """The third operand weighs row i's cost by w[i], over the row count: 1/n sum_i w_i C_i; the gradients of
    the logits, the labels and the weights against central differences in float64."""
    from staticnet.graph import make_node
    z, y, w = rng.normal(size=(5, 3)), rng.dirichlet(np.ones(3), 5), rng.uniform(0.0, 3.0, 5)
    tz, ty = sn.input("z", (None, 3), dtype="float64"), sn.input("y", (None, 3), dtype="float64")
    tw = sn.input("w", (None,), dtype="float64")
    if op == "softmax_xent":
        log_p = z - z.max(1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
        per_row = -np.sum(y * log_p, axis=1)
    else:
        per_row = np.sum(np.logaddexp(0, z) - y * z, axis=1)
    loss = make_node(op, (tz, ty, tw))
    value = sn.function([tz, ty, tw], loss, backend=backend)(z, y, w)
    np.testing.assert_allclose(value, np.sum(w * per_row) / 5, rtol=1e-12)
    check_grads(lambda a, b, c: make_node(op, (a, b, c)), [z, y, w], batch=True, backend=backend)
