"""Loop bodies: the elementwise instructions that a fused node runs in one loop over its elements.

A loop body is a tuple of instructions ``(op, args, attrs)``. An arg below the number of the node's
inputs names an input; arg ``k + j`` (k inputs) names the result of instruction j. The fusion passes
build bodies, the reference interpreter evaluates them with each op's NumPy definition, and the code
generator writes each as one loop nest (codegen/elementwise.py).
"""
from __future__ import annotations

import numpy as np

from .registry import registry

COPY = (("broadcast_like", (0,), ()),)  # a body writing its one input unchanged (broadcast over the loop's shape)


def loop_body_of(node, inputs=None) -> tuple[list, tuple]:
    """(inputs, body) of an elementwise node: a fused node's own body, or the node as one instruction.
    A pass rebuilding the graph passes the node's rebuilt inputs."""
    inputs = list(node.inputs if inputs is None else inputs)
    if node.op == "fused":
        return inputs, node.attrs["body"]
    return inputs, ((node.op, tuple(range(len(inputs))), tuple(sorted(node.attrs.items()))),)


def evaluate_body(body, arrays) -> list[np.ndarray]:
    """The reference value of every instruction of a loop body, given its inputs' arrays."""
    values = list(arrays)
    for op, args, attrs in body:
        values.append(np.asarray(registry[op].numpy(*(values[a] for a in args), **dict(attrs))))
    return values[len(arrays):]
