"""Algebraic simplification: identities that remove work without changing a value.

A rule fires only when the result has the node's exact shape and dtype (the rule set keeps shapes).
"""
import numpy as np

from .rules import RuleSet

simplify = RuleSet("simplify")


def _is_constant(t, value):
    return t.op == "constant" and np.all(t.value == value)


@simplify.rule("mul")
def times_one(node, inputs, context):
    """x * 1 -> x, 1 * x -> x."""
    a, b = inputs
    return a if _is_constant(b, 1) else b if _is_constant(a, 1) else None


@simplify.rule("add")
def plus_zero(node, inputs, context):
    """x + 0 -> x, 0 + x -> x."""
    a, b = inputs
    return a if _is_constant(b, 0) else b if _is_constant(a, 0) else None


@simplify.rule("sub")
def minus_zero(node, inputs, context):
    """x - 0 -> x."""
    return inputs[0] if _is_constant(inputs[1], 0) else None


@simplify.rule("div")
def divide_by_one(node, inputs, context):
    """x / 1 -> x."""
    return inputs[0] if _is_constant(inputs[1], 1) else None


@simplify.rule("neg")
def double_negation(node, inputs, context):
    """-(-x) -> x."""
    return inputs[0].inputs[0] if inputs[0].op == "neg" else None


@simplify.rule("transpose")
def transpose_of_transpose(node, inputs, context):
    """transpose(transpose(x, p), q) -> x when q undoes p."""
    x = inputs[0]
    if x.op == "transpose":
        composed = tuple(x.attrs["axes"][a] for a in node.attrs["axes"])
        if composed == tuple(range(len(composed))):
            return x.inputs[0]
    return None


@simplify.rule("reshape")
def reshape_of_reshape(node, inputs, context):
    """reshape(reshape(x)) -> reshape(x), and a reshape to x's own shape -> x."""
    x = inputs[0]
    if x.shape == node.shape:
        return x
    if x.op == "reshape":
        from ..ops.shape import reshape
        return reshape(x.inputs[0], node.shape)
    return None
