"""examples/loss_surface.py: the two costs of y = sigmoid(w2 sigmoid(w1 x)) over a grid, from one compiled
function, against their closed forms in NumPy."""
import importlib.util
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example():
    spec = importlib.util.spec_from_file_location("loss_surface", os.path.join(ROOT, "examples", "loss_surface.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_surfaces_and_slopes_match_their_closed_forms():
    x, target = 1.5, 0.8
    w1, w2, quadratic, cross_entropy, quadratic_slope, cross_entropy_slope = load_example().surfaces(x, target, 6.0, 41)
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    h = sigmoid(w1 * x)
    y = sigmoid(w2 * h)
    np.testing.assert_allclose(quadratic, 0.5 * (y - target) ** 2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cross_entropy, -(target * np.log(y) + (1 - target) * np.log(1 - y)), rtol=1e-12)
    # dC/dz2: (y - t) y (1 - y) for the quadratic cost, y - t for the cross-entropy; dz2/dw2 = h,
    # dz2/dw1 = w2 h (1 - h) x
    for slope, d_z2 in ((quadratic_slope, (y - target) * y * (1 - y)), (cross_entropy_slope, y - target)):
        expected = np.hypot(d_z2 * w2 * h * (1 - h) * x, d_z2 * h)
        np.testing.assert_allclose(slope, expected, rtol=1e-10, atol=1e-15)
    worst = np.unravel_index(np.argmax(cross_entropy), w1.shape)
    assert quadratic_slope[worst] < 0.01 < 0.5 < cross_entropy_slope[worst]  # the plateau the example shows
