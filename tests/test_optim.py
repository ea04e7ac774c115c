"""Each optimizer, compiled and fused, against a hand-computed NumPy sequence of steps."""
import math
import os
import re

import numpy as np
import pytest

import staticnet as sn

STEPS = 4


def run(optimizer, backend):
    """Minimise sum(w * c) + sum(w^2)/2 from w0 for a few steps; the gradient is c + w."""
    w0 = np.array([0.5, -1.0, 2.0, 0.0])
    c = np.array([1.0, -2.0, 0.5, 3.0])
    x = sn.input("x", (None, 4), dtype="float64")
    w = sn.param("w", value=w0.copy(), regularize=False)
    loss = sn.sum(w * sn.mean(x, 0)) + 0.5 * sn.sum(sn.square(w))
    updates = optimizer.updates([w], sn.grad(loss, [w]))
    step = sn.function([x], loss, updates=updates, backend=backend)
    for _ in range(STEPS):
        step(np.tile(c, (3, 1)))
    return w.value, w0, c


def reference(name, w, c, lr, **h):
    state = {"v": np.zeros_like(w), "G": np.zeros_like(w), "s": np.zeros_like(w), "m": np.zeros_like(w),
             "u": np.zeros_like(w)}
    for t in range(1, STEPS + 1):
        g = c + w
        if name == "sgd":
            w = w - lr * g
        elif name == "momentum":
            state["v"] = h["mu"] * state["v"] - lr * g
            w = w + state["v"]
        elif name == "nesterov":
            state["v"] = h["mu"] * state["v"] - lr * g
            w = w + h["mu"] * state["v"] - lr * g
        elif name == "adagrad":
            state["G"] += g * g
            w = w - lr * g / (np.sqrt(state["G"]) + h["eps"])
        elif name == "rmsprop":
            state["s"] = h["rho"] * state["s"] + (1 - h["rho"]) * g * g
            w = w - lr * g / (np.sqrt(state["s"]) + h["eps"])
        elif name.startswith("adam"):
            state["m"] = h["b1"] * state["m"] + (1 - h["b1"]) * g
            state["u"] = h["b2"] * state["u"] + (1 - h["b2"]) * g * g
            m_hat = state["m"] / (1 - h["b1"] ** t)
            v_hat = state["u"] / (1 - h["b2"] ** t)
            decay = h.get("wd", 0.0) * w
            w = w - lr * (m_hat / (np.sqrt(v_hat) + h["eps"]) + decay)
    return w


CASES = [
    ("sgd", lambda: sn.SGD(lr=0.1), dict(lr=0.1)),
    ("momentum", lambda: sn.SGD(lr=0.1, momentum=0.9), dict(lr=0.1, mu=0.9)),
    ("nesterov", lambda: sn.SGD(lr=0.1, momentum=0.9, nesterov=True), dict(lr=0.1, mu=0.9)),
    ("adagrad", lambda: sn.AdaGrad(lr=0.5, eps=1e-8), dict(lr=0.5, eps=1e-8)),
    ("rmsprop", lambda: sn.RMSProp(lr=0.05, rho=0.9, eps=1e-8), dict(lr=0.05, rho=0.9, eps=1e-8)),
    ("adam", lambda: sn.Adam(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8), dict(lr=0.1, b1=0.9, b2=0.999, eps=1e-8)),
    ("adamw", lambda: sn.AdamW(lr=0.1, weight_decay=0.1), dict(lr=0.1, b1=0.9, b2=0.999, eps=1e-8, wd=0.1)),
    ("adam without momentum", lambda: sn.Adam(lr=0.1, beta1=0.0), dict(lr=0.1, b1=0.0, b2=0.999, eps=1e-8)),
]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("name,make,hyper", CASES, ids=[c[0] for c in CASES])
def test_optimizer_steps_match_the_formulas(name, make, hyper, backend):
    got, w0, c = run(make(), backend)
    hyper = dict(hyper)
    lr = hyper.pop("lr")
    np.testing.assert_allclose(got, reference(name, w0, c, lr, **hyper), rtol=1e-12, atol=1e-14)


def test_schedules():
    assert [sn.step_decay(0.5, 2)(e) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert sn.exponential_decay(0.9)(3) == pytest.approx(0.729)
    opt = sn.SGD(lr=0.2, schedule=sn.step_decay(0.1, 10))
    assert opt.lr_at(0) == 0.2 and math.isclose(opt.lr_at(10), 0.02)


HERE = re.escape(os.path.relpath(__file__))
BAD_HYPERPARAMETERS = [
    (lambda: sn.SGD(lr="fast"), r"SGD at {loc}: lr must be a finite number > 0, got 'fast' \(str\)"),
    (lambda: sn.SGD(lr=float("nan")), r"SGD at {loc}: lr must be a finite number > 0, got nan"),
    (lambda: sn.SGD(lr=np.inf), r"SGD at {loc}: lr must be a finite number > 0, got inf"),
    (lambda: sn.Adam(lr=0), r"Adam at {loc}: lr must be a finite number > 0, got 0"),
    (lambda: sn.RMSProp(lr=-0.1), r"RMSProp at {loc}: lr must be a finite number > 0, got -0.1"),
    (lambda: sn.SGD(lr=True), r"SGD at {loc}: lr must be a finite number > 0, got True \(bool\)"),
    (lambda: sn.SGD(lr=0.1, momentum=1.0), r"SGD at {loc}: momentum must be a number in \[0, 1\), got 1.0"),
    (lambda: sn.SGD(lr=0.1, momentum=-0.5), r"SGD at {loc}: momentum must be a number in \[0, 1\), got -0.5"),
    (lambda: sn.SGD(lr=0.1, momentum=0.9, nesterov="yes"), r"SGD at {loc}: nesterov must be True or False, got 'yes' \(str\)"),
    (lambda: sn.AdaGrad(eps=0.0), r"AdaGrad at {loc}: eps must be a finite number > 0, got 0.0"),
    (lambda: sn.RMSProp(rho=1.0), r"RMSProp at {loc}: rho must be a number in \[0, 1\), got 1.0"),
    (lambda: sn.RMSProp(eps=float("nan")), r"RMSProp at {loc}: eps must be a finite number > 0, got nan"),
    (lambda: sn.Adam(beta1=1.5), r"Adam at {loc}: beta1 must be a number in \[0, 1\), got 1.5"),
    (lambda: sn.Adam(beta2=1.0), r"Adam at {loc}: beta2 must be a number in \[0, 1\), got 1.0"),
    (lambda: sn.Adam(beta1="0.9"), r"Adam at {loc}: beta1 must be a number in \[0, 1\), got '0.9' \(str\)"),
    (lambda: sn.AdamW(weight_decay=-0.01), r"AdamW at {loc}: weight_decay must be a finite number >= 0, got -0.01"),
    (lambda: sn.AdamW(weight_decay=np.inf), r"AdamW at {loc}: weight_decay must be a finite number >= 0, got inf"),
    (lambda: sn.step_decay(drop=0.0), r"step_decay at {loc}: drop must be a number in \(0, 1\], got 0.0"),
    (lambda: sn.step_decay(drop=2.0), r"step_decay at {loc}: drop must be a number in \(0, 1\], got 2.0"),
    (lambda: sn.step_decay(every=0), r"step_decay at {loc}: every must be a positive int, got 0"),
    (lambda: sn.step_decay(every=2.5), r"step_decay at {loc}: every must be a positive int, got 2.5"),
    (lambda: sn.exponential_decay(float("nan")), r"exponential_decay at {loc}: rate must be a number in \(0, 1\], got nan"),
    (lambda: sn.SGD(lr=0.1, schedule=0.5), r"SGD at {loc}: schedule must be sn.step_decay\(...\), .*got 0.5"),
]


@pytest.mark.parametrize("build,pattern", BAD_HYPERPARAMETERS, ids=[p for _, p in BAD_HYPERPARAMETERS])
def test_a_bad_hyperparameter_is_refused_naming_the_optimizer_the_value_and_the_line(build, pattern):
    loc = f"{HERE}:{build.__code__.co_firstlineno}"
    with pytest.raises(sn.ArgumentError, match="^" + pattern.format(loc=loc) + "$"):
        build()


def test_numpy_numbers_are_valid_hyperparameters():
    opt = sn.SGD(lr=np.float32(0.5), momentum=np.float64(0.9), schedule=sn.step_decay(np.float64(0.5), np.int64(2)))
    assert opt.lr == 0.5 and opt.momentum == 0.9 and opt.lr_at(2) == 0.25
