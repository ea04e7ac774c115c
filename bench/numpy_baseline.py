"""The baseline a user would write: one epoch of minibatch training in vectorised NumPy."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def minibatches(x, y, batch, rng):
    """(inputs, labels, size) of each minibatch of a shuffled epoch."""
    order = rng.permutation(len(x))
    for s in range(0, len(x), batch):
        idx = order[s:s + batch]
        yield x[idx], y[idx], len(idx)


def w1_epoch(params, x, y, batch, lr, rng):
    """784-100-10 sigmoid, quadratic cost, SGD."""
    W1, b1, W2, b2 = params
    for xb, yb, n in minibatches(x, y, batch, rng):
        a1 = sigmoid(xb @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        d2 = (a2 - yb) * a2 * (1 - a2) / n
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        W2 -= lr * (a1.T @ d2)
        b2 -= lr * d2.sum(0)
        W1 -= lr * (xb.T @ d1)
        b1 -= lr * d1.sum(0)


def w2_epoch(params, state, x, y, batch, lr, rng):
    """784-100-10 ReLU, softmax cross-entropy, Adam."""
    W1, c1, W2, c2 = params
    for xb, yb, n in minibatches(x, y, batch, rng):
        z1 = xb @ W1 + c1
        a1 = np.maximum(z1, 0)
        p = softmax(a1 @ W2 + c2)
        d2 = (p - yb) / n
        d1 = (d2 @ W2.T) * (z1 > 0)
        adam(params, (xb.T @ d1, d1.sum(0), a1.T @ d2, d2.sum(0)), state, lr)


def adam(params, grads, state, lr, b1=0.9, b2=0.999, eps=1e-8):
    """One Adam step on every parameter, in place; `state` holds the step count and the moments."""
    state["t"] += 1
    t = state["t"]
    for w, g, m, v in zip(params, grads, state["m"], state["v"]):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        w -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)


def w4_epoch(params, state, x, y, batch, lr, rng):
    """An LSTM (PyTorch's equations, gates i, f, g, o) over (n, steps, pixels), its last state into softmax 10,
    cross-entropy, Adam; backpropagation through time over the stored gates and cells."""
    W, U, b, V, c = params
    hidden = U.shape[0]
    for xb, yb, n in minibatches(x, y, batch, rng):
        h, cell = np.zeros((n, hidden), np.float32), np.zeros((n, hidden), np.float32)
        states, cells, gates = [h], [cell], []
        for t in range(xb.shape[1]):
            z = xb[:, t] @ W + h @ U + b
            i, f, o = (sigmoid(z[:, k * hidden:(k + 1) * hidden]) for k in (0, 1, 3))
            g = np.tanh(z[:, 2 * hidden:3 * hidden])
            cell = f * cell + i * g
            h = o * np.tanh(cell)
            states.append(h)
            cells.append(cell)
            gates.append((i, f, g, o))
        p = softmax(h @ V + c)
        d = (p - yb) / n
        dV, dc, dh = h.T @ d, d.sum(0), d @ V.T
        dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
        d_cell = np.zeros_like(cell)
        for t in reversed(range(xb.shape[1])):
            i, f, g, o = gates[t]
            squashed = np.tanh(cells[t + 1])
            d_cell = d_cell + dh * o * (1 - squashed * squashed)
            dz = np.concatenate([d_cell * g * i * (1 - i), d_cell * cells[t] * f * (1 - f), d_cell * i * (1 - g * g),
                                 dh * squashed * o * (1 - o)], 1)
            dW += xb[:, t].T @ dz
            dU += states[t].T @ dz
            db += dz.sum(0)
            dh = dz @ U.T
            d_cell = d_cell * f
        adam(params, (dW, dU, db, dV, dc), state, lr)


def patches(x, size=5):
    """Each size x size window of NHWC images `x` as a row, in staticnet's im2col order (row, column, channel):
    (n, h - size + 1, w - size + 1, size * size * channels).  A convolution is the product of these rows with
    its (size * size * channels, filters) weights."""
    n, height, width, channels = x.shape
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))  # (n, h', w', c, size, size)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n, height - size + 1, width - size + 1, size * size * channels)


def patches_gradient(d_patches, height, width, size=5):
    """The gradient of `patches` for its images (height x width): each row's entries added back to the pixels
    they were taken from."""
    n, out_h, out_w, length = d_patches.shape
    d_rows = d_patches.reshape(n, out_h, out_w, size, size, length // (size * size))
    d_x = np.zeros((n, height, width, d_rows.shape[-1]), d_patches.dtype)
    for i in range(size):
        for j in range(size):
            d_x[:, i:i + out_h, j:j + out_w] += d_rows[:, :, :, i, j]
    return d_x


def max_pool(a):
    """2x2 max-pooling of NHWC maps: (the pooled maps, the windows as (n, h/2, 2, w/2, 2, c))."""
    n, height, width, channels = a.shape
    windows = a.reshape(n, height // 2, 2, width // 2, 2, channels)
    return windows.max(axis=(2, 4)), windows


def max_pool_gradient(d_pooled, pooled, windows):
    """The gradient of `max_pool` for its input: to every position equal to its window's maximum (ties are
    shared, as the short way of writing it does)."""
    n, half_h, _, half_w, _, channels = windows.shape
    at_max = windows == pooled.reshape(n, half_h, 1, half_w, 1, channels)
    return (at_max * d_pooled.reshape(n, half_h, 1, half_w, 1, channels)).reshape(n, 2 * half_h, 2 * half_w, channels)


def w3_epoch(params, x, y, batch, lr, rng):
    """The book's CNN on NHWC images: conv 5x5x20 sigmoid, 2x2 max-pool, dense 100 sigmoid,
    softmax 10, cross-entropy, SGD."""
    K, bk, W1, b1, W2, b2 = params
    for xb, yb, n in minibatches(x, y, batch, rng):
        rows = patches(xb)
        conv = sigmoid(rows @ K + bk)
        pooled, windows = max_pool(conv)
        flat = pooled.reshape(n, 2880)
        a1 = sigmoid(flat @ W1 + b1)
        p = softmax(a1 @ W2 + b2)
        d2 = (p - yb) / n
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        d_conv = max_pool_gradient(d1 @ W1.T, pooled, windows) * conv * (1 - conv)
        W2 -= lr * (a1.T @ d2)
        b2 -= lr * d2.sum(0)
        W1 -= lr * (flat.T @ d1)
        b1 -= lr * d1.sum(0)
        K -= lr * (rows.reshape(-1, 25).T @ d_conv.reshape(-1, 20))
        bk -= lr * d_conv.sum((0, 1, 2))


BN_MOMENTUM, BN_EPS = 0.99, 1e-3  # sn.batch_norm's defaults


def w3bn_epoch(params, state, x, y, batch, lr, rng):
    """W3 with a batch norm between the convolution and its sigmoid: batch statistics in training (biased
    variance), the moving ones updated with the unbiased variance (state: moving mean and variance)."""
    K, bk, gamma, beta, W1, b1, W2, b2 = params
    for xb, yb, n in minibatches(x, y, batch, rng):
        rows = patches(xb)
        z = rows @ K + bk
        count = z.size // z.shape[-1]
        mean, var = z.mean((0, 1, 2)), z.var((0, 1, 2))
        inv = 1 / np.sqrt(var + np.float32(BN_EPS))
        z_hat = (z - mean) * inv
        conv = sigmoid(gamma * z_hat + beta)
        pooled, windows = max_pool(conv)
        flat = pooled.reshape(n, 2880)
        a1 = sigmoid(flat @ W1 + b1)
        p = softmax(a1 @ W2 + b2)
        d2 = (p - yb) / n
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        d_bn = max_pool_gradient(d1 @ W1.T, pooled, windows) * conv * (1 - conv)
        d_hat = d_bn * gamma
        d_z = inv / count * (count * d_hat - d_hat.sum((0, 1, 2)) - z_hat * (d_hat * z_hat).sum((0, 1, 2)))
        W2 -= lr * (a1.T @ d2)
        b2 -= lr * d2.sum(0)
        W1 -= lr * (flat.T @ d1)
        b1 -= lr * d1.sum(0)
        gamma -= lr * (d_bn * z_hat).sum((0, 1, 2))
        beta -= lr * d_bn.sum((0, 1, 2))
        K -= lr * (rows.reshape(-1, 25).T @ d_z.reshape(-1, 20))
        bk -= lr * d_z.sum((0, 1, 2))
        state["mean"] = BN_MOMENTUM * state["mean"] + (1 - BN_MOMENTUM) * mean
        state["var"] = BN_MOMENTUM * state["var"] + (1 - BN_MOMENTUM) * var * count / (count - 1)


W5_DROPOUT = 0.5


def dropout_masks(rng, n, widths, rate):
    """Inverted dropout's multipliers for a minibatch of n, one (n, width) array per dropped layer input:
    1 / (1 - rate) where a unit is kept (probability 1 - rate), else 0."""
    return [(rng.random((n, width), np.float32) >= rate).astype(np.float32) / np.float32(1 - rate)
            for width in widths]


def w5_step(params, xb, yb, lr, masks=None):
    """One SGD step of the book's 99.60% network on NHWC images: conv 5x5x20 ReLU, 2x2 max-pool, conv 5x5x40
    ReLU, 2x2 max-pool, dense 1000 ReLU, dense 1000 ReLU, softmax 10, cross-entropy.  `masks` (dropout_masks
    of widths 640, 1000, 1000) multiply the inputs of the three dense layers; None: no dropout."""
    K1, c1, K2, c2, W1, b1, W2, b2, W3, b3 = params
    n = len(xb)
    masks = masks or [1, 1, 1]
    rows1 = patches(xb)
    z1 = rows1 @ K1 + c1
    pooled1, windows1 = max_pool(np.maximum(z1, 0))
    rows2 = patches(pooled1)
    z2 = rows2 @ K2 + c2
    pooled2, windows2 = max_pool(np.maximum(z2, 0))
    h1 = pooled2.reshape(n, 640) * masks[0]
    z3 = h1 @ W1 + b1
    h2 = np.maximum(z3, 0) * masks[1]
    z4 = h2 @ W2 + b2
    h3 = np.maximum(z4, 0) * masks[2]
    p = softmax(h3 @ W3 + b3)
    d5 = (p - yb) / n
    d4 = (d5 @ W3.T) * masks[2] * (z4 > 0)
    d3 = (d4 @ W2.T) * masks[1] * (z3 > 0)
    d_pooled2 = ((d3 @ W1.T) * masks[0]).reshape(pooled2.shape)
    d_z2 = max_pool_gradient(d_pooled2, pooled2, windows2) * (z2 > 0)
    d_pooled1 = patches_gradient(d_z2 @ K2.T, 12, 12)
    d_z1 = max_pool_gradient(d_pooled1, pooled1, windows1) * (z1 > 0)
    W3 -= lr * (h3.T @ d5)
    b3 -= lr * d5.sum(0)
    W2 -= lr * (h2.T @ d4)
    b2 -= lr * d4.sum(0)
    W1 -= lr * (h1.T @ d3)
    b1 -= lr * d3.sum(0)
    K2 -= lr * (rows2.reshape(-1, 500).T @ d_z2.reshape(-1, 40))
    c2 -= lr * d_z2.sum((0, 1, 2))
    K1 -= lr * (rows1.reshape(-1, 25).T @ d_z1.reshape(-1, 20))
    c1 -= lr * d_z1.sum((0, 1, 2))


def w5_epoch(params, x, y, batch, lr, rng, dropout=W5_DROPOUT):
    """The book's 99.60% network, dropout `dropout` (0: none) drawn afresh for each minibatch."""
    for xb, yb, n in minibatches(x, y, batch, rng):
        w5_step(params, xb, yb, lr, dropout_masks(rng, n, (640, 1000, 1000), dropout) if dropout else None)


LEARNING_RATES = {"W1": 3.0, "W2": 0.001, "W3": 0.1, "W3BN": 0.1, "W4": 0.001, "W5": 0.03}
LAYER_SHAPES = {"W1": [(784, 100), (100, 10)], "W2": [(784, 100), (100, 10)],
                "W3": [(25, 20), (2880, 100), (100, 10)], "W3BN": [(25, 20), (2880, 100), (100, 10)],
                "W5": [(25, 20), (500, 40), (640, 1000), (1000, 1000), (1000, 10)]}


def initial_params(workload, seed=0):
    """Weights N(0, 1/fan_in) and zero biases, in the order the epoch functions take them (W3BN: the batch
    norm's gamma, ones, and beta, zeros, after the convolution's; W4: the LSTM's W, U and b, then the softmax
    layer's weights and bias)."""
    rng = np.random.default_rng(seed)
    if workload == "W4":
        W, U, V = (rng.normal(0, 1 / np.sqrt(rows), (rows, columns)).astype(np.float32)
                   for rows, columns in ((28, 512), (128, 512), (128, 10)))
        return [W, U, np.zeros(512, np.float32), V, np.zeros(10, np.float32)]
    params = []
    for shape in LAYER_SHAPES[workload]:
        params += [rng.normal(0, 1 / np.sqrt(shape[0]), shape).astype(np.float32), np.zeros(shape[1], np.float32)]
    if workload == "W3BN":
        params[2:2] = [np.ones(20, np.float32), np.zeros(20, np.float32)]
    return params


def epoch_runner(workload, batch, x, y, params=None):
    """A no-argument callable training one epoch of `workload` over (x, y), continuing each call."""
    params = initial_params(workload) if params is None else params
    rng = np.random.default_rng(0)
    lr = LEARNING_RATES[workload]
    if workload in ("W2", "W4"):
        state = {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}
        epoch_of = w2_epoch if workload == "W2" else w4_epoch
        train = lambda: epoch_of(params, state, x, y, batch, lr, rng)  # noqa: E731
    elif workload == "W3BN":
        state = {"mean": np.zeros(20, np.float32), "var": np.ones(20, np.float32)}
        train = lambda: w3bn_epoch(params, state, x, y, batch, lr, rng)  # noqa: E731
    else:
        epoch_of = {"W1": w1_epoch, "W3": w3_epoch, "W5": w5_epoch}[workload]
        train = lambda: epoch_of(params, x, y, batch, lr, rng)  # noqa: E731

    def epoch():
        with np.errstate(over="ignore"):  # exp(-z) overflowing to inf is sigmoid's correct limit 0 here
            train()
    return epoch
