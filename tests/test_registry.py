"""The traits an op's registration declares hold of its reference definition: other code (pool_early, metrics,
explain, summary, the gemm fusions) relies on them instead of lists of names."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.graph import make_node
from staticnet.registry import has_trait, registry

X = np.linspace(-30.0, 30.0, 601)
ONE_INPUT = {"hard_sigmoid": {"alpha": 0.2, "beta": 0.5}, "leaky_relu": {"alpha": 0.1}, "elu": {"alpha": 1.0},
             "swish": {"beta": 1.0}, "gelu": {"approximate": "none"}, "softmax": {"axis": 1},
             "log_softmax": {"axis": 1}}


def traited(trait):
    return sorted(name for name, opdef in registry.items() if getattr(opdef, trait))


def reference(name, x):
    return registry[name].numpy(x, **ONE_INPUT.get(name, {}))


@pytest.mark.parametrize("name", traited("monotone"))
def test_a_monotone_op_is_non_decreasing(name):
    assert registry[name].kind == "elementwise"
    assert np.all(np.diff(reference(name, X)) >= 0)


@pytest.mark.parametrize("name", traited("classifier_output"))
def test_a_classifier_output_lies_between_0_and_1(name):
    values = reference(name, X[:600].reshape(3, -1))
    assert np.all((values >= 0) & (values <= 1))


@pytest.mark.parametrize("name", traited("activation"))
def test_an_activation_maps_a_tensor_to_one_of_its_shape(name):
    z = sn.input("z", (None, 4))
    inputs = (z, sn.constant(np.full(4, 0.25, np.float32))) if name == "prelu" else (z,)
    assert make_node(name, inputs, ONE_INPUT.get(name, {})).shape == (None, 4)


def test_products_and_costs_say_what_they_are():
    a, b = sn.input("a", (None, 3)), sn.param("b", (3, 2))
    assert has_trait(a @ b, "product") and not has_trait(a + 1.0, "product") and not has_trait(a, "product")
    for cost in traited("cross_entropy_of"):
        assert registry[registry[cost].cross_entropy_of].activation
        assert registry[registry[cost].with_activation].kind == "multi"
