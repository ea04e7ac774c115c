"""ops/composite.py: what a composite's registration leaves out comes from its decomposition."""
import numpy as np

import staticnet as sn
from staticnet.graph import make_node
from staticnet.ops.composite import register_composite
from staticnet.passes import inline_composites
from staticnet.program import Program
from staticnet.registry import registry


def _cube(x):
    return x * x * x


register_composite("cube_for_test_composite", _cube)


def test_shape_reference_and_gradient_come_from_the_decomposition():
    x = sn.input("x", (None, 3), "float64")
    y = make_node("cube_for_test_composite", (x,))
    assert (y.shape, y.dtype) == ((None, 3), np.float64)
    rows = np.array([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(registry[y.op].numpy(rows), rows ** 3)
    (g,) = sn.grad(sn.sum(y), [x])
    value, gradient = sn.function([x], [y, g])(rows)
    np.testing.assert_allclose(value, rows ** 3)
    np.testing.assert_allclose(gradient, 3 * rows ** 2)
    assert registry[y.op].kind == "composite"
    assert [n.op for n in inline_composites(Program(outputs=(y,))).nodes()] == ["input", "mul", "mul"]
