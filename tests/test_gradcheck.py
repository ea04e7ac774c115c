"""sn.gradcheck and Model.gradcheck: they pass right gradients and catch wrong ones."""
import dataclasses
import os
import re

import numpy as np
import pytest

import staticnet as sn
from staticnet.registry import registry
from tests.test_model import some_rows, spiral_model

HERE = re.escape(os.path.relpath(__file__))


def sigmoid_neuron():
    """The book's single sigmoid neuron f = sigma(w x + b) at w = b = 0 and x = 1: df/dw = sigma'(0) x = 1/4."""
    x = sn.input("x", (None, 1))
    w = sn.param("w", (1, 1), init=sn.init.zeros())
    b = sn.param("b", (1,), init=sn.init.zeros())
    return sn.sum(sn.sigmoid(x @ w + b)), w, b


def test_the_sigmoid_neuron_has_the_books_gradient_and_the_check_prints_a_table(capsys):
    f, w, b = sigmoid_neuron()
    report = sn.gradcheck(f, [w, b], {"x": np.ones((1, 1))})
    assert report.ok and bool(report)
    assert report["w"].analytic == pytest.approx(0.25, abs=1e-12) and report["w"].numeric == pytest.approx(0.25)
    assert report["b"].analytic == pytest.approx(0.25, abs=1e-12)
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["parameter", "gradient", "checked", "max", "abs", "err", "max", "rel", "err", "worst", "at"]
    assert table[1].split()[:3] == ["w", "reference", "1/1"] and table[1].split()[-1] == "ok"
    assert table[-1].startswith("every gradient agrees with central differences")
    assert w.value.dtype == np.float32 and not w.value.any()  # the check ran on a float64 copy


def test_numeric_and_analytic_have_the_parameters_shape():
    f, w, b = sigmoid_neuron()
    report = sn.gradcheck(f, [w, b], {"x": np.ones((1, 1))}, print_fn=None)
    assert report["w"].numeric.shape == report["w"].analytic.shape == (1, 1)
    assert report["b"].numeric.shape == report["b"].analytic.shape == (1,)
    x = sn.input("x", (None, 3))
    sn.seed(0)
    v = sn.param("v", (3, 4), init=sn.init.normal())
    rows = 0.1 * np.arange(6.0).reshape(2, 3)  # tanh far from saturation: no gradient near the differences' noise
    partial = sn.gradcheck(sn.sum(sn.tanh(x @ v)), [v], {"x": rows}, max_elements=5, print_fn=None)["v"]
    assert partial.numeric.shape == partial.analytic.shape == (3, 4)
    checked = ~np.isnan(partial.numeric)  # the elements not checked are NaN, where no difference was taken
    assert checked.sum() == 5
    expected = rows.T @ (1 - np.tanh(rows @ v.value.astype(np.float64)) ** 2)  # d sum(tanh(x v)) / dv
    np.testing.assert_allclose(partial.numeric[checked], expected[checked], rtol=1e-6)


def test_a_wrong_gradient_rule_is_caught(monkeypatch, capsys):
    wrong = dataclasses.replace(registry["sigmoid"], grad=lambda node, g: (g * node,))  # sigma instead of sigma'
    monkeypatch.setitem(registry, "sigmoid", wrong)
    f, w, b = sigmoid_neuron()
    report = sn.gradcheck(f, [w, b], {"x": np.ones((1, 1))})
    assert not report.ok and not report["w"].ok and not report["b"].ok
    assert report["w"].analytic == pytest.approx(0.5) and report["w"].numeric == pytest.approx(0.25)
    assert report["w"].max_abs == pytest.approx(0.25) and report["w"].worst == (0, 0)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if line.endswith("WRONG")] == ["w", "b"]
    assert "differ from central differences" in out[-1]


def test_a_model_passes_and_a_wrong_rule_fails_in_both_the_compiled_and_the_reference_gradient(monkeypatch):
    batch = some_rows(8)
    report = spiral_model().gradcheck(batch, print_fn=None)
    assert report.ok and {r.gradient for r in report.rows} == {"reference", "compiled"}
    assert len(report.rows) == 2 * 6 and len(report["dense1/W"].indices) == 64  # all 64 weights: fewer than 100
    wrong = dataclasses.replace(registry["tanh"], grad=lambda node, g: (g * (1.0 - node),))  # 1 - t for 1 - t^2
    monkeypatch.setitem(registry, "tanh", wrong)
    report = spiral_model().gradcheck(batch, print_fn=None)
    assert not report["dense1/W"].ok and not report["dense2/W"].ok
    assert report["dense3/W"].ok  # the output layer's weights do not see tanh's derivative
    assert {r.gradient for r in report.rows if not r.ok} == {"reference", "compiled"}


def test_model_gradcheck_checks_the_compiled_code_itself(monkeypatch):
    """A compiled sigmoid that computes sigma(2z): the reference gradient is right, the compiled one is not."""
    twice = dataclasses.replace(registry["sigmoid"], scalar="(1.0 / (1.0 + math.exp(-2.0 * {0})))")
    monkeypatch.setitem(registry, "sigmoid", twice)
    sn.seed(0)
    x, y = sn.input("x", (None, 2)), sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 4, activation="sigmoid"), 2, activation="sigmoid")
    net = sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=1.0))
    report = net.gradcheck(some_rows(8), print_fn=None)
    assert all(r.ok for r in report.rows if r.gradient == "reference")
    assert not any(r.ok for r in report.rows if r.gradient == "compiled" and r.name.endswith("/W"))


def test_gradcheck_names_a_mistake_in_its_arguments():
    f, w, b = sigmoid_neuron()
    other = sn.param("other", (2,))
    mistakes = [
        (lambda: sn.gradcheck(w, [w], {}), r"loss must be a scalar float tensor, got a tensor of shape \(1, 1\) float32"),
        (lambda: sn.gradcheck(f, [other], {"x": np.ones((1, 1))}), r"the loss does not depend on param 'other' \(made at "),
        (lambda: sn.gradcheck(f, [w], {"z": np.ones((1, 1))}), r"feeds has no array for input 'x' \(the loss needs \['x'\]\)"),
        (lambda: sn.gradcheck(f, [w], {"x": np.ones((1, 1))}, eps=0), r"eps must be a finite number > 0, got 0"),
        (lambda: sn.gradcheck(f, [], {"x": np.ones((1, 1))}), r"wrt is empty: nothing would be checked; pass the "
                                                              r"parameters \(or inputs\) to check"),
        (lambda: sn.gradcheck(f, (), {"x": np.ones((1, 1))}), r"wrt is empty"),
    ]
    for call, message in mistakes:
        with pytest.raises((sn.GraphError, ValueError), match=f"^gradcheck at {HERE}:{call.__code__.co_firstlineno}: "
                                                              f"{message}"):
            call()


def test_a_model_with_a_batch_norm_checks_its_training_gradient_compiled_and_reference():
    """The differences are of the training loss (batch statistics): the compiled gradient must be of it too."""
    sn.seed(0)
    rng = np.random.default_rng(0)
    x, y = sn.input("x", (None, 5)), sn.input("y", (None, 3))
    p = sn.dense(sn.tanh(sn.batch_norm(sn.dense(x, 4))), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    data = (rng.normal(size=(8, 5)).astype(np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)])
    report = net.gradcheck(data, print_fn=None)
    assert report.ok and {row.gradient for row in report.rows} == {"reference", "compiled"}
