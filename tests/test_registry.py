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


VIEW_ATTRS = {"reshape": {"shape": (3, 8)}, "transpose": {"axes": (1, 0)}}


@pytest.mark.parametrize("name", traited("view"))
def test_a_view_moves_or_repeats_its_input_without_arithmetic(name):
    """explain writes a view as what it is of, so its reference computes no new value: every output element is one
    of the input's, and every input element appears (a broadcast may repeat them)."""
    x = np.arange(24.0).reshape(4, 6) + 0.5
    out = registry[name].numpy(x, np.zeros((2, 4, 6))) if name == "broadcast_like" else registry[name].numpy(
        x, **VIEW_ATTRS[name])
    assert set(np.asarray(out).ravel().tolist()) == set(x.ravel().tolist())


@pytest.mark.parametrize("name", traited("aliases_input"))
def test_an_op_aliasing_its_input_keeps_its_elements_in_memory_order(name):
    """The memory plan gives such an op its input's buffer: its reference must be that buffer read with its shape."""
    x = np.arange(24.0).reshape(4, 6)
    out = registry[name].numpy(x, **VIEW_ATTRS[name])
    assert np.array_equal(np.ascontiguousarray(out).ravel(), x.ravel())


def test_the_explain_notation_is_given_by_the_registrations():
    """Infix ops name their symbol and precedence, and the associative ones are exactly those whose reference gives
    the same result grouped either way."""
    assert {name for name, opdef in registry.items() if opdef.infix} >= {"add", "sub", "mul", "div", "matmul"}
    a, b, c = 3.0, 5.0, 7.0
    for name in traited("associative"):
        f = registry[name].numpy
        assert f(f(a, b), c) == f(a, f(b, c))
    for name in ("sub", "div"):
        f = registry[name].numpy
        assert f(f(a, b), c) != f(a, f(b, c)) and not registry[name].associative


@pytest.mark.parametrize("name", traited("takes_labels"))
def test_an_op_taking_labels_reads_integers_below_its_class_count(name):
    labels = np.array([0, 2, 1])
    out = registry[name].numpy(labels, classes=3, dtype="float32")
    assert out.shape == (3, 3) and np.array_equal(out.argmax(axis=1), labels)
