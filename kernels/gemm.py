"""Matrix products: out = op(a) @ op(b), where op transposes or not.

Transposed operands are views (a C array's .T is an F array), which BLAS reads
without a copy.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def gemm(a, b, out, trans_a, trans_b):
    """out[:] = (a.T if trans_a else a) @ (b.T if trans_b else b); out is C-contiguous."""
    if out.size == 0:
        return
    if trans_a and trans_b:
        np.dot(a.T, b.T, out)
    elif trans_a:
        np.dot(a.T, b, out)
    elif trans_b:
        np.dot(a, b.T, out)
    else:
        np.dot(a, b, out)
