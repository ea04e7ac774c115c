"""The op registry: for each op, its rules kept in one place.

Each op module registers its primitives with `register`, giving the shape rule,
the NumPy reference, the gradient rule and the fusion kind side by side.  Passes
and backends look rules up here by op name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import DTypeError, ShapeError
from ..graph import FLOAT_DTYPES, Tensor, fmt_shape


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


# ---------------------------------------------------------------- shared shape rules

def broadcast_shapes(*shapes):
    """NumPy broadcasting, where None (the batch) meets only None or 1."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis, dims in enumerate(zip(*padded)):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            listed = " and ".join(fmt_shape(s) for s in shapes)
            raise ShapeError(f"shapes {listed} do not broadcast: axis {axis - ndim} has sizes "
                             f"{', '.join('batch' if d is None else str(d) for d in sorted(sizes, key=str))}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def require_float(*tensors, what="operand"):
    for t in tensors:
        if t.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{what} of shape {fmt_shape(t.shape)} has dtype {t.dtype}; this op needs float32 or float64 "
                             "(integer tensors are labels: use sn.one_hot or sn.cast)")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise DTypeError(f"operands mix {' and '.join(sorted(map(str, dtypes)))}; cast one with sn.cast")
    return tensors[0].dtype


def normalize_axes(axis, ndim, shape):
    """Axis argument as a sorted tuple of non-negative axes (None means all)."""
    if axis is None:
        return tuple(range(ndim))
    from ..checks import is_integer, shown
    if not (is_integer(axis) or isinstance(axis, (tuple, list)) and all(is_integer(a) for a in axis)):
        raise ShapeError(f"axis must be an int, a tuple of ints or None, got {shown(axis)}")
    axes = (axis,) if is_integer(axis) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a!r} is out of range for a tensor of shape {fmt_shape(shape)} ({ndim} dimensions)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"axis {axis!r} repeats an axis")
    return tuple(sorted(out))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


from . import elementwise, linalg, reduce, shape, activations, loss, nn, fused, conv, pool, rnn  # noqa: E402,F401  (they register themselves)
