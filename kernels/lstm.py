"""The LSTM recurrence (PyTorch's equations, gates i, f, g, o) and its backpropagation through time.

Arrays: x (batch, steps, features), w (features, 4h), u (h, 4h), b (4h,), hidden states h (batch, steps, h).
At step t, with z = x_t w + h_{t-1} u + b cut into four blocks of h columns:
    i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
    c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t),   h_{-1} = c_{-1} = 0.

One product per step for all four gates (h_{t-1} u, batch x h times h x 4h), their elementwise work in one
loop.  The input's share x w of every step is one product before the loop, as is every product that does
not wait for the previous step in the backward pass.  Only h is kept from the forward pass: the backward
pass computes the gates again from x and the stored h (two products over all steps at once, cheaper than
keeping 5h values a step for every example) and the cells c from them.
"""
import math

import numpy as np
from numba import njit

from .blas import blas_threads_local
from .gemm import product_at


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def sigmoid(s):
    """1 / (1 + e^-s), in a form that never overflows (NaN gives NaN)."""
    return 1.0 / (1.0 + math.exp(-s)) if s >= 0 else math.exp(s) / (1.0 + math.exp(s))


@njit(cache=True, nogil=True, error_model="numpy")
def shifted_states(h):
    """h_{t-1} for every step, as rows (batch * steps, hidden): zeros at t = 0."""
    batch, steps, hidden = h.shape
    previous = np.empty((batch * steps, hidden), h.dtype)
    for n in range(batch):
        for j in range(hidden):
            previous[n * steps, j] = 0.0
        for t in range(1, steps):
            for j in range(hidden):
                previous[n * steps + t, j] = h[n, t - 1, j]
    return previous


@njit(cache=True, nogil=True, error_model="numpy")
def input_products(x, w):
    """x_t w for every step at once: rows (batch * steps, columns of w)."""
    batch, steps, features = x.shape
    out = np.empty((batch * steps, w.shape[1]), x.dtype)
    product_at(out, False, False, batch * steps, w.shape[1], features, 1.0, x.ctypes.data, features,
               w.ctypes.data, w.shape[1], 0.0, out.ctypes.data, w.shape[1])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_forward(x, w, u, b, h):
    """The hidden states h of every step (see the module's docstring)."""
    batch, steps, features = x.shape
    hidden = u.shape[0]
    blas_threads_local(1)  # one thread per product (kernels/gemm.py, ONE_BLAS_THREAD)
    z = input_products(x, w)  # row n * steps + t: step t of example n; the recurrent product is added to it
    c = np.zeros((batch, hidden), x.dtype)
    size, width = z.itemsize, 4 * hidden
    for t in range(steps):
        if t > 0:  # z_t += h_{t-1} u over the batch: rows of h and z read with stride `steps` rows
            product_at(z, False, False, batch, width, hidden, 1.0, h.ctypes.data + (t - 1) * hidden * size,
                       steps * hidden, u.ctypes.data, width, 1.0, z.ctypes.data + t * width * size, steps * width)
        for n in range(batch):
            row = n * steps + t
            for j in range(hidden):
                i = sigmoid(z[row, j] + b[j])
                f = sigmoid(z[row, hidden + j] + b[hidden + j])
                g = math.tanh(z[row, 2 * hidden + j] + b[2 * hidden + j])
                o = sigmoid(z[row, 3 * hidden + j] + b[3 * hidden + j])
                c[n, j] = f * c[n, j] + i * g
                h[n, t, j] = o * math.tanh(c[n, j])


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_backward(x, h, w, u, b, g, dx, dw, du, db, want_dx, want_dw, want_du, want_db):
    """Gradients of sum(g * h) for x, w, u and b, backwards through time; arrays whose want flag is False
    are not written (the caller may pass any array of the right rank)."""
    batch, steps, features = x.shape
    hidden = u.shape[0]
    width = 4 * hidden
    blas_threads_local(1)
    previous = shifted_states(h)
    gates = input_products(x, w)  # pre-activations, then the gates, then their gradients, in place
    product_at(gates, False, False, batch * steps, width, hidden, 1.0, previous.ctypes.data, hidden,
               u.ctypes.data, width, 1.0, gates.ctypes.data, width)
    cells = np.empty((batch * steps, hidden), x.dtype)
    for n in range(batch):
        for t in range(steps):
            row = n * steps + t
            for j in range(hidden):
                i = sigmoid(gates[row, j] + b[j])
                f = sigmoid(gates[row, hidden + j] + b[hidden + j])
                gg = math.tanh(gates[row, 2 * hidden + j] + b[2 * hidden + j])
                gates[row, j], gates[row, hidden + j], gates[row, 2 * hidden + j] = i, f, gg
                gates[row, 3 * hidden + j] = sigmoid(gates[row, 3 * hidden + j] + b[3 * hidden + j])
                cells[row, j] = (f * cells[row - 1, j] if t > 0 else 0.0) + i * gg
    carry_h = np.zeros((batch, hidden), x.dtype)  # dC/dh_t through h_{t+1}: dz_{t+1} u^T
    carry_c = np.zeros((batch, hidden), x.dtype)  # dC/dc_t through c_{t+1}: dc_{t+1} * f_{t+1}
    size = gates.itemsize
    for t in range(steps - 1, -1, -1):
        for n in range(batch):
            row = n * steps + t
            for j in range(hidden):
                i, f = gates[row, j], gates[row, hidden + j]
                gg, o = gates[row, 2 * hidden + j], gates[row, 3 * hidden + j]
                squashed = math.tanh(cells[row, j])
                dh = g[n, t, j] + carry_h[n, j]
                dc = dh * o * (1.0 - squashed * squashed) + carry_c[n, j]
                before = cells[row - 1, j] if t > 0 else 0.0
                gates[row, j] = dc * gg * i * (1.0 - i)
                gates[row, hidden + j] = dc * before * f * (1.0 - f)
                gates[row, 2 * hidden + j] = dc * i * (1.0 - gg * gg)
                gates[row, 3 * hidden + j] = dh * squashed * o * (1.0 - o)
                carry_c[n, j] = dc * f
        if t > 0:  # dC/dh_{t-1} = dz_t u^T, the one product of the step
            product_at(gates, False, True, batch, hidden, width, 1.0, gates.ctypes.data + t * width * size,
                       steps * width, u.ctypes.data, width, 0.0, carry_h.ctypes.data, hidden)
    rows = batch * steps
    if want_dw:
        product_at(gates, True, False, features, width, rows, 1.0, x.ctypes.data, features, gates.ctypes.data,
                   width, 0.0, dw.ctypes.data, width)
    if want_du:
        product_at(gates, True, False, hidden, width, rows, 1.0, previous.ctypes.data, hidden, gates.ctypes.data,
                   width, 0.0, du.ctypes.data, width)
    if want_dx:
        product_at(gates, False, True, rows, features, width, 1.0, gates.ctypes.data, width, w.ctypes.data, width,
                   0.0, dx.ctypes.data, features)
    if want_db:
        for k in range(width):
            db[k] = 0.0
        for row in range(rows):
            for k in range(width):
                db[k] += gates[row, k]
