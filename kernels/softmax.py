"""Row-wise softmax, its log, and the fused softmax / sigmoid cross-entropies.

All subtract the row maximum (or use exp(-|z|)), so no exp overflows.  The softmax's exponentials
are fastmath.exp_of's, inlined (exp32 on float32, where libm's expf is a call per value), each
computed once and the probabilities scaled from them (docs/architecture.md has the time it saved).
"""
import math

from numba import njit

from .fastmath import exp_of


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _row_max(z, i):
    top = z[i, 0]
    for j in range(1, z.shape[1]):
        top = max(top, z[i, j])
    return top


@njit(cache=True, nogil=True, error_model="numpy")
def softmax_rows(z, out):
    for i in range(z.shape[0]):
        top = _row_max(z, i)
        total = 0.0
        for j in range(z.shape[1]):
            e = exp_of(z[i, j] - top)
            out[i, j] = e
            total += e
        inv = 1.0 / total
        for j in range(z.shape[1]):
            out[i, j] *= inv


@njit(cache=True, nogil=True, error_model="numpy")
def log_softmax_rows(z, out):
    for i in range(z.shape[0]):
        top = _row_max(z, i)
        total = 0.0
        for j in range(z.shape[1]):
            total += exp_of(z[i, j] - top)
        shift = top + math.log(total)
        for j in range(z.shape[1]):
            out[i, j] = z[i, j] - shift


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _softmax_xent(z, y, w, weighted, probs, store):
    n = z.shape[0]
    loss = 0.0
    for i in range(n):
        top = _row_max(z, i)
        total = 0.0
        for j in range(z.shape[1]):
            e = exp_of(z[i, j] - top)
            if store:
                probs[i, j] = e
            total += e
        log_total = math.log(total)
        inv = 1.0 / total
        for j in range(z.shape[1]):
            if store:
                probs[i, j] *= inv
            term = y[i, j] * (z[i, j] - top - log_total)
            loss -= w[i] * term if weighted else term
    return loss / n


@njit(cache=True, nogil=True, error_model="numpy")
def softmax_xent(z, y, probs, store):
    """-1/n sum y log softmax(z) over n rows, from the logits; with `store`, probs = softmax(z)."""
    return _softmax_xent(z, y, z[:, 0], False, probs, store)


@njit(cache=True, nogil=True, error_model="numpy")
def softmax_xent_weighted(z, y, w, probs, store):
    """-1/n sum_i w_i sum_j y_ij log softmax(z)_ij: each row's term times its weight, divided by the row count
    (with every weight 1, softmax_xent's sum term for term)."""
    return _softmax_xent(z, y, w, True, probs, store)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sigmoid_xent(z, y, w, weighted, a, store):
    n = z.shape[0]
    flat_z, flat_y, flat_a = z.reshape(-1), y.reshape(-1), a.reshape(-1)
    per_row = flat_z.size // n if n else 1
    loss = 0.0
    for k in range(flat_z.size):
        v = flat_z[k]
        e = math.exp(-abs(v))
        if store:
            flat_a[k] = 1.0 / (1.0 + e) if v >= 0 else e / (1.0 + e)
        term = max(v, 0.0) + math.log1p(e) - flat_y[k] * v
        loss += w[k // per_row] * term if weighted else term
    return loss / n


@njit(cache=True, nogil=True, error_model="numpy")
def sigmoid_xent(z, y, a, store):
    """1/n sum [softplus(z) - y z] = -1/n sum [y ln a + (1-y) ln(1-a)]; with `store`, a = sigmoid(z)."""
    return _sigmoid_xent(z, y, z.reshape(-1), False, a, store)


@njit(cache=True, nogil=True, error_model="numpy")
def sigmoid_xent_weighted(z, y, w, a, store):
    """1/n sum_i w_i sum_j [softplus(z_ij) - y_ij z_ij]: each row's terms times its weight, over the row count."""
    return _sigmoid_xent(z, y, w, True, a, store)


@njit(cache=True, nogil=True, error_model="numpy")
def one_hot(labels, out):
    """out[i] = the row of the identity for class labels[i]; False if a label is out of range."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = 0.0
    for i in range(labels.shape[0]):
        c = labels[i]
        if c < 0 or c >= out.shape[1]:
            return False
        out[i, c] = 1.0
    return True
