"""The NumPy baselines do the same work as the workloads they stand for: one step of each, from
the same weights, gives the weights that staticnet's reference executor (the NumPy interpreter
with automatic differentiation, in float64) computes for the same network, cost and optimizer."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.bench import numpy_baseline


def reference_gradients(workload, params, x, y):
    images = workload == "W3"
    xs = sn.input("x", (None, 28, 28, 1) if images else (None, 784), "float64")
    ys = sn.input("y", (None, 10), "float64")
    hidden = "relu" if workload == "W2" else "sigmoid"
    h = sn.flatten(sn.max_pool2d(sn.conv2d(xs, 20, 5, activation="sigmoid", name="c"), 2)) if images else xs
    h = sn.dense(h, 100, activation=hidden, name="d1")
    if workload == "W1":
        out = sn.dense(h, 10, activation="sigmoid", name="d2")
        loss = sn.mse(out, ys)
    else:
        loss = sn.cross_entropy(sn.dense(h, 10, activation="softmax", name="d2"), ys)
    by_name = {p.name: p for p in sn.Graph(loss).params}
    names = (["c/W", "c/b"] if images else []) + ["d1/W", "d1/b", "d2/W", "d2/b"]
    leaves = [by_name[n] for n in names]
    for leaf, value in zip(leaves, params):
        leaf.value = value.astype(np.float64)
    return sn.function([xs, ys], sn.grad(loss, leaves), backend="numpy")(x.astype(np.float64), y.astype(np.float64))


@pytest.mark.parametrize("workload", ["W1", "W2", "W3"])
def test_one_baseline_step_matches_the_reference(workload):
    rng = np.random.default_rng(5)
    batch = 6
    x = rng.random((batch, 28, 28, 1) if workload == "W3" else (batch, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    before = numpy_baseline.initial_params(workload, seed=1)
    after = [p.copy() for p in before]
    numpy_baseline.epoch_runner(workload, batch, x, y, after)()  # one epoch of one minibatch: one step
    grads = reference_gradients(workload, before, x, y)
    lr = numpy_baseline.LEARNING_RATES[workload]
    for p, g, new in zip(before, grads, after):
        if workload == "W2":  # Adam's first step: m_hat = g, v_hat = g^2
            expected = p - lr * g / (np.abs(g) + 1e-8)
        else:
            expected = p - lr * g
        np.testing.assert_allclose(new, expected, rtol=2e-4, atol=2e-6)
