"""Gradients of parts of a batch, laid out flat and added up: what a data-parallel step does between the
gradient program and the update (staticnet/distributed.py, staticnet/mpi_steps.py).

A batch cut into parts gives one gradient per part, each the mean over the part's rows; `scale_into` weights
one by its share of the batch while writing it into a flat buffer, `add_parts` adds the parts' buffers in
part order, so the sum is the same whatever process or thread computed which part.
"""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def scale_into(gradients, weight, out):
    """out = the flattened gradients one after another, each times `weight` (of their float type)."""
    at = 0
    for g in gradients:
        for i in range(g.size):
            out[at + i] = g[i] * weight
        at += g.size


@njit(cache=True, nogil=True, error_model="numpy")
def add_parts(gathered, out):
    """out = gathered[0] + gathered[1] + ..., added in part order (as NumPy's copyto, then += of each part)."""
    for i in range(out.size):
        out[i] = gathered[0, i]
    for part in range(1, gathered.shape[0]):
        for i in range(out.size):
            out[i] = out[i] + gathered[part, i]
