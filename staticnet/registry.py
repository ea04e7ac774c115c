"""The op registry: each op's rules, registered by the op's module (staticnet/ops/) and looked up by name.

It imports nothing of staticnet, so the graph, the passes and the code generator can all read it, and
only the op modules, which register their ops, sit above it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class OpDef:
    name: str
    shape_rule: Callable  # (*inputs, **attrs) -> (shape, dtype); raises ShapeError / DTypeError
    numpy: Callable  # (*arrays, **attrs) -> ndarray: the reference definition
    grad: Callable | None  # (node, g) -> one gradient tensor (or None) per input
    kind: str  # fusion pattern: elementwise, broadcast, reduce, gemm, shape, opaque, multi, part, effect
    scalar: str | None = None  # elementwise only: one element's Python expression, inputs as {0}, {1}, ...
    lower: Callable | None = None  # opaque ops: (node, emitter) -> emits the statements computing node
    row_wise: bool = False  # each batch row of the output depends only on the same rows of the inputs, and the
    #                         op is heavy enough that the step splits runs of such ops across threads by rows


registry: dict[str, OpDef] = {}


def register(name, *, shape, numpy, grad, kind="opaque", scalar=None, lower=None, row_wise=False) -> OpDef:
    if name in registry:
        raise RuntimeError(f"op {name!r} registered twice")
    registry[name] = OpDef(name, shape, numpy, grad, kind, scalar, lower, row_wise)
    return registry[name]


def no_gradient(node, g):
    """For ops whose derivative is zero almost everywhere (step, sign, masks)."""
    return (None,) * len(node.inputs)
