"""Python's operators on tensors: x + y, x @ W, -x, x > 0, x ** 2, x.T, x.sum(axis) ... build graph nodes.

They are attached to Tensor here, beside the ops they build, so that the graph module needs none of them.
"""
from __future__ import annotations

from ..errors import GraphError
from ..graph import fail
from . import elementwise, linalg, reduce, shape, slicing


def _power(x, exponent):
    if exponent == 2:
        return elementwise.square(x)
    if exponent == 0.5:
        return elementwise.sqrt(x)
    fail(GraphError, "pow", f"only x**2 and x**0.5 are supported, got exponent {exponent!r}")


def _not_iterable(x):
    """With __getitem__ alone Python would iterate a tensor by indexing 0, 1, 2 ... into its batch axis."""
    raise GraphError(f"a symbolic tensor ({x.op} at {x.loc}) cannot be iterated: index it (x[:, 0]) or use sn.split")


def install(tensor_class) -> None:
    """Give `tensor_class` (graph.Tensor) its operators and reduction methods."""
    binary = {"add": elementwise.add, "sub": elementwise.sub, "mul": elementwise.mul, "truediv": elementwise.div,
              "matmul": linalg.matmul}
    for name, op in binary.items():
        setattr(tensor_class, f"__{name}__", lambda self, other, op=op: op(self, other))
        setattr(tensor_class, f"__r{name}__", lambda self, other, op=op: op(other, self))
    comparisons = {"gt": elementwise.greater, "ge": elementwise.greater_equal, "lt": elementwise.less,
                   "le": elementwise.less_equal}
    for name, op in comparisons.items():
        setattr(tensor_class, f"__{name}__", lambda self, other, op=op: op(self, other))
    tensor_class.__neg__ = lambda self: elementwise.neg(self)
    tensor_class.__pow__ = _power
    tensor_class.T = property(lambda self: shape.transpose(self))
    tensor_class.sum = lambda self, axis=None, keepdims=False: reduce.sum(self, axis, keepdims)
    tensor_class.mean = lambda self, axis=None, keepdims=False: reduce.mean(self, axis, keepdims)
    tensor_class.max = lambda self, axis=None, keepdims=False: reduce.max(self, axis, keepdims)
    tensor_class.__getitem__ = slicing.index
    tensor_class.__iter__ = _not_iterable
    tensor_class.reshape = lambda self, *dims: shape.reshape(self, dims[0] if len(dims) == 1 else dims)
