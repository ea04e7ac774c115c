"""The bias gradient, a column sum of the layer's delta, is computed in the loop
that computes the delta: fused(...) and its sum over every axis but the last (axis 0
of a dense layer's delta; batch, height and width of a convolution's) become one
`fused_multi` node with two parts."""
from __future__ import annotations

from ..loop_body import loop_body_of
from ..ops.fused import fused_multi, part
from ..program import Program, consumers, rebuild
from .fuse_elementwise import loopable


def fuse_bias_grad(program: Program) -> Program:
    """sum(delta, all axes but the last) beside delta -> one loop giving (delta, its column sums)."""
    readers = consumers(program)
    multis = {}

    def is_column_sum(node):
        ndim = node.inputs[0].ndim
        return node.op == "sum" and ndim >= 2 and node.attrs == {"axes": tuple(range(ndim - 1)), "keepdims": False}

    def rule(node, inputs):
        if is_column_sum(node) and loopable(node.inputs[0]) and not node.inputs[0].is_leaf:
            delta = inputs[0]
            if delta.id not in multis:
                return None  # the delta was not rebuilt into a multi: nothing to do
            return multis[delta.id][1]
        if loopable(node) and node.ndim >= 2 and any(is_column_sum(r) for r in readers.get(node.id, []) if r is not None):
            fused_inputs, body = loop_body_of(node, inputs)
            last = len(body) - 1
            column_shape = (node.shape[-1],)
            multi = fused_multi(fused_inputs, body, ((last, "map"), (last, "colsum")),
                                ((node.shape, node.dtype.name), (column_shape, node.dtype.name)), node.loc)
            delta_part = part(multi, 0, node.shape, node.dtype, node.loc)
            sum_part = part(multi, 1, column_shape, node.dtype, node.loc)
            multis[delta_part.id] = (delta_part, sum_part)
            return delta_part
        return None

    return rebuild(program, rule)
