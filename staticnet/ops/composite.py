"""Registering a composite: an op written with other ops (JAX's lax.composite), kept by name in the graph.

What the registration leaves out comes from the decomposition: the shape rule (the decomposition built on
the operands), the NumPy reference (the decomposition run by the reference interpreter) and the gradient
(the decomposition differentiated back to the node's inputs). Its kind is "composite", inlined by
passes/inline_composites.py, unless it gives a lowering of its own (softplus: a kind and a scalar form).
"""
from __future__ import annotations

from ..autodiff import vjp
from ..graph import Tensor
from ..interpreter import run
from ..registry import register


def register_composite(name, decomposition, *, shape=None, numpy=None, grad=None, kind="composite", **rules):
    """Register op `name` with its decomposition, (*inputs, **attrs) -> Tensor, and any of OpDef's rules."""
    return register(name, shape=shape or _shape_of(decomposition), numpy=numpy or _reference_of(decomposition),
                    grad=grad or _gradient_of(decomposition), kind=kind, decomposition=decomposition, **rules)


def _shape_of(decomposition):
    def shape(*inputs, **attrs):
        out = decomposition(*inputs, **attrs)
        return out.shape, out.dtype
    return shape


def _reference_of(decomposition):
    def reference(*arrays, **attrs):
        operands = [Tensor("input", (), {}, a.shape, a.dtype, "decomposition", name=f"operand{i}")
                    for i, a in enumerate(arrays)]
        (out,) = run(decomposition(*operands, **attrs), {t.id: a for t, a in zip(operands, arrays)})
        return out
    return reference


def _gradient_of(decomposition):
    def grad(node, g):
        return vjp(decomposition(*node.inputs, **node.attrs), node.inputs, g)
    return grad
