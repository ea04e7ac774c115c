"""sn.lstm against PyTorch's LSTM equations written here in NumPy (PyTorch's weight layout, float64), their
central differences, and torch.nn.LSTM itself from copied weights where torch is installed."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.errors import ShapeError
from tests.ops.recurrent_checks import check_bptt_against_the_equations


def torch_style_lstm(x, weight_ih, weight_hh, b_ih, b_hh):
    """PyTorch's documented LSTM: weight_ih (4h, features) and weight_hh (4h, h) with rows i, f, g, o."""
    hidden = weight_hh.shape[1]
    h, c = np.zeros((x.shape[0], hidden)), np.zeros((x.shape[0], hidden))
    states = []
    for t in range(x.shape[1]):
        gates = x[:, t] @ weight_ih.T + b_ih + h @ weight_hh.T + b_hh
        i, f, g, o = np.split(gates, 4, axis=1)
        i, f, o = (1 / (1 + np.exp(-v)) for v in (i, f, o))
        c = f * c + i * np.tanh(g)
        h = o * np.tanh(c)
        states.append(h)
    return np.stack(states, 1)


def from_staticnet(w, u, b):
    """PyTorch's weights from staticnet's: the transposes, all of the bias in b_ih."""
    return w.T, u.T, b, np.zeros_like(b)


def build(steps=4, features=3, hidden=5, batch=None, name="l"):
    x = sn.input("x", (batch, steps, features), dtype="float64")
    h = sn.lstm(x, hidden, return_sequences=True, name=name)
    return x, h, [p for p in sn.Graph(h).params]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lstm_forward_is_pytorchs_equations(backend):
    sn.seed(0)
    rng = np.random.default_rng(0)
    x, h, (w, u, b) = build()
    last = sn.lstm(x, 5, name="l2")
    xv = rng.normal(size=(3, 4, 3))
    b.value = rng.normal(size=b.shape)  # not only the initial forget bias
    got, got_last = sn.function([x], [h, last], backend=backend)(xv)
    np.testing.assert_allclose(got, torch_style_lstm(xv, *from_staticnet(w.value, u.value, b.value)), rtol=1e-12,
                               atol=1e-14)
    w2, u2, b2 = (p.value for p in sn.Graph(last).params)
    np.testing.assert_allclose(got_last, torch_style_lstm(xv, *from_staticnet(w2, u2, b2))[:, -1], rtol=1e-12)


def test_lstm_parameters_and_forget_bias():
    x = sn.input("x", (None, 7, 3))
    h = sn.lstm(x, 6, name="enc")
    params = {p.name: p for p in sn.Graph(h).params}
    assert {n: p.shape for n, p in params.items()} == {"enc/W": (3, 24), "enc/U": (6, 24), "enc/b": (24,)}
    np.testing.assert_array_equal(params["enc/b"].value, np.r_[np.zeros(6), np.ones(6), np.zeros(12)])
    assert np.all(np.abs(params["enc/W"].value) <= 1 / np.sqrt(6)) and params["enc/W"].value.std() > 0
    assert h.shape == (None, 6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lstm_bptt_gradients_against_central_differences_of_the_equations(backend):
    """Every gradient (input, W, U, b) of sum(h * weights) against central differences of the NumPy equations."""
    check_bptt_against_the_equations(build, torch_style_lstm, from_staticnet, backend)


def test_lstm_learns_to_remember_the_first_step():
    """The target is the sign of step 0's input, read after 12 steps of noise: an LSTM learns it."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(1200, 12, 1)).astype(np.float32)
    labels = (data[:, 0, 0] > 0).astype(np.int64)
    sn.seed(0)
    x, y = sn.input("x", (None, 12, 1)), sn.input("y", (None,), dtype="int64")
    p = sn.dense(sn.lstm(x, 16), 2, activation="softmax")
    # at lr 0.01 the loss still bounced after 15 epochs (0.945 to 0.985 on the held-out rows as the products' last
    # bits changed); at 0.003 it settles, 0.96-1.0 after 30 over seeds 0-6
    net = sn.compile(sn.cross_entropy(p, sn.one_hot(y, 2)), outputs=p, optimizer=sn.Adam(lr=0.003))
    net.fit({"x": data[:1000], "y": labels[:1000]}, epochs=30, batch_size=32, seed=0, verbose=0)
    accuracy = np.mean(net.predict(data[1000:]).argmax(1) == labels[1000:])
    assert accuracy >= 0.95, accuracy


def test_lstm_refuses_a_sequence_without_fixed_steps():
    with pytest.raises(ShapeError, match="lstm.*must be \\(batch, steps, features\\)"):
        sn.lstm(sn.input("x", (None, 5)), 4)
    with pytest.raises(ShapeError, match="lstm"):
        sn.lstm(sn.input("x", (None, None, 3)), 4)


def test_lstm_matches_torch_nn_lstm_from_copied_weights():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 5, batch_first=True).double()
    x, h, (w, u, b) = build(batch=3)
    w.value = reference.weight_ih_l0.detach().numpy().T.copy()
    u.value = reference.weight_hh_l0.detach().numpy().T.copy()
    b.value = (reference.bias_ih_l0 + reference.bias_hh_l0).detach().numpy()
    xv = np.random.default_rng(2).normal(size=(3, 4, 3))
    weights = np.random.default_rng(3).normal(size=(3, 4, 5))
    loss = sn.sum(h * sn.constant(weights))
    got = sn.function([x], [h] + sn.grad(loss, [x, w, u, b]))(xv)
    xt = torch.tensor(xv, requires_grad=True)
    states, _ = reference(xt)
    (states * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(got[0], states.detach().numpy(), rtol=1e-10, atol=1e-12)
    expected = [xt.grad.numpy(), reference.weight_ih_l0.grad.numpy().T, reference.weight_hh_l0.grad.numpy().T,
                reference.bias_ih_l0.grad.numpy()]
    for g, e in zip(got[1:], expected):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


def test_two_lstms_reading_one_sequence_keep_their_own_tapes():
    """Each LSTM's kernel writes its gates to a buffer its gradient reads: two layers of the same size on the
    same input (and a third stacked on one of them) must not share one, or a gradient reads another's gates."""
    sn.seed(5)
    x = sn.input("x", (None, 5, 3), dtype="float64")
    a, b = sn.lstm(x, 4, return_sequences=True, name="a"), sn.lstm(x, 4, return_sequences=True, name="b")
    c = sn.lstm(a, 4, name="c")
    loss = sn.sum(a * a) + sn.sum(sn.tanh(b)) + sn.sum(c * c * c)
    params = list(sn.Graph(loss).params)
    xv = np.random.default_rng(6).normal(size=(3, 5, 3))
    reference = sn.function([x], [loss] + sn.grad(loss, [x] + params), backend="numpy")(xv)
    compiled = sn.function([x], [loss] + sn.grad(loss, [x] + params))(xv)
    for r, got in zip(reference, compiled):
        np.testing.assert_allclose(got, r, rtol=1e-10, atol=1e-12)
