"""Copies along one axis of an array seen as (outer, axis, inner): the slice, its gradient and concatenation.

Any slice of one axis, any concatenation along one axis, is one of these on that 3-D view of contiguous
arrays (outer: the product of the axes before, inner: of those after), so three kernels serve every rank.
The inner loop runs over contiguous memory on both sides.
"""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def take(x, out, start, step):
    """out[o, j, i] = x[o, start + j * step, i]: every step-th position of the middle axis from start."""
    for o in range(out.shape[0]):
        for j in range(out.shape[1]):
            source = start + j * step
            for i in range(out.shape[2]):
                out[o, j, i] = x[o, source, i]


@njit(cache=True, nogil=True, error_model="numpy")
def place(x, out, start, step):
    """out[o, start + j * step, i] = x[o, j, i]; the other positions of out are left as they are."""
    for o in range(x.shape[0]):
        for j in range(x.shape[1]):
            target = start + j * step
            for i in range(x.shape[2]):
                out[o, target, i] = x[o, j, i]


@njit(cache=True, nogil=True, error_model="numpy")
def scatter(x, out, start, step):
    """out is zero except out[o, start + j * step, i] = x[o, j, i]: a slice's gradient."""
    for o in range(out.shape[0]):
        for j in range(out.shape[1]):
            for i in range(out.shape[2]):
                out[o, j, i] = 0.0
    place(x, out, start, step)
