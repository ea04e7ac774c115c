"""The LSTM recurrence (PyTorch's equations, gates i, f, g, o) and its backpropagation through time.

Arrays: x (batch, steps, features), w (features, 4h), u (h, 4h), b (4h,), hidden states h (batch, steps, h).
At step t, with z = x_t w + h_{t-1} u + b cut into four blocks of h columns:
    i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
    c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t),   h_{-1} = c_{-1} = 0.

One product per step for all four gates (h_{t-1} u, batch x h times h x 4h, added to the step's x_t w) and
one pass of elementwise work over the gates of the step.  The forward pass writes the gates and cells of
every step to a tape (6h values a step, a buffer of the step's workspace); the backward pass reads them,
runs the one product of each step back (dz_t u^T), and makes the weights' gradients with one product each
over all steps.  In float32 the gates' exp and tanh are kernels/fastmath.py's, which the loops vectorise
(math.exp and math.tanh run one element at a time: they took three quarters of a step), and every constant
is float32 so that the arithmetic stays float32.

Each example's recurrence, forward and back, is independent of the others', so a step cuts both among the
threads by examples (`row_parts`, `lstm_forward_rows`, `lstm_backward_rows`; staticnet/ops/lstm.py runs the
parts), each part's share of the weights' gradients, sums over every example, added in order after
(`lstm_backward_sums`).
The parts are set by the batch size alone, so the result does not depend on how many threads run them.
"""
import numpy as np
from numba import njit

from .blas import blas_threads_local
from .fastmath import exp_of, one_of, tanh_of
from .gemm import product_at


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def sigmoid(s):
    """1 / (1 + e^-|s|) for s >= 0, e^-|s| / (1 + e^-|s|) below: e^-|s| <= 1 never overflows (NaN gives NaN)."""
    one = one_of(s)
    e = exp_of(-abs(s))
    return (one if s >= 0 else e) / (one + e)


@njit(cache=True, nogil=True, error_model="numpy")
def shifted_states(h, previous):
    """previous[n * steps + t] = h_{t-1} of example n: zeros at t = 0."""
    batch, steps, hidden = h.shape
    for n in range(batch):
        for j in range(hidden):
            previous[n * steps, j] = 0.0
        for t in range(1, steps):
            for j in range(hidden):
                previous[n * steps + t, j] = h[n, t - 1, j]


@njit(cache=True, nogil=True, error_model="numpy")
def input_products(x, w, out):
    """out[n * steps + t] = x[n, t] w: every step's share of the input at once, one product."""
    batch, steps, features = x.shape
    product_at(out, False, False, batch * steps, w.shape[1], features, 1.0, x.ctypes.data, features,
               w.ctypes.data, w.shape[1], 0.0, out.ctypes.data, w.shape[1])


@njit(cache=True, nogil=True, error_model="numpy")
def tape_parts(tape, rows, hidden):
    """The gates i, f, g, o (rows, 4h), cells c (rows, h) and tanh(c) (rows, h) of every step, rows n * steps + t,
    one after another in the buffer `tape` (rows * 6h values)."""
    flat = tape.reshape(tape.size)
    gates = flat[:rows * 4 * hidden].reshape(rows, 4 * hidden)
    cells = flat[rows * 4 * hidden:rows * 5 * hidden].reshape(rows, hidden)
    return gates, cells, flat[rows * 5 * hidden:rows * 6 * hidden].reshape(rows, hidden)


ROWS_PER_PART = 16  # examples of a part at least, so that each part's products still fill the microkernels' tiles
MOST_PARTS = 6  # a multiple of 2 and 3 (kernels/gemm.py's PART_STEP): 1, 2, 3 or 6 threads share them evenly


@njit(cache=True, nogil=True, error_model="numpy")
def row_parts(batch):
    """How many parts, of consecutive examples, a batch's recurrence is cut into: set by its size alone, 1, 2, 3
    or MOST_PARTS, so that 1, 2, 3 or 6 threads share them evenly."""
    whole = batch // ROWS_PER_PART
    return MOST_PARTS if whole >= MOST_PARTS else 3 if whole >= 3 else 2 if whole >= 2 else 1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _part_rows(batch, part, parts):
    return batch * part // parts, batch * (part + 1) // parts


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_forward(x, w, u, b, tape, h):
    """The hidden states h of every step (see the module's docstring); the gates and cells into `tape`
    (batch, steps, 6h), for lstm_backward.  On one thread: lstm_forward_rows of one part."""
    lstm_forward_rows(x, w, u, b, tape, h, 0, 1)


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_forward_rows(x, w, u, b, tape, h, part, parts):
    """lstm_forward for the part-th of `parts` runs of examples, into their rows of the whole batch's tape."""
    batch, steps, features = x.shape
    hidden = u.shape[0]
    width = 4 * hidden
    first, last = _part_rows(batch, part, parts)
    if last == first:
        return
    blas_threads_local(1)  # one thread per product (kernels/gemm.py, ONE_BLAS_THREAD)
    gates, cells, squashed = tape_parts(tape, batch * steps, hidden)
    rows = slice(first * steps, last * steps)
    gates, cells, squashed, x, h = gates[rows], cells[rows], squashed[rows], x[first:last], h[first:last]
    count = last - first
    z = np.empty((count, width), x.dtype)  # a step's pre-activations: small, so that no call allocates megabytes
    size = z.itemsize
    for t in range(steps):  # rows of x and h read with a stride of `steps` rows
        product_at(z, False, False, count, width, features, 1.0, x.ctypes.data + t * features * size,
                   steps * features, w.ctypes.data, width, 0.0, z.ctypes.data, width)
        if t > 0:
            product_at(z, False, False, count, width, hidden, 1.0, h.ctypes.data + (t - 1) * hidden * size,
                       steps * hidden, u.ctypes.data, width, 1.0, z.ctypes.data, width)
        _cell_step(z, b, t, steps, gates, cells, squashed, h)


# The elementwise work, each a function of its own: inside the kernels above, with their products, LLVM
# vectorised none of these loops (about 6x slower at hidden 128).  Each loop writes one array or one block of
# columns: a loop writing at j and hidden + j of one array is not vectorised either, as LLVM cannot rule out
# their overlap.
@njit(cache=True, nogil=True, error_model="numpy")
def _cell_step(z, b, t, steps, gates, cells, squashed, h):
    """Step t of every example from its pre-activations z (batch, 4h): the gates, c_t (from c_{t-1}), tanh(c_t)
    and h_t."""
    hidden = cells.shape[1]
    for n in range(z.shape[0]):
        row = n * steps + t
        for k in range(2 * hidden):
            gates[row, k] = sigmoid(z[n, k] + b[k])
        for k in range(2 * hidden, 3 * hidden):
            gates[row, k] = tanh_of(z[n, k] + b[k])
        for k in range(3 * hidden, 4 * hidden):
            gates[row, k] = sigmoid(z[n, k] + b[k])
        if t > 0:
            for j in range(hidden):
                cells[row, j] = gates[row, hidden + j] * cells[row - 1, j] + gates[row, j] * gates[row, 2 * hidden + j]
        else:
            for j in range(hidden):
                cells[row, j] = gates[row, j] * gates[row, 2 * hidden + j]
        for j in range(hidden):
            squashed[row, j] = tanh_of(cells[row, j])
        for j in range(hidden):
            h[n, t, j] = gates[row, 3 * hidden + j] * squashed[row, j]


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_backward(x, h, w, u, tape, g, work, dx, dw, du, db, want_dx, want_dw, want_du, want_db):
    """Gradients of sum(g * h) for x, w, u and b, backwards through time, from the gates and cells lstm_forward
    wrote to `tape`; arrays whose want flag is False are not written (the caller may pass any array of the right
    rank).  `work` (batch, steps, 5h) holds the gradients of z and the states h_{t-1}: its contents on entry do
    not matter.  On one thread: lstm_backward_rows of one part, then lstm_backward_sums."""
    partials = np.empty((1, partial_size(x.shape[2], u.shape[0])), x.dtype)
    lstm_backward_rows(x, h, w, u, tape, g, work, dx, partials, want_dx, want_dw, want_du, want_db, 0, 1)
    lstm_backward_sums(partials, dw, du, db, want_dw, want_du, want_db)


@njit(cache=True, nogil=True, error_model="numpy")
def partial_size(features, hidden):
    """Values of one part's share of the weights' gradients: of w (features x 4h), u (h x 4h) and b (4h)."""
    return (features + hidden + 1) * 4 * hidden


@njit(cache=True, nogil=True, error_model="numpy")
def _work_parts(work, rows, hidden):
    """The gradients of z (rows, 4h) and the states h_{t-1} (rows, h), rows n * steps + t, in `work`."""
    flat = work.reshape(work.size)
    dz = flat[:rows * 4 * hidden].reshape(rows, 4 * hidden)
    return dz, flat[rows * 4 * hidden:rows * 5 * hidden].reshape(rows, hidden)


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_backward_rows(x, h, w, u, tape, g, work, dx, partials, want_dx, want_dw, want_du, want_db, part, parts):
    """For the part-th of `parts` runs of examples: the gradients of z from the last step back (each example's
    dC/dh and dC/dc carried to its step before) and the states h_{t-1}, into `work`; their rows of dx; and
    their share of the weights' gradients, into row `part` of `partials` (lstm_backward_sums adds them)."""
    batch, steps, features = x.shape
    hidden = u.shape[0]
    width = 4 * hidden
    first, last = _part_rows(batch, part, parts)
    if last == first:  # no examples (an empty batch): a share of zeros
        partials[part, :] = 0
        return
    blas_threads_local(1)
    gates, cells, squashed = tape_parts(tape, batch * steps, hidden)
    dz, previous = _work_parts(work, batch * steps, hidden)
    rows = slice(first * steps, last * steps)
    gates, cells, squashed, dz, previous = gates[rows], cells[rows], squashed[rows], dz[rows], previous[rows]
    x, g = x[first:last], g[first:last]
    shifted_states(h[first:last], previous)
    count = last - first
    carry_h = np.zeros((count, hidden), x.dtype)  # dC/dh_t through h_{t+1}: dz_{t+1} u^T
    carry_c = np.zeros((count, hidden), x.dtype)  # dC/dc_t through c_{t+1}: dc_{t+1} * f_{t+1}
    scratch = np.empty((2, hidden), x.dtype)
    size = dz.itemsize
    for t in range(steps - 1, -1, -1):
        _step_gradients(t, steps, g, gates, cells, squashed, carry_h, carry_c, scratch, dz)
        if t > 0:  # dC/dh_{t-1} = dz_t u^T, the one product of the step
            product_at(dz, False, True, count, hidden, width, 1.0, dz.ctypes.data + t * width * size,
                       steps * width, u.ctypes.data, width, 0.0, carry_h.ctypes.data, hidden)
    rows_here = count * steps
    if want_dx:
        product_at(dz, False, True, rows_here, features, width, 1.0, dz.ctypes.data, width, w.ctypes.data, width, 0.0,
                   dx.ctypes.data + first * steps * features * size, features)
    share = partials[part]
    if want_dw:
        product_at(dz, True, False, features, width, rows_here, 1.0, x.ctypes.data, features, dz.ctypes.data, width,
                   0.0, share.ctypes.data, width)
    if want_du:
        product_at(dz, True, False, hidden, width, rows_here, 1.0, previous.ctypes.data, hidden, dz.ctypes.data,
                   width, 0.0, share.ctypes.data + features * width * size, width)
    if want_db:
        db = share[(features + hidden) * width:]
        for k in range(width):
            db[k] = dz[0, k]
        for row in range(1, rows_here):
            for k in range(width):
                db[k] += dz[row, k]


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_backward_sums(partials, dw, du, db, want_dw, want_du, want_db):
    """The weights' gradients: the parts' shares in `partials` (lstm_backward_rows) added in the parts' order."""
    features, width = dw.shape
    hidden = du.shape[0]
    if want_dw:
        _add_parts(partials, 0, dw.reshape(dw.size))
    if want_du:
        _add_parts(partials, features * width, du.reshape(du.size))
    if want_db:
        _add_parts(partials, (features + hidden) * width, db)


@njit(cache=True, nogil=True, error_model="numpy")
def _add_parts(partials, offset, out):
    for i in range(out.size):
        total = partials[0, offset + i]
        for part in range(1, partials.shape[0]):
            total += partials[part, offset + i]
        out[i] = total


@njit(cache=True, nogil=True, error_model="numpy")
def _step_gradients(t, steps, g, gates, cells, squashed, carry_h, carry_c, scratch, dz):
    """dz of step t for every example from dC/dh_t (g plus carry_h) and dC/dc_t through c_{t+1} (carry_c, which
    becomes dC/dc_{t-1} through c_t)."""
    hidden = cells.shape[1]
    one = one_of(g[0, 0, 0])
    dh, dc = scratch[0], scratch[1]
    for n in range(g.shape[0]):
        row = n * steps + t
        for j in range(hidden):
            tanh_c = squashed[row, j]
            dh[j] = g[n, t, j] + carry_h[n, j]
            dc[j] = dh[j] * gates[row, 3 * hidden + j] * (one - tanh_c * tanh_c) + carry_c[n, j]
            carry_c[n, j] = dc[j] * gates[row, hidden + j]
        for j in range(hidden):
            i = gates[row, j]
            dz[row, j] = dc[j] * gates[row, 2 * hidden + j] * i * (one - i)
        if t > 0:
            for j in range(hidden):
                f = gates[row, hidden + j]
                dz[row, hidden + j] = dc[j] * cells[row - 1, j] * f * (one - f)
        else:  # c_{-1} = 0
            for j in range(hidden):
                f = gates[row, hidden + j]
                dz[row, hidden + j] = dc[j] * (one - one) * f * (one - f)
        for j in range(hidden):
            gg = gates[row, 2 * hidden + j]
            dz[row, 2 * hidden + j] = dc[j] * gates[row, j] * (one - gg * gg)
        for j in range(hidden):
            o = gates[row, 3 * hidden + j]
            dz[row, 3 * hidden + j] = dh[j] * squashed[row, j] * o * (one - o)
