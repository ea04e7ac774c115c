"""The GRU recurrence (PyTorch's equations, gates r, z, n, the reset gate applied after the recurrent
product) and its backpropagation through time.

Arrays: x (batch, steps, features), w (features, 3h), u (h, 3h), b (3h,), b_hn (h,), states h (batch, steps, h).
At step t, with a = x_t w + b and p = h_{t-1} u, each cut into three blocks of h columns:
    r = sigmoid(a_r + p_r), z = sigmoid(a_z + p_z), n = tanh(a_n + r * (p_n + b_hn))
    h_t = (1 - z) * n + z * h_{t-1},   h_{-1} = 0.

One product per step for all three gates, their elementwise work in one loop; the input's share of every
step is one product before the loop.  As for the LSTM (kernels/lstm.py), only h is kept: the backward pass
computes the gates again from x and the stored h with two products over all steps.  In float32 the gates'
exp and tanh vectorise, as in kernels/lstm.py.
"""
import numpy as np
from numba import njit

from .blas import blas_threads_local
from .fastmath import one_of, tanh_of
from .gemm import product_at
from .lstm import input_products, shifted_states, sigmoid


@njit(cache=True, nogil=True, error_model="numpy")
def gru_forward(x, w, u, b, b_hn, h):
    """The hidden states h of every step (see the module's docstring)."""
    batch, steps, features = x.shape
    hidden = u.shape[0]
    width = 3 * hidden
    blas_threads_local(1)  # one thread per product (kernels/gemm.py, ONE_BLAS_THREAD)
    a3 = np.empty((batch, steps, width), x.dtype)
    input_products(x, w, a3)
    a = a3.reshape(batch * steps, width)
    p = np.zeros((batch, width), x.dtype)  # h_{t-1} u: zero at t = 0
    size = a.itemsize
    one = one_of(b[0])
    zero = one - one
    for t in range(steps):
        if t > 0:
            product_at(p, False, False, batch, width, hidden, 1.0, h.ctypes.data + (t - 1) * hidden * size,
                       steps * hidden, u.ctypes.data, width, 0.0, p.ctypes.data, width)
        for n in range(batch):
            row = n * steps + t
            for j in range(hidden):
                r = sigmoid(a[row, j] + b[j] + p[n, j])
                z = sigmoid(a[row, hidden + j] + b[hidden + j] + p[n, hidden + j])
                new = tanh_of(a[row, 2 * hidden + j] + b[2 * hidden + j] + r * (p[n, 2 * hidden + j] + b_hn[j]))
                before = h[n, t - 1, j] if t > 0 else zero
                h[n, t, j] = (one - z) * new + z * before


@njit(cache=True, nogil=True, error_model="numpy")
def gru_backward(x, h, w, u, b, b_hn, g, a_scratch, p_scratch, previous_scratch, dx, dw, du, db, db_hn,
                 want_dx, want_dw, want_du, want_db, want_db_hn):
    """Gradients of sum(g * h) for x, w, u, b and b_hn, backwards through time; arrays whose want flag is
    False are not written (the caller may pass any array of the right rank).  The scratch arrays (batch, steps,
    3h, 3h and h wide) hold the values of every step: their contents on entry do not matter."""
    batch, steps, features = x.shape
    hidden = u.shape[0]
    width = 3 * hidden
    rows = batch * steps
    blas_threads_local(1)
    previous = previous_scratch.reshape(rows, hidden)
    shifted_states(h, previous)
    input_products(x, w, a_scratch)
    a = a_scratch.reshape(rows, width)  # the input's pre-activations, then their gradients, in place
    p = p_scratch.reshape(rows, width)  # h_{t-1} u, then its gradient, in place
    product_at(p, False, False, rows, width, hidden, 1.0, previous.ctypes.data, hidden, u.ctypes.data,
               width, 0.0, p.ctypes.data, width)
    carry = np.zeros((batch, hidden), x.dtype)  # dC/dh_t through h_{t+1}
    size = a.itemsize
    one = one_of(b[0])
    for t in range(steps - 1, -1, -1):
        for n in range(batch):
            row = n * steps + t
            for j in range(hidden):
                r = sigmoid(a[row, j] + b[j] + p[row, j])
                z = sigmoid(a[row, hidden + j] + b[hidden + j] + p[row, hidden + j])
                recurrent = p[row, 2 * hidden + j] + b_hn[j]
                new = tanh_of(a[row, 2 * hidden + j] + b[2 * hidden + j] + r * recurrent)
                before = previous[row, j]
                dh = g[n, t, j] + carry[n, j]
                d_new = dh * (one - z) * (one - new * new)
                d_r = d_new * recurrent * r * (one - r)
                d_z = dh * (before - new) * z * (one - z)
                a[row, j], a[row, hidden + j], a[row, 2 * hidden + j] = d_r, d_z, d_new
                p[row, j], p[row, hidden + j], p[row, 2 * hidden + j] = d_r, d_z, d_new * r
                carry[n, j] = dh * z
        if t > 0:  # dC/dh_{t-1} = dh_t * z + dp_t u^T, the one product of the step
            product_at(p, False, True, batch, hidden, width, 1.0, p.ctypes.data + t * width * size, steps * width,
                       u.ctypes.data, width, 1.0, carry.ctypes.data, hidden)
    if want_dw:
        product_at(a, True, False, features, width, rows, 1.0, x.ctypes.data, features, a.ctypes.data, width, 0.0,
                   dw.ctypes.data, width)
    if want_du:
        product_at(p, True, False, hidden, width, rows, 1.0, previous.ctypes.data, hidden, p.ctypes.data, width,
                   0.0, du.ctypes.data, width)
    if want_dx:
        product_at(a, False, True, rows, features, width, 1.0, a.ctypes.data, width, w.ctypes.data, width, 0.0,
                   dx.ctypes.data, features)
    if want_db:
        for k in range(width):
            db[k] = 0.0
        for row in range(rows):
            for k in range(width):
                db[k] += a[row, k]
    if want_db_hn:
        for j in range(hidden):
            db_hn[j] = 0.0
        for row in range(rows):
            for j in range(hidden):
                db_hn[j] += p[row, 2 * hidden + j]
