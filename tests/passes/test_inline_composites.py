"""Named composites (ops/composite.py) and passes/inline_composites.py: a composite keeps its name in the
graph as built, and the first pass replaces it by its decomposition unless the op has a lowering."""
import math

import numpy as np
import pytest

import staticnet as sn
from staticnet.ops.activations import ACTIVATIONS
from staticnet.passes import inline_composites, optimize
from staticnet.program import Program
from staticnet.registry import registry

COMPOSITES = {  # the builder, and the definition from PyTorch's equations, in float64
    "leaky_relu": (lambda z: sn.leaky_relu(z, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "elu": (lambda z: sn.elu(z, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(np.minimum(x, 0)))),
    "swish": (lambda z: sn.swish(z, 1.5), lambda x: x / (1 + np.exp(-1.5 * x))),
    "gelu": (sn.gelu, lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    "gelu_tanh": (lambda z: sn.gelu(z, "tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    "gelu_sigmoid": (lambda z: sn.gelu(z, "sigmoid"), lambda x: x / (1 + np.exp(-1.702 * x))),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_a_composite_keeps_its_name_until_the_first_pass_inlines_it(name):
    build, definition = COMPOSITES[name]
    x = sn.input("x", (None, 5), "float64")
    a = build(x)
    assert a.op == name.split("_")[0] if name.startswith("gelu") else a.op == name
    assert registry[a.op].kind == "composite" and registry[a.op].activation
    inlined = inline_composites(Program(outputs=(a,)))
    assert not any(registry[n.op].kind == "composite" for n in inlined.nodes() if not n.is_leaf)
    optimized = optimize(Program(outputs=(a,)))
    assert all(n.op not in ("leaky_relu", "elu", "swish", "gelu") for n in optimized.nodes())
    rows = np.random.default_rng(0).normal(scale=3.0, size=(7, 5))
    (compiled,) = sn.function([x], [a])(rows)
    np.testing.assert_allclose(compiled, definition(rows), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(registry[a.op].numpy(rows, **a.attrs), definition(rows), rtol=1e-12, atol=1e-12)


def test_prelu_is_one_node_reading_its_slope():
    x = sn.input("x", (None, 3), "float64")
    a = sn.prelu(x, name="act")
    assert a.op == "prelu" and a.inputs[1].name == "act/alpha" and a.layer == "act"
    rows = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(sn.function([x], [a])(rows)[0], [[-0.5, 0.0, 3.0]])


def test_a_composite_with_a_lowering_of_its_own_is_not_inlined():
    x = sn.input("x", (None, 4))
    a = sn.softplus(x)
    assert registry["softplus"].decomposition is not None and registry["softplus"].kind == "elementwise"
    assert inline_composites(Program(outputs=(a,))).outputs == (a,)


def test_every_activation_by_name_is_one_node_of_that_name_or_a_primitive():
    z = sn.input("z", (None, 4))
    for name, build in ACTIVATIONS.items():
        if name != "linear":
            assert build(z).inputs[0] is z, name


def test_mish_is_a_composite_of_softplus_and_tanh():
    x = sn.input("x", (None, 3), "float64")
    a = sn.mish(x)
    assert a.op == "mish" and registry["mish"].kind == "composite"
    assert [n.op for n in inline_composites(Program(outputs=(a,))).nodes()] == ["input", "softplus", "tanh", "mul"]
