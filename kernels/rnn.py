"""The Elman recurrence and its backpropagation through time, as loops over the sequence.

Activations by code: 0 tanh, 1 relu, 2 sigmoid.  The derivative is taken from the
stored hidden state (1 - h^2, h > 0, h (1 - h)), so the forward values are all
backward needs.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _activate(s, code):
    if code == 0:
        return math.tanh(s)
    if code == 1:
        return max(s, 0.0)
    return 1.0 / (1.0 + math.exp(-s)) if s >= 0 else math.exp(s) / (1.0 + math.exp(s))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _slope(h, code):
    if code == 0:
        return 1.0 - h * h
    if code == 1:
        return 1.0 if h > 0 else 0.0
    return h * (1.0 - h)


@njit(cache=True, nogil=True, error_model="numpy")
def rnn_forward(x, wx, wh, b, h, code):
    """h[n, t] = act(x[n, t] @ wx + h[n, t-1] @ wh + b), with h[n, -1] = 0."""
    batch, steps, features = x.shape
    hidden = wh.shape[0]
    for n in range(batch):
        for t in range(steps):
            for j in range(hidden):
                total = b[j]
                for f in range(features):
                    total += x[n, t, f] * wx[f, j]
                if t > 0:
                    for k in range(hidden):
                        total += h[n, t - 1, k] * wh[k, j]
                h[n, t, j] = _activate(total, code)


@njit(cache=True, nogil=True, error_model="numpy")
def rnn_backward(x, h, wx, wh, g, dx, dwx, dwh, db, code, want_dx, want_dwx, want_dwh, want_db):
    """Gradients of sum(g * h) for x, wx, wh and b, backwards through time; arrays whose
    want flag is False are not written (the caller may pass any array of the right rank)."""
    batch, steps, features = x.shape
    hidden = wh.shape[0]
    if want_dwx:
        dwx[:, :] = 0.0
    if want_dwh:
        dwh[:, :] = 0.0
    if want_db:
        db[:] = 0.0
    carry = np.zeros(hidden, h.dtype)  # two small scratch rows per call (hidden floats each)
    dz = np.zeros(hidden, h.dtype)
    for n in range(batch):
        carry[:] = 0.0
        for t in range(steps - 1, -1, -1):
            for j in range(hidden):
                dz[j] = (g[n, t, j] + carry[j]) * _slope(h[n, t, j], code)
                if want_db:
                    db[j] += dz[j]
            if want_dwx:
                for f in range(features):
                    xv = x[n, t, f]
                    for j in range(hidden):
                        dwx[f, j] += xv * dz[j]
            if want_dx:
                for f in range(features):
                    total = 0.0
                    for j in range(hidden):
                        total += dz[j] * wx[f, j]
                    dx[n, t, f] = total
            if t > 0:
                for k in range(hidden):
                    hv = h[n, t - 1, k]
                    total = 0.0
                    for j in range(hidden):
                        if want_dwh:
                            dwh[k, j] += hv * dz[j]
                        total += dz[j] * wh[k, j]
                    carry[k] = total


@njit(cache=True, nogil=True, error_model="numpy")
def copy_step(h, out, index):
    """out[n] = h[n, index]: one time step of every sequence."""
    for n in range(h.shape[0]):
        for j in range(h.shape[2]):
            out[n, j] = h[n, index, j]


@njit(cache=True, nogil=True, error_model="numpy")
def scatter_step(g, out, index):
    """out = zeros, except out[n, index] = g[n]: the gradient of copy_step."""
    for n in range(out.shape[0]):
        for t in range(out.shape[1]):
            for j in range(out.shape[2]):
                out[n, t, j] = g[n, j] if t == index else 0.0
