"""An embedding's rows: gathered by id in the forward pass, their gradients added back by id (a scatter-add).

Ids come flat (every position of the ids array in order), the rows as a matrix (positions, dim).  An id outside
[0, rows of the table) makes the gather return False before reading it: fit checks the ids before training
(staticnet/data_checks.py), this keeps the compiled code from reading outside the table whatever it is fed.
"""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def gather_rows(ids, table, out):
    """out[k] = table[ids[k]]; False (out partly written) if an id is out of range."""
    vocabulary = table.shape[0]
    for k in range(ids.shape[0]):
        row = ids[k]
        if row < 0 or row >= vocabulary:
            return False
        for j in range(table.shape[1]):
            out[k, j] = table[row, j]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def scatter_add_rows(ids, g, out):
    """out = zeros, then out[ids[k]] += g[k] for every position k, in order: the table's gradient; False (out
    partly written) if an id is out of range.  It checks the ids itself: a program may need the table's
    gradient without the gather of the same ids (sn.grad of the table alone), or run it first."""
    vocabulary = out.shape[0]
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = 0.0
    for k in range(ids.shape[0]):
        row = ids[k]
        if row < 0 or row >= vocabulary:
            return False
        for j in range(out.shape[1]):
            out[row, j] += g[k, j]
    return True
