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


def check_grads(build, arrays, *, batch=False, rtol=1e-5, atol=1e-7, eps=1e-6, backend="numpy", training=False):
    """Compare sn.grad of sum(build(*inputs) * w) with central differences, in float64.

    `arrays` are the values of the inputs; `batch` (one flag, or one per input)
    declares their first axis as the batch dimension (None); `training`: run as a training step.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    flags = [batch] * len(arrays) if isinstance(batch, bool) else list(batch)
    inputs = [sn.input(f"x{i}", ((None,) + a.shape[1:]) if flag and a.ndim else a.shape, dtype="float64")
              for i, (a, flag) in enumerate(zip(arrays, flags))]
    out = build(*inputs)
    w = sn.input("w", out.shape, dtype="float64")
    y = sn.sum(out * w) if out.shape else out * w
    grads = sn.grad(y, inputs)
    f = sn.function(inputs + [w], [y] + grads, backend=backend, training=training)
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


def require_mnist():
    """Tests on full MNIST run wherever $STATICNET_DATA is set, and must run in CI."""
    if not os.environ.get("STATICNET_DATA"):
        if os.environ.get("CI"):
            pytest.fail("CI must set STATICNET_DATA to the MNIST directory")
        pytest.skip("STATICNET_DATA is not set on this machine")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def run_program_twice(before, after, feed):
    """Run two versions of a program from the same parameter values; returns (outputs, new leaf values) of each."""
    from staticnet.interpreter import run_program

    leaves = {n.id: n for n in before.nodes() + after.nodes() if n.op == "param"}
    start = {i: leaf.value.copy() for i, leaf in leaves.items()}
    results = []
    for program in (before, after):
        for i, leaf in leaves.items():
            leaf.value = start[i].copy()
        outputs = run_program(program, feed)
        results.append((outputs, {i: leaf.value.copy() for i, leaf in leaves.items()}))
    for i, leaf in leaves.items():
        leaf.value = start[i]
    return results


def assert_same_program_values(before, after, feed, rtol=1e-12):
    (out_a, leaves_a), (out_b, leaves_b) = run_program_twice(before, after, feed)
    assert len(out_a) == len(out_b)
    for a, b in zip(out_a, out_b):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-14)
    for i in leaves_a:
        np.testing.assert_allclose(leaves_b[i], leaves_a[i], rtol=rtol, atol=1e-14)


def mlp_training_program(activation="sigmoid", cost="mse", optimizer=None, batch=5, seed=0):
    """A small 2-layer training Program in float64 with its feed: the common subject of pass tests."""
    from staticnet.program import Program

    sn.seed(seed)
    rng = np.random.default_rng(seed)
    x = sn.input("x", (None, 6), dtype="float64")
    y = sn.input("y", (None, 3), dtype="float64")
    h = sn.dense(x, 5, activation=activation, name="h")
    p = sn.dense(h, 3, activation="sigmoid" if cost != "softmax" else "softmax", name="out")
    loss = sn.mse(p, y) if cost == "mse" else sn.cross_entropy(p, y)
    params = sn.Graph(loss).params
    opt = optimizer or sn.SGD(lr=0.5)
    updates = opt.updates(params, sn.grad(loss, params))
    feed = {x.id: rng.normal(size=(batch, 6)), y.id: np.eye(3)[rng.integers(0, 3, batch)]}
    return Program(outputs=(loss, p), updates=tuple(updates)), feed


def hostile_strings(marker) -> list[str]:
    """Strings that would run code (creating the file `marker`) if they reached generated source unescaped: the
    payload of issue 28 and its variants through every line break Python or str.splitlines knows, quotes,
    backslashes and docstring ends, NUL and a very long string.  Each case checks `marker` does not exist."""
    code = f"import os; open({str(marker)!r}, 'w').close()"
    issue = f"model.py:1\nimport os; os.system('touch {marker}')\ndef _s():\n    if 1:\n #"
    breaks = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]
    return ([issue] + [f"model.py:2{b}{code}{b}#" for b in breaks]
            + [f'"""{chr(10)}{code}{chr(10)}"""', f"'{chr(10)}{code}{chr(10)}'", "a\\\n" + code, "\\", '"', "'",
               '"""', f"x\x00{code}", "\x00", "y" * 100_000, f"m.py:3 \u202e{code}", "caf\u00e9:7"])
