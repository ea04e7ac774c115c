"""The GRU recurrence (PyTorch's equations, gates r, z, n, the reset gate applied after the recurrent
product) and its backpropagation through time.

Arrays: x (batch, steps, features), w (features, 3h), u (h, 3h), b (3h,), b_hn (h,), states h (batch, steps, h).
At step t, with a = x_t w + b and p = h_{t-1} u, each cut into three blocks of h columns:
    r = sigmoid(a_r + p_r), z = sigmoid(a_z + p_z), n = tanh(a_n + r * (p_n + b_hn))
    h_t = (1 - z) * n + z * h_{t-1},   h_{-1} = 0.

One product per step for all three gates (h_{t-1} u, batch x h times h x 3h) and one pass of elementwise work
over the gates of the step, beside the step's x_t w.  Only h is kept from the forward pass: the backward pass
computes the gates again from x and the stored h with two products over all steps (in buffers of the step's
workspace: ops/lstm.py's scratch nodes), then runs the one product of each step back.  In float32 the gates'
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
    a = np.empty((batch, width), x.dtype)  # a step's x_t w: small, so that no call allocates megabytes
    p = np.zeros((batch, width), x.dtype)  # h_{t-1} u: zero at t = 0
    state = np.zeros((batch, hidden), x.dtype)  # h_{t-1}: read here, not from h, which the loop writes
    size = a.itemsize
    for t in range(steps):  # rows of x and h read with a stride of `steps` rows
        product_at(a, False, False, batch, width, features, 1.0, x.ctypes.data + t * features * size,
                   steps * features, w.ctypes.data, width, 0.0, a.ctypes.data, width)
        if t > 0:
            product_at(p, False, False, batch, width, hidden, 1.0, h.ctypes.data + (t - 1) * hidden * size,
                       steps * hidden, u.ctypes.data, width, 0.0, p.ctypes.data, width)
        _state_step(a, p, b, b_hn, state, t, h)


# The elementwise work, each a function of its own with loops that write one array or one block of columns, the
# form in which LLVM vectorises them (kernels/lstm.py).
@njit(cache=True, nogil=True, error_model="numpy")
def _state_step(a, p, b, b_hn, state, t, h):
    """h[:, t] from step t's x_t w (a), h_{t-1} u (p), both (batch, 3h), and h_{t-1} (state, which becomes h_t)."""
    hidden = h.shape[2]
    one = one_of(b[0])
    for n in range(a.shape[0]):
        for j in range(hidden):
            r = sigmoid(a[n, j] + b[j] + p[n, j])
            z = sigmoid(a[n, hidden + j] + b[hidden + j] + p[n, hidden + j])
            new = tanh_of(a[n, 2 * hidden + j] + b[2 * hidden + j] + r * (p[n, 2 * hidden + j] + b_hn[j]))
            value = (one - z) * new + z * state[n, j]
            state[n, j] = value
            h[n, t, j] = value


@njit(cache=True, nogil=True, error_model="numpy")
def _step_gradients(t, steps, g, a, p, b, b_hn, previous, carry, values):
    """Step t's gradients for every example: those of x_t w + b over its pre-activations in a, those of h_{t-1} u
    over its products in p, and dC/dh_{t-1} through z (carry, to which the product with u^T is added after).
    `values` (5, hidden): r, z, n, p_n + b_hn and dC/dh_t of one example."""
    hidden = carry.shape[1]
    one = one_of(b[0])
    r_, z_, n_, recurrent_, dh_ = values[0], values[1], values[2], values[3], values[4]
    for n in range(g.shape[0]):
        row = n * steps + t
        for j in range(hidden):
            r = sigmoid(a[row, j] + b[j] + p[row, j])
            recurrent = p[row, 2 * hidden + j] + b_hn[j]
            r_[j] = r
            z_[j] = sigmoid(a[row, hidden + j] + b[hidden + j] + p[row, hidden + j])
            n_[j] = tanh_of(a[row, 2 * hidden + j] + b[2 * hidden + j] + r * recurrent)
            recurrent_[j] = recurrent
            dh_[j] = g[n, t, j] + carry[n, j]
        for j in range(hidden):
            new = n_[j]
            d_new = dh_[j] * (one - z_[j]) * (one - new * new)
            a[row, 2 * hidden + j] = d_new
            p[row, 2 * hidden + j] = d_new * r_[j]
        for j in range(hidden):
            new, r = n_[j], r_[j]
            d_r = dh_[j] * (one - z_[j]) * (one - new * new) * recurrent_[j] * r * (one - r)
            a[row, j] = d_r
            p[row, j] = d_r
        for j in range(hidden):
            z = z_[j]
            d_z = dh_[j] * (previous[row, j] - n_[j]) * z * (one - z)
            a[row, hidden + j] = d_z
            p[row, hidden + j] = d_z
        for j in range(hidden):
            carry[n, j] = dh_[j] * z_[j]


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
    values = np.empty((5, hidden), x.dtype)
    size = a.itemsize
    for t in range(steps - 1, -1, -1):
        _step_gradients(t, steps, g, a, p, b, b_hn, previous, carry, values)
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
    zero = one_of(b[0]) - one_of(b[0])
    if want_db:
        for k in range(width):
            db[k] = zero
        for row in range(rows):
            for k in range(width):
                db[k] += a[row, k]
    if want_db_hn:
        for j in range(hidden):
            db_hn[j] = zero
        for row in range(rows):
            for j in range(hidden):
                db_hn[j] += p[row, 2 * hidden + j]
