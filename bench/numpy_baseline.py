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


def w2_epoch(params, state, x, y, batch, lr, rng, b1=0.9, b2=0.999, eps=1e-8):
    """784-100-10 ReLU, softmax cross-entropy, Adam."""
    W1, c1, W2, c2 = params
    for xb, yb, n in minibatches(x, y, batch, rng):
        z1 = xb @ W1 + c1
        a1 = np.maximum(z1, 0)
        p = softmax(a1 @ W2 + c2)
        d2 = (p - yb) / n
        d1 = (d2 @ W2.T) * (z1 > 0)
        grads = (xb.T @ d1, d1.sum(0), a1.T @ d2, d2.sum(0))
        state["t"] += 1
        t = state["t"]
        for w, g, m, v in zip(params, grads, state["m"], state["v"]):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            w -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)


def w3_epoch(params, x, y, batch, lr, rng):
    """The book's CNN on NHWC images: conv 5x5x20 sigmoid, 2x2 max-pool, dense 100 sigmoid,
    softmax 10, cross-entropy, SGD. The convolution is a product of 5x5 patches with the filters;
    the pooling gradient goes to every position equal to its window's maximum (ties are shared,
    as the short way of writing it does)."""
    K, bk, W1, b1, W2, b2 = params
    for xb, yb, n in minibatches(x, y, batch, rng):
        patches = np.lib.stride_tricks.sliding_window_view(xb[..., 0], (5, 5), axis=(1, 2)).reshape(n, 24, 24, 25)
        conv = sigmoid(patches @ K + bk)
        windows = conv.reshape(n, 12, 2, 12, 2, 20)
        pooled = windows.max(axis=(2, 4))
        flat = pooled.reshape(n, 2880)
        a1 = sigmoid(flat @ W1 + b1)
        p = softmax(a1 @ W2 + b2)
        d2 = (p - yb) / n
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        d_pooled = (d1 @ W1.T).reshape(n, 12, 1, 12, 1, 20)
        d_conv = ((windows == pooled.reshape(n, 12, 1, 12, 1, 20)) * d_pooled).reshape(n, 24, 24, 20)
        d_conv *= conv * (1 - conv)
        W2 -= lr * (a1.T @ d2)
        b2 -= lr * d2.sum(0)
        W1 -= lr * (flat.T @ d1)
        b1 -= lr * d1.sum(0)
        K -= lr * (patches.reshape(-1, 25).T @ d_conv.reshape(-1, 20))
        bk -= lr * d_conv.sum((0, 1, 2))


LEARNING_RATES = {"W1": 3.0, "W2": 0.001, "W3": 0.1}


def initial_params(workload, seed=0):
    """Weights N(0, 1/fan_in) and zero biases, in the order the epoch functions take them."""
    rng = np.random.default_rng(seed)
    shapes = [(25, 20), (2880, 100), (100, 10)] if workload == "W3" else [(784, 100), (100, 10)]
    params = []
    for shape in shapes:
        params += [rng.normal(0, 1 / np.sqrt(shape[0]), shape).astype(np.float32), np.zeros(shape[1], np.float32)]
    return params


def epoch_runner(workload, batch, x, y, params=None):
    """A no-argument callable training one epoch of `workload` over (x, y), continuing each call."""
    params = initial_params(workload) if params is None else params
    rng = np.random.default_rng(0)
    lr = LEARNING_RATES[workload]
    if workload == "W2":
        state = {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}
        train = lambda: w2_epoch(params, state, x, y, batch, lr, rng)  # noqa: E731
    else:
        train = lambda: (w1_epoch if workload == "W1" else w3_epoch)(params, x, y, batch, lr, rng)  # noqa: E731

    def epoch():
        with np.errstate(over="ignore"):  # exp(-z) overflowing to inf is sigmoid's correct limit 0 here
            train()
    return epoch
