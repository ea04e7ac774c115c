import inspect
import os
import re

import numpy as np
import pytest

import staticnet as sn


def test_single_output_and_list_outputs():
    x = sn.input("x", (None, 2), dtype="float64")
    f = sn.function([x], x * 2.0)
    g = sn.function([x], [x * 2.0, sn.sum(x)])
    v = np.array([[1.0, 2.0]])
    assert isinstance(f(v), np.ndarray)
    out = g(v)
    assert isinstance(out, list) and len(out) == 2 and out[1] == 3.0


def test_updates_train_a_linear_model_theano_style():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    true_w = np.array([1.5, -2.0, 0.5])
    Y = X @ true_w + 0.3
    x, y = sn.input("x", (None, 3), dtype="float64"), sn.input("y", (None,), dtype="float64")
    w = sn.param("w", value=np.zeros(3))
    b = sn.param("b", value=np.float64(0.0))
    cost = sn.mse(x @ w + b, y)
    gw, gb = sn.grad(cost, [w, b])
    step = sn.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
    first = step(X, Y)
    for _ in range(200):
        last = step(X, Y)
    assert last < 1e-10 < first
    np.testing.assert_allclose(w.value, true_w, atol=1e-5)
    assert abs(b.value - 0.3) < 1e-5


def test_inputs_are_converted_to_the_declared_dtype():
    x = sn.input("x", (None, 2))
    out = sn.function([x], x + 1.0)(np.array([[1, 2]], dtype=np.int64))
    assert out.dtype == np.float32


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_two_updates_of_one_parameter_are_refused_naming_both_lines(backend):
    x = sn.input("x", (None, 1))
    W = sn.param("W", value=np.ones((1, 1), np.float32))
    line = inspect.currentframe().f_lineno
    halved = W * 0.5
    tripled = W * 3.0
    here = re.escape(os.path.relpath(__file__))
    with pytest.raises(sn.GraphError, match=rf"function at {here}:{line + 6}: parameter 'W' is updated twice: "
                                            rf"to mul at {here}:{line + 1} and to mul at {here}:{line + 2}"):
        sn.function([x], x @ W, updates=[(W, halved), (W, tripled)], backend=backend)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_function_is_inference_unless_training_is_true(backend):
    rng = np.random.default_rng(0)
    x = sn.input("x", (None, 200), dtype="float64")
    W = sn.param("W", value=rng.normal(size=(200, 200)) / 15)
    h = sn.tanh(x @ W)
    X = rng.normal(size=(4, 200))
    infer = sn.function([x], sn.sum(sn.dropout(h, 0.5) * 2.0, axis=1), backend=backend)
    first, second = infer(X), infer(X)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, 2.0 * np.tanh(X @ W.value).sum(axis=1), rtol=1e-12)
    train = sn.function([x], sn.dropout(h, 0.5), training=True, backend=backend)
    masked, unmasked = train(X), np.tanh(X @ W.value)
    dropped = masked == 0
    assert 0.4 < dropped.mean() < 0.6
    np.testing.assert_allclose(masked[~dropped], 2.0 * unmasked[~dropped], rtol=1e-12)
