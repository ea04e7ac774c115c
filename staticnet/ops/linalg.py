"""Matrix product.  The primitive is 2-D @ 2-D; vectors are reshaped around it."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..graph import Tensor, fail, fmt_shape, lift, make_node
from . import register, require_float


def _matmul_shape(a, b):
    dtype = require_float(a, b)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"{fmt_shape(a.shape)} @ {fmt_shape(b.shape)}: the primitive needs two matrices")
    _check_inner(a.shape, b.shape)
    return (a.shape[0], b.shape[1]), dtype


def _check_inner(sa, sb):
    inner_a, inner_b = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
    if inner_a != inner_b:
        fmt = lambda d: "the batch" if d is None else str(d)  # noqa: E731
        raise ShapeError(f"{fmt_shape(sa)} @ {fmt_shape(sb)}: inner dimensions {fmt(inner_a)} and {fmt(inner_b)} differ")


def _matmul_grad(node, g):
    a, b = node.inputs
    return matmul(g, transpose_2d(b)), matmul(transpose_2d(a), g)


def transpose_2d(x):
    from .shape import transpose
    return transpose(x)


register("matmul", shape=_matmul_shape, numpy=np.matmul, grad=_matmul_grad, kind="gemm")


def matmul(a, b):
    """a @ b for matrices, or a matrix and a vector (either side)."""
    from .shape import reshape

    a, b = (lift(v, b if isinstance(b, Tensor) else None) if not isinstance(v, Tensor) else v for v in (a, b))
    if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.ndim + b.ndim == 2:
        fail(ShapeError, "matmul", f"{fmt_shape(a.shape)} @ {fmt_shape(b.shape)}: operands must be matrices, "
                                   "or a matrix and a vector (use sn.sum(a * b) for a dot product)")
    try:
        _check_inner(a.shape, b.shape)
    except ShapeError as e:
        fail(ShapeError, "matmul", str(e))
    if b.ndim == 1:
        return reshape(make_node("matmul", (a, reshape(b, (b.shape[0], 1)))), (a.shape[0],))
    if a.ndim == 1:
        return reshape(make_node("matmul", (reshape(a, (1, a.shape[0])), b)), (b.shape[1],))
    return make_node("matmul", (a, b))
