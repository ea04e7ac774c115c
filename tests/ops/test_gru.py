"""sn.gru against PyTorch's GRU equations written here in NumPy (PyTorch's weight layout, float64), their
central differences, and torch.nn.GRU itself from copied weights where torch is installed."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.errors import ShapeError
from tests.ops.recurrent_checks import check_bptt_against_the_equations


def torch_style_gru(x, weight_ih, weight_hh, b_ih, b_hh):
    """PyTorch's documented GRU: weight_ih (3h, features) and weight_hh (3h, h) with rows r, z, n;
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
    hidden = weight_hh.shape[1]
    h = np.zeros((x.shape[0], hidden))
    states = []
    for t in range(x.shape[1]):
        xr, xz, xn = np.split(x[:, t] @ weight_ih.T + b_ih, 3, axis=1)
        hr, hz, hn = np.split(h @ weight_hh.T + b_hh, 3, axis=1)
        r, z = 1 / (1 + np.exp(-(xr + hr))), 1 / (1 + np.exp(-(xz + hz)))
        n = np.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        states.append(h)
    return np.stack(states, 1)


def from_staticnet(w, u, b, b_hn):
    """PyTorch's weights from staticnet's: the transposes; b_ih = b, b_hh = (0, 0, b_hn)."""
    return w.T, u.T, b, np.concatenate([np.zeros(2 * b_hn.size), b_hn])


def build(steps=4, features=3, hidden=5, batch=None, name="g"):
    x = sn.input("x", (batch, steps, features), dtype="float64")
    h = sn.gru(x, hidden, return_sequences=True, name=name)
    return x, h, list(sn.Graph(h).params)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gru_forward_is_pytorchs_equations(backend):
    sn.seed(0)
    rng = np.random.default_rng(0)
    x, h, params = build()
    for p in params[2:]:
        p.value = rng.normal(size=p.shape)
    xv = rng.normal(size=(3, 4, 3))
    got = sn.function([x], h, backend=backend)(xv)
    np.testing.assert_allclose(got, torch_style_gru(xv, *from_staticnet(*(p.value for p in params))), rtol=1e-12,
                               atol=1e-14)


def test_gru_parameters():
    h = sn.gru(sn.input("x", (None, 7, 3)), 6, name="enc")
    assert {p.name: p.shape for p in sn.Graph(h).params} == {"enc/W": (3, 18), "enc/U": (6, 18), "enc/b": (18,),
                                                             "enc/b_hn": (6,)}
    assert h.shape == (None, 6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gru_bptt_gradients_against_central_differences_of_the_equations(backend):
    check_bptt_against_the_equations(build, torch_style_gru, from_staticnet, backend)


def test_gru_refuses_a_flat_input():
    with pytest.raises(ShapeError, match="gru.*must be \\(batch, steps, features\\)"):
        sn.gru(sn.input("x", (None, 5)), 4)


def test_gru_matches_torch_nn_gru_from_copied_weights():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch.nn.GRU(3, 5, batch_first=True).double()
    x, h, (w, u, b, b_hn) = build(batch=3)
    b_ih, b_hh = reference.bias_ih_l0.detach().numpy(), reference.bias_hh_l0.detach().numpy()
    w.value = reference.weight_ih_l0.detach().numpy().T.copy()
    u.value = reference.weight_hh_l0.detach().numpy().T.copy()
    b.value = b_ih + np.r_[b_hh[:10], np.zeros(5)]
    b_hn.value = b_hh[10:].copy()
    xv = np.random.default_rng(2).normal(size=(3, 4, 3))
    weights = np.random.default_rng(3).normal(size=(3, 4, 5))
    got = sn.function([x], [h] + sn.grad(sn.sum(h * sn.constant(weights)), [x, w, u, b_hn]))(xv)
    xt = torch.tensor(xv, requires_grad=True)
    states, _ = reference(xt)
    (states * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(got[0], states.detach().numpy(), rtol=1e-10, atol=1e-12)
    expected = [xt.grad.numpy(), reference.weight_ih_l0.grad.numpy().T, reference.weight_hh_l0.grad.numpy().T,
                reference.bias_hh_l0.grad.numpy()[10:]]
    for g, e in zip(got[1:], expected):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)
