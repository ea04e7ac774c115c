"""Sums of squares, for gradient norms (gradient clipping): one pass over an array, no array of squares."""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def sum_of_squares(x):
    """sum of x[i]^2 over a flat array: each square in x's dtype (a float32 square past the range is inf, as the
    reference's), summed in float64 by four accumulators, as one would make each addition wait for the last."""
    a0 = a1 = a2 = a3 = 0.0
    size = x.shape[0]
    j = 0
    while j + 4 <= size:
        v0, v1, v2, v3 = x[j], x[j + 1], x[j + 2], x[j + 3]
        a0 += v0 * v0
        a1 += v1 * v1
        a2 += v2 * v2
        a3 += v3 * v3
        j += 4
    for k in range(j, size):
        a0 += x[k] * x[k]
    return (a0 + a1) + (a2 + a3)
