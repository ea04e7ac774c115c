import numpy as np
import pytest

import staticnet as sn
from tests.conftest import central_difference, check_grads


def elman(x, wx, wh, b, act):
    h = np.zeros((x.shape[0], wh.shape[0]))
    states = []
    for t in range(x.shape[1]):
        h = act(x[:, t] @ wx + h @ wh + b)
        states.append(h)
    return np.stack(states, 1)


ACTS = {"tanh": np.tanh, "relu": lambda s: np.maximum(s, 0), "sigmoid": lambda s: 1 / (1 + np.exp(-s))}


@pytest.mark.parametrize("activation", sorted(ACTS))
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_rnn_forward_is_the_elman_recurrence(activation, backend):
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(3, 5, 2))
    x = sn.input("x", (None, 5, 2), dtype="float64")
    h = sn.rnn(x, 4, activation=activation, return_sequences=True, name="r")
    last = sn.rnn(x, 4, activation=activation, name="r2")
    wx, wh, b = (p.value for p in sn.Graph(h).params)
    got_all, got_last = sn.function([x], [h, last], backend=backend)(xv)
    expected = elman(xv, wx, wh, b, ACTS[activation])
    np.testing.assert_allclose(got_all, expected, rtol=1e-12)
    assert got_last.shape == (3, 4)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_rnn_gradients_through_time(activation):
    rng = np.random.default_rng(1)
    check_grads(lambda t: sn.rnn(t, 3, activation=activation, return_sequences=True, name="g"),
                [rng.normal(size=(2, 4, 2))], batch=True)
    xv = rng.normal(size=(2, 4, 2))
    x = sn.input("x", (2, 4, 2), dtype="float64")
    loss = sn.sum(sn.rnn(x, 3, activation=activation, name="w") * sn.constant(rng.normal(size=(2, 3))))
    params = sn.Graph(loss).params
    for backend in ("numpy", "numba"):
        analytic = sn.function([x], sn.grad(loss, params), backend=backend)(xv)
        f = sn.function([x], loss, backend="numpy")
        for p, g in zip(params, analytic):
            def value_at(v, p=p):
                old, p.value = p.value, v
                result = float(f(xv))
                p.value = old
                return result
            np.testing.assert_allclose(g, central_difference(value_at, p.value.copy()), rtol=1e-6, atol=1e-8)


def binary_addition(n, bits, seed):
    """Two numbers' bits (least significant first) in, their sum's bits out: each needs the carry."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2 ** (bits - 1), n), rng.integers(0, 2 ** (bits - 1), n)
    digits = lambda v: ((v[:, None] >> np.arange(bits)) & 1).astype(np.float32)  # noqa: E731
    return {"x": np.stack([digits(a), digits(b)], 2), "y": digits(a + b)[:, :, None]}


def test_rnn_learns_binary_addition_that_a_feedforward_net_cannot():
    train, test = binary_addition(2000, 8, 0), binary_addition(500, 8, 1)
    sn.seed(0)
    x, y = sn.input("x", (None, 8, 2)), sn.input("y", (None, 8, 1))
    h = sn.rnn(x, 16, return_sequences=True)
    W, c = sn.param("out/W", (16, 1)), sn.param("out/b", (1,))
    p = sn.sigmoid(h @ W + c)
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.02), metrics=[])
    net.fit(train, epochs=30, batch_size=32, seed=0, verbose=0)
    exact = np.all((net.predict(test["x"]) > 0.5) == (test["y"] > 0.5), axis=(1, 2)).mean()
    assert exact >= 0.99, f"{exact:.3f} of test sums exactly right"
    # A per-digit feedforward net of similar size sees no carry: it cannot get whole sums right.
    sn.seed(0)
    xf, yf = sn.input("x", (None, 2)), sn.input("y", (None, 1))
    pf = sn.dense(sn.dense(xf, 16, activation="tanh"), 1, activation="sigmoid")
    flat = {"x": train["x"].reshape(-1, 2), "y": train["y"].reshape(-1, 1)}
    ff = sn.compile(sn.cross_entropy(pf, yf), outputs=pf, optimizer=sn.Adam(lr=0.02), metrics=[])
    ff.fit(flat, epochs=30, batch_size=32, seed=0, verbose=0)
    ff_exact = np.all((ff.predict(test["x"].reshape(-1, 2)).reshape(-1, 8) > 0.5) == (test["y"][:, :, 0] > 0.5), 1)
    assert ff_exact.mean() < 0.2
