import os

import numpy as np
import pytest
from hypothesis import settings

import staticnet as sn

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=15, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def central_difference(f, x, eps=1e-6):
    """d f / d x by central differences; f maps the array x to a float."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_grads(build, arrays, *, batch=False, rtol=1e-5, atol=1e-7, eps=1e-6, backend="numpy"):
    """Compare sn.grad of sum(build(*inputs) * w) with central differences, in float64.

    `arrays` are the values of the inputs; `batch` (one flag, or one per input)
    declares their first axis as the batch dimension (None).
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    flags = [batch] * len(arrays) if isinstance(batch, bool) else list(batch)
    inputs = [sn.input(f"x{i}", ((None,) + a.shape[1:]) if flag and a.ndim else a.shape, dtype="float64")
              for i, (a, flag) in enumerate(zip(arrays, flags))]
    out = build(*inputs)
    w = sn.input("w", out.shape, dtype="float64")
    y = sn.sum(out * w) if out.shape else out * w
    grads = sn.grad(y, inputs)
    f = sn.function(inputs + [w], [y] + grads, backend=backend)
    out_shape = tuple(arrays[0].shape[0] if d is None else d for d in out.shape)
    weights = np.random.default_rng(7).normal(size=out_shape)
    _, *analytic = f(*arrays, weights)
    for i, a in enumerate(arrays):
        def value_at(v, i=i):
            args = list(arrays)
            args[i] = v
            return float(f(*args, weights)[0])
        numeric = central_difference(value_at, a.copy(), eps)
        np.testing.assert_allclose(analytic[i], numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
