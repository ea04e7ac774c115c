"""Max-pooling moves before a non-decreasing activation: same values, same gradients, less work."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.passes import pool_before_activation
from staticnet.program import Program
from staticnet.interpreter import run


def conv_pool_loss(activation, pool=sn.max_pool2d):
    sn.seed(0)
    x = sn.input("x", (None, 6, 6, 2), dtype="float64")
    g = sn.input("g", (None, 2, 2, 3), dtype="float64")
    h = pool(sn.conv2d(x, 3, 3, activation=activation, name="c"), 2)
    return x, g, sn.sum(h * g)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "softplus"])
def test_fires_and_keeps_values_and_gradients(activation):
    x, g, loss = conv_pool_loss(activation)
    program = Program(outputs=(loss,))
    out = pool_before_activation(program)
    pool = next(n for n in out.nodes() if n.op == "max_pool2d")
    assert pool.inputs[0].op == "add" and any(n.op == activation and n.inputs[0] is pool for n in out.nodes())
    assert pool_before_activation(out) is out
    rng = np.random.default_rng(1)
    feed = {x.id: rng.normal(size=(4, 6, 6, 2)), g.id: rng.normal(size=(4, 2, 2, 3))}
    params = sn.Graph(loss).params
    before = run([loss, *sn.grad(loss, params)], feed)
    after = run([out.outputs[0], *sn.grad(out.outputs[0], params)], feed)
    for a, b in zip(before, after):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation,pool", [("sigmoid", sn.avg_pool2d), ("gelu", sn.max_pool2d),
                                             (None, sn.max_pool2d)])
def test_leaves_other_pools_and_activations_alone(activation, pool):
    program = Program(outputs=(conv_pool_loss(activation, pool)[2],))
    assert pool_before_activation(program) is program


def test_a_compiled_model_trains_on_the_rewritten_graph():
    x, _, _ = conv_pool_loss("sigmoid")
    y = sn.input("y", (None, 2), dtype="float64")
    p = sn.dense(sn.flatten(sn.max_pool2d(sn.conv2d(x, 3, 3, activation="sigmoid", name="c2"), 2)), 2,
                 activation="softmax", name="d")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p)
    assert not any(n.op == "max_pool2d" and n.inputs[0].op == "sigmoid" for n in net.programs["train"].nodes())
    assert any(n.op == "max_pool2d_grad" for n in net.programs["train"].nodes())
