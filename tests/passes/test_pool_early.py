"""Pooling moves before a per-channel bias and (max-pooling) a non-decreasing activation: same
values, same gradients, less work."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.interpreter import run
from staticnet.passes import pool_early
from staticnet.program import Program


def conv_pool_loss(activation, pool=sn.max_pool2d):
    sn.seed(0)
    x = sn.input("x", (None, 6, 6, 2), dtype="float64")
    g = sn.input("g", (None, 2, 2, 3), dtype="float64")
    h = pool(sn.conv2d(x, 3, 3, activation=activation, name="c"), 2)
    return x, g, sn.sum(h * g)


def assert_same_values_and_gradients(x, g, loss, rewritten):
    rng = np.random.default_rng(1)
    feed = {x.id: rng.normal(size=(4, 6, 6, 2)), g.id: rng.normal(size=(4, 2, 2, 3))}
    params = sn.Graph(loss).params
    before = run([loss, *sn.grad(loss, params)], feed)
    after = run([rewritten, *sn.grad(rewritten, params)], feed)
    for a, b in zip(before, after):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "softplus"])
def test_max_pool_moves_before_the_activation_and_the_bias(activation):
    x, g, loss = conv_pool_loss(activation)
    out = pool_early(Program(outputs=(loss,)))
    pool = next(n for n in out.nodes() if n.op == "max_pool2d")
    assert pool.inputs[0].op == "matmul"
    [bias] = [n for n in out.nodes() if n.op == "add" and pool in n.inputs]
    assert any(n.op == activation and n.inputs[0] is bias for n in out.nodes())
    assert pool_early(out) is out
    assert_same_values_and_gradients(x, g, loss, out.outputs[0])


@pytest.mark.parametrize("pool", [sn.max_pool2d, sn.avg_pool2d])
def test_pooling_moves_before_a_per_channel_bias(pool):
    x, g, loss = conv_pool_loss(None, pool)
    out = pool_early(Program(outputs=(loss,)))
    pooling = next(n for n in out.nodes() if n.op == pool.__name__)
    assert pooling.inputs[0].op == "matmul" and any(n.op == "add" and pooling in n.inputs for n in out.nodes())
    assert_same_values_and_gradients(x, g, loss, out.outputs[0])


@pytest.mark.parametrize("activation,pool", [("sigmoid", sn.avg_pool2d), ("gelu", sn.max_pool2d)])
def test_leaves_other_pools_and_activations_alone(activation, pool):
    program = Program(outputs=(conv_pool_loss(activation, pool)[2],))
    assert pool_early(program) is program


def test_a_bias_that_varies_within_the_window_stays():
    sn.seed(0)
    x = sn.input("x", (None, 4, 4, 2), dtype="float64")
    per_pixel = sn.constant(np.arange(32.0).reshape(4, 4, 2))
    program = Program(outputs=(sn.sum(sn.max_pool2d(x + per_pixel, 2)),))
    assert pool_early(program) is program


def test_a_compiled_model_trains_on_the_rewritten_graph():
    x, _, _ = conv_pool_loss("sigmoid")
    y = sn.input("y", (None, 2), dtype="float64")
    p = sn.dense(sn.flatten(sn.max_pool2d(sn.conv2d(x, 3, 3, activation="sigmoid", name="c2"), 2)), 2,
                 activation="softmax", name="d")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p)
    train = net.programs["train"].nodes()
    assert any(n.op in ("max_pool2d_grad", "max_pool_contract") for n in train)  # the latter: a first layer's filter gradient
    assert not any(n.op == "max_pool2d" and n.inputs[0].op in ("sigmoid", "add") for n in train)
