"""Counting correct predictions inside the compiled training loop."""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _argmax_row(x, i):
    """The column of row i's largest value; -1 (no class) if the row holds a NaN, so a diverged network
    is never counted right."""
    best, where = x[i, 0], 0
    for j in range(x.shape[1]):
        if x[i, j] != x[i, j]:
            return -1
        if x[i, j] > best:
            best, where = x[i, j], j
    return where


@njit(cache=True, nogil=True, error_model="numpy")
def correct_one_hot(pred, target):
    """Rows whose largest prediction sits where the one-hot target's 1 is."""
    correct = 0
    for i in range(pred.shape[0]):
        guess = _argmax_row(pred, i)
        correct += guess >= 0 and guess == _argmax_row(target, i)
    return correct


@njit(cache=True, nogil=True, error_model="numpy")
def correct_index(pred, labels):
    """Rows whose largest prediction is at the integer label."""
    correct = 0
    for i in range(pred.shape[0]):
        correct += _argmax_row(pred, i) == labels[i]
    return correct


@njit(cache=True, nogil=True, error_model="numpy")
def correct_binary(pred, target):
    """One output per row: the decision pred > 0.5 against target > 0.5 (labels 0/1 or -1/+1)."""
    p, t = pred.reshape(-1), target.reshape(-1)
    correct = 0
    for i in range(p.shape[0]):
        correct += p[i] == p[i] and (p[i] > 0.5) == (t[i] > 0.5)  # a NaN prediction is wrong
    return correct
