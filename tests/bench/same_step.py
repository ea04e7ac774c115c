"""Checking that two implementations of W5 (the book's 99.60% network) take the same step: on a minibatch
(conftest.py's w5_batch) of random images far enough from every ReLU kink and max-pool tie that float32
rounding cannot route a gradient another way, which kink_distances checks in float64 (so on any machine)."""
import numpy as np

from staticnet.bench.numpy_baseline import max_pool, patches

MARGIN = 2e-5  # 20 times float32's rounding of a pre-activation of this network


def _second_largest_gap(windows):
    """Per 2x2 window with a positive maximum: the maximum minus the next value (inf elsewhere)."""
    n, half_h, _, half_w, _, channels = windows.shape
    values = np.sort(windows.transpose(0, 1, 3, 5, 2, 4).reshape(n, half_h, half_w, channels, 4), axis=-1)
    return np.where(values[..., -1] > 0, values[..., -1] - values[..., -2], np.inf)


def kink_distances(params, x):
    """The smallest |pre-activation| of each ReLU layer and gap between a pooling window's two largest values."""
    K1, c1, K2, c2, W1, b1, W2, b2, _, _ = params
    z1 = patches(x) @ K1 + c1
    pooled1, windows1 = max_pool(np.maximum(z1, 0))
    z2 = patches(pooled1) @ K2 + c2
    pooled2, windows2 = max_pool(np.maximum(z2, 0))
    z3 = pooled2.reshape(len(x), 640) @ W1 + b1
    z4 = np.maximum(z3, 0) @ W2 + b2
    return [np.abs(z).min() for z in (z1, z2, z3, z4)] + [_second_largest_gap(w).min() for w in (windows1, windows2)]


def assert_same_step(before, after, expected):
    """Each parameter moved as `expected` did, to float32 rounding of the step (a scale-aware tolerance: the
    steps of the first convolution are much smaller than those of the last layer)."""
    for b, a, e in zip(before, after, expected):
        step, expected_step = np.asarray(a, np.float64) - b, e - b
        scale = np.abs(expected_step).max()
        assert scale > 0
        np.testing.assert_allclose(step, expected_step, rtol=1e-3, atol=2e-3 * scale)
