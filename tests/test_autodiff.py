import numpy as np
import pytest

import staticnet as sn


def test_worked_example_sigmoid_neuron():
    """f(x; w, b) = sigmoid(w x + b) at x=1, w=0, b=0: df/dw = sigmoid'(0) x = 0.25."""
    x = sn.input("x", (), dtype="float64")
    w = sn.param("w", value=np.float64(0.0))
    b = sn.param("b", value=np.float64(0.0))
    f = sn.sigmoid(w * x + b)
    dw, db = sn.function([x], sn.grad(f, [w, b]))(1.0)
    assert dw == pytest.approx(0.25, abs=1e-15) and db == pytest.approx(0.25, abs=1e-15)


def test_gradients_over_several_paths_are_summed():
    x = sn.input("x", (), dtype="float64")
    y = x * x + sn.exp(x) * x  # dy/dx = 2x + e^x x + e^x
    g = sn.function([x], sn.grad(y, x))(1.5)
    assert g == pytest.approx(3 + np.exp(1.5) * 2.5, rel=1e-14)


def test_broadcasting_is_undone_by_reduction():
    x = sn.input("x", (None, 3), dtype="float64")
    b = sn.param("b", value=np.zeros(3))
    s = sn.param("s", value=np.float64(2.0))
    g_b, g_s = sn.grad(sn.sum((x + b) * s), [b, s])
    assert g_b.shape == (3,) and g_s.shape == ()
    xv = np.arange(12.0).reshape(4, 3)
    vb, vs = sn.function([x], [g_b, g_s])(xv)
    np.testing.assert_allclose(vb, [8.0, 8.0, 8.0])
    np.testing.assert_allclose(vs, xv.sum())


def test_gradient_of_an_unrelated_tensor_is_zero():
    x = sn.input("x", (None, 2), dtype="float64")
    unused = sn.param("u", value=np.ones((2, 2)))
    g = sn.grad(sn.sum(x * 3.0), unused)
    np.testing.assert_array_equal(sn.function([x], g)(np.ones((1, 2))), np.zeros((2, 2)))


def test_gradients_are_ordinary_printable_nodes():
    x = sn.input("x", (None, 4))
    loss = sn.mean(sn.square(sn.dense(x, 2, activation="relu")))
    g = sn.grad(loss, sn.Graph(loss).params[0])
    listing = sn.describe(g)
    assert "matmul" in listing and "greater" in listing and "test_autodiff.py" in listing
    assert "->" in sn.to_dot(g)


def four_equation_backprop(x, y, Ws, bs):
    """The book's backpropagation, by hand: quadratic cost, sigmoid layers, rows are examples."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    activations, zs = [x], []
    for W, b in zip(Ws, bs):
        zs.append(activations[-1] @ W + b)
        activations.append(sig(zs[-1]))
    n = x.shape[0]
    delta = (activations[-1] - y) * sig(zs[-1]) * (1 - sig(zs[-1])) / n        # BP1
    grads_W, grads_b = [None] * len(Ws), [None] * len(Ws)
    for layer in reversed(range(len(Ws))):
        grads_b[layer] = delta.sum(axis=0)                                      # BP3
        grads_W[layer] = activations[layer].T @ delta                           # BP4
        if layer:
            s = sig(zs[layer - 1])
            delta = (delta @ Ws[layer].T) * s * (1 - s)                          # BP2
    cost = np.sum((y - activations[-1]) ** 2) / (2 * n)
    return activations[-1], cost, grads_W, grads_b


def test_mlp_matches_the_four_backpropagation_equations():
    rng = np.random.default_rng(0)
    x_val, y_val = rng.normal(size=(7, 6)), rng.uniform(size=(7, 3))
    x = sn.input("x", (None, 6), dtype="float64")
    y = sn.input("y", (None, 3), dtype="float64")
    h = sn.dense(x, 5, activation="sigmoid", name="hidden", bias_init=sn.init.standard_normal())
    out = sn.dense(h, 3, activation="sigmoid", name="out", bias_init=sn.init.standard_normal())
    cost = sn.mse(out, y)
    params = {p.name: p for p in sn.Graph(cost).params}
    order = ["hidden/W", "out/W", "hidden/b", "out/b"]
    f = sn.function([x, y], [out, cost] + sn.grad(cost, [params[k] for k in order]))
    a, c, *grads = f(x_val, y_val)
    ref_a, ref_c, ref_W, ref_b = four_equation_backprop(
        x_val, y_val, [params["hidden/W"].value, params["out/W"].value], [params["hidden/b"].value, params["out/b"].value])
    np.testing.assert_allclose(a, ref_a, rtol=1e-10)
    np.testing.assert_allclose(c, ref_c, rtol=1e-10)
    for got, want in zip(grads, ref_W + ref_b):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
