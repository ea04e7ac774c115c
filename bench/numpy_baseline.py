"""The baseline a user would write: one epoch of minibatch training in vectorised NumPy."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def w1_epoch(params, x, y, batch, lr, rng):
    """784-100-10 sigmoid, quadratic cost, SGD."""
    W1, b1, W2, b2 = params
    order = rng.permutation(len(x))
    for s in range(0, len(x), batch):
        idx = order[s:s + batch]
        xb, yb = x[idx], y[idx]
        n = len(idx)
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
    order = rng.permutation(len(x))
    for s in range(0, len(x), batch):
        idx = order[s:s + batch]
        xb, yb = x[idx], y[idx]
        n = len(idx)
        z1 = xb @ W1 + c1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ W2 + c2
        e = np.exp(z2 - z2.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
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
