"""The NumPy baselines do the same work as the workloads they stand for: one step of each, from
the same weights, gives the weights that staticnet's reference executor (the NumPy interpreter
with automatic differentiation, in float64) computes for the same network, cost and optimizer."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.bench import numpy_baseline


def reference_gradients(workload, params, x, y):
    """The gradients of the workload's parameters (the baseline's order) and, for W3BN, the batch norm's moving
    statistics after the step, by the reference executor in a training step."""
    images = workload in ("W3", "W3BN")
    xs = sn.input("x", (None, 28, 28, 1) if images else (None, 784), "float64")
    ys = sn.input("y", (None, 10), "float64")
    hidden = "relu" if workload == "W2" else "sigmoid"
    if workload == "W3BN":
        normalised = sn.batch_norm(sn.conv2d(xs, 20, 5, name="c"), name="bn")
        h = sn.flatten(sn.max_pool2d(sn.sigmoid(normalised), 2))
    else:
        h = sn.flatten(sn.max_pool2d(sn.conv2d(xs, 20, 5, activation="sigmoid", name="c"), 2)) if images else xs
    h = sn.dense(h, 100, activation=hidden, name="d1")
    if workload == "W1":
        out = sn.dense(h, 10, activation="sigmoid", name="d2")
        loss = sn.mse(out, ys)
    else:
        loss = sn.cross_entropy(sn.dense(h, 10, activation="softmax", name="d2"), ys)
    by_name = {p.name: p for p in sn.Graph(loss).params}
    names = ((["c/W", "c/b"] if images else []) + (["bn/gamma", "bn/beta"] if workload == "W3BN" else [])
             + ["d1/W", "d1/b", "d2/W", "d2/b"])
    leaves = [by_name[n] for n in names]
    for leaf, value in zip(leaves, params):
        leaf.value = value.astype(np.float64)
    grads = sn.function([xs, ys], sn.grad(loss, leaves), backend="numpy", training=True)
    return grads(x.astype(np.float64), y.astype(np.float64))


@pytest.mark.parametrize("workload", ["W1", "W2", "W3", "W3BN"])
def test_one_baseline_step_matches_the_reference(workload):
    rng = np.random.default_rng(5)
    batch = 6
    x = rng.random((batch, 28, 28, 1) if workload in ("W3", "W3BN") else (batch, 784)).astype(np.float32)
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


def w5_reference_gradients(params, x, y, masks):
    """W5's gradients by the reference executor in float64, its dense layers' inputs times `masks`."""
    xs, ys = sn.input("x", (None, 28, 28, 1), "float64"), sn.input("y", (None, 10), "float64")
    mask_inputs = [sn.input(f"mask{i}", (None, width), "float64") for i, width in enumerate((640, 1000, 1000))]
    h = sn.max_pool2d(sn.conv2d(xs, 20, 5, activation="relu", name="c1"), 2)
    h = sn.flatten(sn.max_pool2d(sn.conv2d(h, 40, 5, activation="relu", name="c2"), 2))
    h = sn.dense(h * mask_inputs[0], 1000, activation="relu", name="d1")
    h = sn.dense(h * mask_inputs[1], 1000, activation="relu", name="d2")
    loss = sn.cross_entropy(sn.dense(h * mask_inputs[2], 10, activation="softmax", name="d3"), ys)
    by_name = {p.name: p for p in sn.Graph(loss).params}
    leaves = [by_name[f"{layer}/{kind}"] for layer in ("c1", "c2", "d1", "d2", "d3") for kind in ("W", "b")]
    for leaf, value in zip(leaves, params):
        leaf.value = value.astype(np.float64)
    grad = sn.function([xs, ys, *mask_inputs], sn.grad(loss, leaves), backend="numpy")
    return grad(x, y, *(m.astype(np.float64) for m in masks))


@pytest.mark.parametrize("dropout", [False, True])
def test_one_w5_step_matches_the_reference(dropout):
    """In float64 on both sides: float32 rounding could flip a ReLU or a pooling window's maximum, and with it
    where a gradient goes."""
    rng = np.random.default_rng(2)
    batch = 3
    x = rng.random((batch, 28, 28, 1))
    y = np.eye(10)[rng.integers(0, 10, batch)]
    masks = numpy_baseline.dropout_masks(rng, batch, (640, 1000, 1000), 0.5) if dropout else None
    before = [p.astype(np.float64) for p in numpy_baseline.initial_params("W5", seed=1)]
    after = [p.copy() for p in before]
    numpy_baseline.w5_step(after, x, y, numpy_baseline.LEARNING_RATES["W5"], masks)
    grads = w5_reference_gradients(before, x, y, masks or [np.ones((batch, w)) for w in (640, 1000, 1000)])
    for p, g, new in zip(before, grads, after):
        assert np.abs(g).max() > 0
        np.testing.assert_allclose(new, p - numpy_baseline.LEARNING_RATES["W5"] * g, rtol=1e-9, atol=1e-12)


def test_dropout_masks_keep_half_the_units_scaled_by_two():
    masks = numpy_baseline.dropout_masks(np.random.default_rng(0), 100, (640, 1000), 0.5)
    assert [m.shape for m in masks] == [(100, 640), (100, 1000)]
    for m in masks:
        assert set(np.unique(m)) == {0.0, 2.0}
        assert abs((m == 0).mean() - 0.5) < 0.01  # 64,000 or more draws: 4 standard deviations is 0.008
    assert not np.array_equal(masks[0][:, :10], masks[1][:, :10])  # each layer its own draw


def test_w5_epoch_draws_dropout_unless_turned_off():
    """One epoch of one image from the same weights: without dropout it is w5_step's step; with it, another
    one (the masks were applied)."""
    rng = np.random.default_rng(4)
    x = rng.random((1, 28, 28, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 1)]
    plain = numpy_baseline.initial_params("W5", seed=2)
    numpy_baseline.w5_step(plain, x, y, 0.03)
    steps = {}
    for rate in (0.0, 0.5):
        params = numpy_baseline.initial_params("W5", seed=2)
        numpy_baseline.w5_epoch(params, x, y, 1, 0.03, np.random.default_rng(0), dropout=rate)
        steps[rate] = params
    assert all(np.array_equal(a, b) for a, b in zip(steps[0.0], plain))
    assert not np.allclose(steps[0.5][8], plain[8], rtol=0, atol=1e-7)  # the last layer's weights


def w4_batch(seed=5, batch=6):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 28, 28)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    params = numpy_baseline.initial_params("W4", seed=1)
    params[2] = rng.normal(scale=0.3, size=512).astype(np.float32)  # every gate's bias nonzero
    return x, y, params


def w4_reference_gradients(params, x, y):
    """W4's gradients by the reference executor in float64: an LSTM of 128 units, its last state into softmax."""
    xs, ys = sn.input("x", (None, 28, 28), "float64"), sn.input("y", (None, 10), "float64")
    loss = sn.cross_entropy(sn.dense(sn.lstm(xs, 128, name="l"), 10, activation="softmax", name="d"), ys)
    by_name = {p.name: p for p in sn.Graph(loss).params}
    leaves = [by_name[n] for n in ("l/W", "l/U", "l/b", "d/W", "d/b")]
    for leaf, value in zip(leaves, params):
        leaf.value = value.astype(np.float64)
    return sn.function([xs, ys], sn.grad(loss, leaves), backend="numpy")(x.astype(np.float64), y.astype(np.float64))


def test_one_w4_step_is_adams_first_step_on_the_reference_gradients():
    x, y, before = w4_batch()
    after = [p.copy() for p in before]
    numpy_baseline.epoch_runner("W4", len(x), x, y, after)()  # one epoch of one minibatch: one step
    lr = numpy_baseline.LEARNING_RATES["W4"]
    for p, g, new in zip(before, w4_reference_gradients(before, x, y), after):
        np.testing.assert_allclose(new, p - lr * g / (np.abs(g) + 1e-8), rtol=2e-4, atol=2e-6)
