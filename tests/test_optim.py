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
    state = fresh_state(w)
    for t in range(1, STEPS + 1):
        w = numpy_step(name, w, c + w, state, t, lr, h)
    return w


def fresh_state(w):
    return {"v": np.zeros_like(w), "G": np.zeros_like(w), "s": np.zeros_like(w), "m": np.zeros_like(w),
            "u": np.zeros_like(w)}


def numpy_step(name, w, g, state, t, lr, h):
    """One step of optimizer `name` on w with gradient g, t counted from 1."""
    if name == "sgd":
        return w - lr * g
    if name == "momentum":
        state["v"] = h["mu"] * state["v"] - lr * g
        return w + state["v"]
    if name == "nesterov":
        state["v"] = h["mu"] * state["v"] - lr * g
        return w + h["mu"] * state["v"] - lr * g
    if name == "adagrad":
        state["G"] += g * g
        return w - lr * g / (np.sqrt(state["G"]) + h["eps"])
    if name == "rmsprop":
        state["s"] = h["rho"] * state["s"] + (1 - h["rho"]) * g * g
        return w - lr * g / (np.sqrt(state["s"]) + h["eps"])
    state["m"] = h["b1"] * state["m"] + (1 - h["b1"]) * g
    state["u"] = h["b2"] * state["u"] + (1 - h["b2"]) * g * g
    m_hat = state["m"] / (1 - h["b1"] ** t)
    v_hat = state["u"] / (1 - h["b2"] ** t)
    return w - lr * (m_hat / (np.sqrt(v_hat) + h["eps"]) + h.get("wd", 0.0) * w)


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
    (lambda: sn.warmup(0), r"warmup at {loc}: steps must be a positive int, got 0"),
    (lambda: sn.warmup(10, then=0.5), r"warmup at {loc}: then must be a schedule such as sn.cosine_decay\(...\) or "
                                      r"sn.step_decay\(...\), got 0.5"),
    (lambda: sn.cosine_decay(100, final=1.5), r"cosine_decay at {loc}: final must be a number in \[0, 1\], got 1.5"),
    (lambda: sn.cosine_decay(0), r"cosine_decay at {loc}: total_steps must be a positive int, got 0"),
    (lambda: sn.one_cycle(0.0, 100), r"one_cycle at {loc}: max_lr must be a finite number > 0, got 0.0"),
    (lambda: sn.one_cycle(0.1, 100, pct_start=1.0), r"one_cycle at {loc}: pct_start must be a number in \(0, 1\), "
                                                    r"got 1.0"),
    (lambda: sn.one_cycle(0.1, 3), r"one_cycle at {loc}: the rise lasts pct_start \* total_steps = 0.9 steps; it must "
                                   r"last more than 1 \(as PyTorch's OneCycleLR requires\)"),
]


@pytest.mark.parametrize("build,pattern", BAD_HYPERPARAMETERS, ids=[p for _, p in BAD_HYPERPARAMETERS])
def test_a_bad_hyperparameter_is_refused_naming_the_optimizer_the_value_and_the_line(build, pattern):
    loc = f"{HERE}:{build.__code__.co_firstlineno}"
    with pytest.raises(sn.ArgumentError, match="^" + pattern.format(loc=loc) + "$"):
        build()


def test_numpy_numbers_are_valid_hyperparameters():
    opt = sn.SGD(lr=np.float32(0.5), momentum=np.float64(0.9), schedule=sn.step_decay(np.float64(0.5), np.int64(2)))
    assert opt.lr == 0.5 and opt.momentum == 0.9 and opt.lr_at(2) == 0.25


# ---------------------------------------------------------------- per-step schedules
# The references below are the schedules' published equations, written out step by step in plain Python.

LR = 0.2


def warmup_factor(s, steps):
    return min(1.0, (s + 1) / steps)


def cosine_factor(s, total, final=0.0):
    """Keras's CosineDecay with alpha = final."""
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))


def one_cycle_rate(s, max_lr, total, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """PyTorch's OneCycleLR (two phases, cosine annealing), held at its last rate after total_steps."""
    initial = max_lr / div_factor
    phases = [(pct_start * total - 1, initial, max_lr), (total - 1, max_lr, initial / final_div_factor)]
    s, start_step = min(s, total - 1), 0.0
    for i, (end_step, start, end) in enumerate(phases):
        if s <= end_step or i == len(phases) - 1:
            pct = (s - start_step) / (end_step - start_step)
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        start_step = end_step


SCHEDULE_CASES = [
    ("warmup", lambda: sn.warmup(5), lambda s: LR * warmup_factor(s, 5)),
    ("cosine_decay", lambda: sn.cosine_decay(12, final=0.1), lambda s: LR * cosine_factor(s, 12, 0.1)),
    ("one_cycle", lambda: sn.one_cycle(0.8, 20), lambda s: one_cycle_rate(s, 0.8, 20)),
    ("one_cycle, other phases", lambda: sn.one_cycle(0.5, 16, pct_start=0.5, div_factor=10, final_div_factor=100),
     lambda s: one_cycle_rate(s, 0.5, 16, 0.5, 10, 100)),
    ("warmup then cosine_decay", lambda: sn.warmup(4, then=sn.cosine_decay(10)),
     lambda s: LR * warmup_factor(s, 4) * cosine_factor(max(s - 4, 0), 10)),
]


def step_rates(schedule, steps, backend):
    """The rate of each of `steps` steps of SGD with this schedule, as the step computed it."""
    optimizer = sn.SGD(lr=LR, schedule=schedule)
    x = sn.input("x", (None, 1), dtype="float64")
    w = sn.param("w", value=np.zeros(1), regularize=False)
    loss = sn.sum(w * sn.mean(x, 0))
    step = sn.function([x], loss, updates=optimizer.updates([w], sn.grad(loss, [w])), backend=backend)
    rates = []
    for _ in range(steps):
        step(np.ones((2, 1)))
        rates.append(optimizer.last_rate())
    return np.array(rates), w.value


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("name,make,rate", SCHEDULE_CASES, ids=[c[0] for c in SCHEDULE_CASES])
def test_a_per_step_schedule_gives_the_rates_of_its_formula(name, make, rate, backend):
    rates, w = step_rates(make(), 25, backend)
    expected = np.array([rate(s) for s in range(25)])
    np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(w, [-expected.sum()], rtol=1e-9)  # w <- w - rate * 1 at every step: the rates trained


def linear_model(optimizer, schedule_seed=0):
    """A float64 linear regression with fixed initial weights, so that two builds train alike."""
    x, y = sn.input("x", (None, 3), dtype="float64"), sn.input("y", (None, 1), dtype="float64")
    w = sn.param("w", value=np.array([[0.3], [-0.2], [0.1]]))
    b = sn.param("b", value=np.array([0.05]))
    p = x @ w + b
    return sn.compile(sn.mse(p, y), p, optimizer, metrics=[])


def regression_rows(n=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([[1.0], [2.0], [-1.0]]) + 0.5 + 0.1 * rng.normal(size=(n, 1))


def numpy_training(X, Y, rates, batch, adam=False, b1=0.9, b2=0.999, eps=1e-8):
    """SGD or Adam on the quadratic cost sum((p - y)^2) / 2n, one step per batch of rows in order, step k at
    rates[k]."""
    w, b = np.array([[0.3], [-0.2], [0.1]]), np.array([0.05])
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    k = 0
    while k < len(rates):
        for start in range(0, len(X), batch):
            if k == len(rates):
                break
            x, y = X[start:start + batch], Y[start:start + batch]
            delta = (x @ w + b - y) / len(x)
            grads = [x.T @ delta, delta.sum(axis=0)]
            params = [w, b]
            for i, g in enumerate(grads):
                if adam:
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    step = (m[i] / (1 - b1 ** (k + 1))) / (np.sqrt(v[i] / (1 - b2 ** (k + 1))) + eps)
                else:
                    step = g
                params[i] -= rates[k] * step
            k += 1
    return {"w": w, "b": b}


TRAINING_CASES = [
    ("SGD, warmup then cosine_decay", lambda: sn.SGD(lr=LR, schedule=sn.warmup(3, then=sn.cosine_decay(8))),
     lambda s, epoch: LR * warmup_factor(s, 3) * cosine_factor(max(s - 3, 0), 8), False),
    ("SGD, warmup then step_decay per epoch", lambda: sn.SGD(lr=LR, schedule=sn.warmup(6, then=sn.step_decay(0.5, 1))),
     lambda s, epoch: LR * warmup_factor(s, 6) * 0.5 ** epoch, False),
    ("Adam, one_cycle", lambda: sn.Adam(lr=0.01, schedule=sn.one_cycle(0.3, 12)),
     lambda s, epoch: one_cycle_rate(s, 0.3, 12), True),
]


@pytest.mark.parametrize("name,make,rate,adam", TRAINING_CASES, ids=[c[0] for c in TRAINING_CASES])
def test_training_with_a_schedule_is_training_at_its_rates(name, make, rate, adam, capsys):
    """Four steps an epoch, one per compiled chunk (verbose=1 cuts the epoch for its progress bar), three epochs:
    the step count runs on across chunks and epochs, and history's lr is each epoch's last step's rate."""
    X, Y = regression_rows()
    net = linear_model(make())
    hist = net.fit(X, Y, epochs=3, batch_size=5, shuffle=False, verbose=1)
    rates = [rate(s, s // 4) for s in range(12)]
    expected = numpy_training(X, Y, rates, batch=5, adam=adam)
    for name_ in ("w", "b"):
        np.testing.assert_allclose(net.params[name_], expected[name_], rtol=1e-9, atol=1e-12, err_msg=name_)
    np.testing.assert_allclose(hist.history["lr"], [rates[3], rates[7], rates[11]], rtol=1e-9)
    assert float(net.optimizer.step_leaf.value) == 12.0


def test_schedules_of_one_kind_share_the_compiled_loop():
    """The schedule's numbers are leaves, not literals: a second model with other numbers runs the first one's
    compiled loop (already compiled when it is built) and trains at its own rates."""
    X, Y = regression_rows()
    first = linear_model(sn.SGD(lr=LR, schedule=sn.warmup(2, then=sn.cosine_decay(9))))
    first.fit(X, Y, epochs=1, batch_size=5, shuffle=False, verbose=0)
    second = linear_model(sn.SGD(lr=0.05, schedule=sn.warmup(5, then=sn.cosine_decay(30, final=0.2))))
    assert second.generated.code == first.generated.code and second.from_cache
    assert getattr(second.generated.module.module, "train_epoch").signatures  # nothing left to compile
    hist = second.fit(X, Y, epochs=2, batch_size=5, shuffle=False, verbose=0)
    expected = [0.05 * warmup_factor(s, 5) * cosine_factor(max(s - 5, 0), 30, 0.2) for s in (3, 7)]
    np.testing.assert_allclose(hist.history["lr"], expected, rtol=1e-9)


def test_a_resumed_run_continues_the_step_count_bit_for_bit(tmp_path):
    X, Y = regression_rows()
    make = lambda: linear_model(sn.Adam(lr=0.01, schedule=sn.warmup(3, then=sn.cosine_decay(10))))  # noqa: E731
    whole = make()
    whole.fit(X, Y, epochs=4, batch_size=5, seed=1, verbose=0)
    first = make()
    first.fit(X, Y, epochs=2, batch_size=5, seed=1, verbose=0, checkpoint=tmp_path / "run.snet")
    resumed = make()
    resumed.fit(X, Y, epochs=4, batch_size=5, seed=1, verbose=0, resume=tmp_path / "run.snet")
    assert float(resumed.optimizer.step_leaf.value) == 16.0
    for name in ("w", "b"):
        np.testing.assert_array_equal(resumed.params[name], whole.params[name], err_msg=name)
    assert resumed.history["lr"] == whole.history["lr"]


def test_a_model_file_keeps_a_nested_schedule(tmp_path):
    schedule = sn.warmup(3, then=sn.cosine_decay(40, final=0.25))
    net = linear_model(sn.SGD(lr=LR, momentum=0.5, schedule=schedule))
    net.save(tmp_path / "m.snet")
    loaded = sn.load(tmp_path / "m.snet")
    assert loaded.optimizer.config() == net.optimizer.config()
    assert repr(loaded.optimizer) == ("SGD(lr=0.2, momentum=0.5, nesterov=False, schedule=sn.warmup(steps=3, "
                                      "then=sn.cosine_decay(total_steps=40, final=0.25)))")


def test_a_checkpoint_without_the_step_count_is_refused_by_a_per_step_schedule(tmp_path):
    X, Y = regression_rows()
    linear_model(sn.SGD(lr=LR)).fit(X, Y, epochs=1, verbose=0, checkpoint=tmp_path / "run.snet")
    scheduled = linear_model(sn.SGD(lr=LR, schedule=sn.cosine_decay(10)))
    with pytest.raises(sn.DataError, match=r"the checkpoint was trained with SGD\(lr=0.2, momentum=0.0, "
                                           r"nesterov=False\), this model uses SGD\(lr=0.2, momentum=0.0, "
                                           r"nesterov=False, schedule=cosine_decay\); resume with the optimizer that "
                                           r"wrote it"):
        scheduled.fit(X, Y, epochs=2, verbose=0, resume=tmp_path / "run.snet")


# ---------------------------------------------------------------- gradient clipping

def numpy_clipped(kind, c, grads):
    """The definitions: Keras's clipvalue and clipnorm (tf.clip_by_norm: g * c / max(||g||, c)) and PyTorch's
    clip_grad_norm_ (every g times min(1, c / (||all|| + 1e-6)))."""
    if kind == "clipvalue":
        return [np.clip(g, -c, c) for g in grads]
    if kind == "clipnorm":
        return [g * c / max(np.sqrt(np.sum(g * g)), c) for g in grads]
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    return [g * min(1.0, c / (total + 1e-6)) for g in grads]


CLIPPING = [("clipvalue", 1.5), ("clipnorm", 2.0), ("global_clipnorm", 2.5)]  # each clips some values, not all


def run_clipped(optimizer, backend):
    """Minimise sum(w_i * c_i) + sum(w_i^2)/2 over two parameters (gradients c_i + w_i) for a few steps."""
    w0 = [np.array([0.5, -1.0, 2.0, 0.0]), np.array([[0.1, -0.2, 0.5], [0.0, 0.3, 0.2]])]  # no gradient near 0
    c = [np.array([1.0, -2.0, 0.5, 3.0]), np.array([[0.2, 0.1, -0.3], [0.4, -0.2, 0.1]])]
    x1, x2 = sn.input("x1", (None, 4), dtype="float64"), sn.input("x2", (None, 2, 3), dtype="float64")
    ws = [sn.param(f"w{i}", value=w.copy(), regularize=False) for i, w in enumerate(w0)]
    loss = sn.sum(ws[0] * sn.mean(x1, 0)) + sn.sum(ws[1] * sn.mean(x2, 0))
    loss = loss + 0.5 * (sn.sum(sn.square(ws[0])) + sn.sum(sn.square(ws[1])))
    updates = optimizer.updates(ws, sn.grad(loss, ws))
    step = sn.function([x1, x2], loss, updates=updates, backend=backend)
    for _ in range(STEPS):
        step(np.tile(c[0], (3, 1)), np.tile(c[1], (3, 1, 1)))
    return [w.value for w in ws], w0, c


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("kind,threshold", CLIPPING, ids=[k for k, _ in CLIPPING])
@pytest.mark.parametrize("name,make,hyper", CASES, ids=[c[0] for c in CASES])
def test_clipped_steps_match_the_keras_and_pytorch_definitions(name, make, hyper, kind, threshold, backend):
    optimizer = make()
    config = {**optimizer.config(), kind: threshold}
    got, ws, cs = run_clipped(sn.optim.from_config(config), backend)
    hyper = dict(hyper)
    lr = hyper.pop("lr")
    states = [fresh_state(w) for w in ws]
    for t in range(1, STEPS + 1):
        grads = numpy_clipped(kind, threshold, [c + w for c, w in zip(cs, ws)])
        ws = [numpy_step(name, w, g, state, t, lr, hyper) for w, g, state in zip(ws, grads, states)]
    for g, expected in zip(got, ws):
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)


def test_the_clipping_tests_clip():
    """The thresholds of CLIPPING change the first step's gradients, and not all of them to the threshold."""
    grads = [np.array([1.5, -3.0, 2.5, 3.0]), np.array([[0.3, -0.1, 0.2], [0.4, 0.1, 0.3]])]
    for kind, threshold in CLIPPING:
        clipped = numpy_clipped(kind, threshold, grads)
        assert not np.array_equal(clipped[0], grads[0]), kind
        assert not all(np.allclose(np.abs(c), threshold) for c in clipped), kind


@pytest.mark.parametrize("kind,threshold", CLIPPING, ids=[k for k, _ in CLIPPING])
def test_history_records_the_mean_global_gradient_norm_of_each_epoch(kind, threshold):
    """grad_norm: the mean over the epoch's steps of ||all gradients|| before clipping, from the NumPy
    gradients of the cost sum((p - y)^2) / 2n, the steps replayed in NumPy."""
    X, Y = regression_rows(n=12)
    threshold /= 4  # below the norms here
    net = linear_model(sn.SGD(lr=0.1, **{kind: threshold}))
    history = net.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    w, b = np.array([[0.3], [-0.2], [0.1]]), np.array([0.05])
    for epoch in history.epochs:
        norms = []
        for start in range(0, 12, 4):
            x, y = X[start:start + 4], Y[start:start + 4]
            delta = (x @ w + b - y) / len(x)
            grads = [x.T @ delta, delta.sum(0)]
            norms.append(np.sqrt(sum(np.sum(g * g) for g in grads)))
            gw, gb = numpy_clipped(kind, threshold, grads)
            w, b = w - 0.1 * gw, b - 0.1 * gb
        assert epoch["grad_norm"] == pytest.approx(np.mean(norms), rel=1e-12)
    np.testing.assert_allclose(net.params["w"], w, rtol=1e-12)
    assert max(history["grad_norm"]) > threshold  # the clipping was at work


def test_without_clipping_training_is_unchanged_and_records_no_norm():
    """Clipping off adds nothing to the graph: the same generated code and the same weights, bit for bit, as
    an optimizer given every clipping argument as None, and no grad_norm in the history."""
    X, Y = regression_rows()
    plain, given_none = (linear_model(sn.Adam(lr=0.01, **extra))
                         for extra in ({}, {"clipvalue": None, "clipnorm": None, "global_clipnorm": None}))
    for net in (plain, given_none):
        net.fit(X, Y, epochs=2, batch_size=5, seed=1, verbose=0)
    assert plain.generated.source == given_none.generated.source and "grad_norm" not in plain.generated.source
    for name in ("w", "b"):
        np.testing.assert_array_equal(plain.params[name], given_none.params[name])
    assert "grad_norm" not in plain.history.history and plain.optimizer.norm_leaves is None


def test_a_model_file_keeps_the_clipping(tmp_path):
    X, Y = regression_rows()
    net = linear_model(sn.RMSProp(lr=0.01, clipnorm=0.5))
    net.fit(X, Y, epochs=1, batch_size=5, verbose=0)
    net.save(tmp_path / "clipped.snet")
    loaded = sn.load(tmp_path / "clipped.snet")
    assert loaded.optimizer.clipping == {"clipnorm": 0.5} and repr(loaded.optimizer).endswith("clipnorm=0.5)")


@pytest.mark.parametrize("arguments,pattern", [
    ({"clipnorm": 0.0}, r"clipnorm must be a finite number > 0, got 0.0"),
    ({"clipvalue": -1}, r"clipvalue must be a finite number > 0, got -1"),
    ({"global_clipnorm": float("inf")}, r"global_clipnorm must be a finite number > 0, got inf"),
    ({"clipnorm": float("nan")}, r"clipnorm must be a finite number > 0, got nan"),
    ({"clipvalue": "1"}, r"clipvalue must be a finite number > 0, got '1'"),
    ({"clip_norm": 1.0}, r"unexpected argument clip_norm; did you mean 'clipnorm'\? it takes lr, .*schedule, "
                         r"clipvalue, clipnorm, global_clipnorm$"),
    ({"clipnorm": 1.0, "clipvalue": 1.0}, r"give one of clipvalue, clipnorm and global_clipnorm, not clipvalue and "
                                          r"clipnorm"),
])
@pytest.mark.parametrize("optimizer", [sn.SGD, sn.Adam, sn.AdamW, sn.RMSProp, sn.AdaGrad])
def test_bad_clipping_is_refused_naming_the_optimizer_and_the_line(optimizer, arguments, pattern):
    with pytest.raises(sn.ArgumentError, match=rf"^{optimizer.__name__} at .*test_optim.py:\d+: {pattern}"):
        optimizer(lr=0.1, **arguments)


def test_a_misspelt_hyperparameter_is_answered_with_the_nearest_name():
    with pytest.raises(sn.ArgumentError, match=r"^SGD at .*: unexpected argument momentun; did you mean 'momentum'\? "
                                               r"it takes lr, momentum, nesterov, schedule, clipvalue"):
        sn.SGD(lr=0.1, momentun=0.9)
