"""Algebraic simplification: identities that remove work without changing a value.

Each rule returns the simpler tensor, or None when it does not apply; a rule only
fires when the result has the node's exact shape and dtype.
"""
import numpy as np

from ..program import Program, rebuild


def _is_constant(t, value):
    return t.op == "constant" and np.all(t.value == value)


def _times_one(node, inputs):
    """x * 1 -> x, 1 * x -> x."""
    if node.op == "mul":
        a, b = inputs
        return a if _is_constant(b, 1) else b if _is_constant(a, 1) else None


def _plus_zero(node, inputs):
    """x + 0 -> x, 0 + x -> x, x - 0 -> x."""
    if node.op in ("add", "sub"):
        a, b = inputs
    if node.op == "add":
        return a if _is_constant(b, 0) else b if _is_constant(a, 0) else None
    if node.op == "sub":
        return a if _is_constant(b, 0) else None


def _divide_by_one(node, inputs):
    """x / 1 -> x."""
    if node.op == "div" and _is_constant(inputs[1], 1):
        return inputs[0]


def _double_negation(node, inputs):
    """-(-x) -> x."""
    if node.op == "neg" and inputs[0].op == "neg":
        return inputs[0].inputs[0]


def _transpose_of_transpose(node, inputs):
    """transpose(transpose(x, p), q) -> x when q undoes p."""
    x = inputs[0] if inputs else None
    if node.op == "transpose" and x.op == "transpose":
        composed = tuple(x.attrs["axes"][a] for a in node.attrs["axes"])
        if composed == tuple(range(len(composed))):
            return x.inputs[0]


def _reshape_of_reshape(node, inputs):
    """reshape(reshape(x)) -> reshape(x), and a reshape to x's own shape -> x."""
    if node.op == "reshape":
        x = inputs[0]
        if x.shape == node.shape:
            return x
        if x.op == "reshape":
            from ..ops.shape import reshape
            return reshape(x.inputs[0], node.shape)


RULES = [_times_one, _plus_zero, _divide_by_one, _double_negation, _transpose_of_transpose, _reshape_of_reshape]


def simplify(program: Program) -> Program:
    fired = []

    def rule(node, inputs):
        for r in RULES:
            out = r(node, inputs)
            if out is not None and out.shape == node.shape and out.dtype == node.dtype:
                fired.append(r.__name__)
                return out
        return None

    out = rebuild(program, rule)
    return out if fired else program
