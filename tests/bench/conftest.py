"""W5's shared minibatch (tests/bench/same_step.py says why these images)."""
import numpy as np
import pytest

from staticnet.bench import numpy_baseline

from .same_step import MARGIN, kink_distances


@pytest.fixture(scope="module")
def w5_batch():
    """(images, one-hot labels, float32 weights, the weights after one NumPy step without dropout in float64)."""
    rng = np.random.default_rng(3)
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 2)]
    params = numpy_baseline.initial_params("W5", seed=3)
    params64 = [p.astype(np.float64) for p in params]
    assert min(kink_distances(params64, x.astype(np.float64))) > MARGIN
    numpy_baseline.w5_step(params64, x.astype(np.float64), y.astype(np.float64), numpy_baseline.LEARNING_RATES["W5"])
    return x, y, params, params64
