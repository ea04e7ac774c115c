"""Shape and dtype rules several op families share: broadcasting, float operands, axes."""
from __future__ import annotations

from ..checks import is_integer, shown
from ..errors import DTypeError, ShapeError
from ..graph import FLOAT_DTYPES, fmt_shape


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

