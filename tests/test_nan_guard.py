"""The NaN guard: a diverging fit stops at the right step, names the node and line, keeps finite weights."""
import inspect
import os

import numpy as np
import pytest

import staticnet as sn

HERE = os.path.relpath(__file__)
LR = 50.0


def regression_data(rows=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)).astype(np.float32)
    return {"x": x, "y": (x @ rng.normal(size=(4, 1))).astype(np.float32)}


def linear_regression(lr=LR):
    """x @ W + b under the quadratic cost: SGD at lr=50 multiplies the error about fiftyfold per step."""
    sn.seed(0)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 1))
    p = sn.dense(x, 1)
    cost_line = inspect.currentframe().f_lineno + 1
    net = sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=lr))
    return net, f"{HERE}:{cost_line}"


def first_overflowing_step(data, W, b, batch, lr=LR):
    """Plain NumPy SGD on the same batches in float32: (1-based step whose squared error overflows, W and b
    before it)."""
    W, b = W.astype(np.float32), b.astype(np.float32)
    n_rows = data["x"].shape[0]
    with np.errstate(over="ignore"):
        for step, s in enumerate(range(0, n_rows, batch), start=1):
            x, y = data["x"][s:s + batch], data["y"][s:s + batch]
            err = x @ W + b - y
            if not np.isfinite(np.square(err)).all():
                return step, W, b
            n = np.float32(len(x))
            W, b = W - np.float32(lr) * (x.T @ err) / n, b - np.float32(lr) * err.sum(0) / n
    raise AssertionError("the reference run did not diverge")


def test_a_diverging_fit_names_the_step_the_node_and_the_line_and_keeps_the_last_finite_weights():
    data = regression_data()
    net, cost_line = linear_regression()
    start_W, start_b = net.params["dense1/W"].copy(), net.params["dense1/b"].copy()
    step, W, b = first_overflowing_step(data, start_W, start_b, batch=10)
    with pytest.raises(sn.NumericalError) as caught:
        net.fit(data, epochs=3, batch_size=10, shuffle=False, verbose=0)
    error = caught.value
    assert (error.epoch, error.step) == (1, step)
    assert error.node.op == "square" and error.node.loc == cost_line  # (a - y)^2 of the cost overflows first
    message = str(error)
    assert f"training diverged in epoch 1, step {step} of 20" in message
    assert f"square at {cost_line} (forward pass): shape (10, 1) float32" in message
    assert net.history.numerical_error is error and len(net.history) == 0 and net.epochs_done == 0
    assert all(np.isfinite(v).all() for _, v in net.params.items())
    np.testing.assert_allclose(net.params["dense1/W"], W, rtol=1e-3)
    np.testing.assert_allclose(net.params["dense1/b"], b, rtol=1e-3)


def test_without_the_guard_the_same_fit_trains_on_into_nan():
    net, _ = linear_regression()
    hist = net.fit(regression_data(), epochs=3, batch_size=10, shuffle=False, verbose=0, nan_guard=False)
    assert len(hist) == 3 and not np.isfinite(hist["loss"][-1])


def test_an_update_that_overflows_on_the_last_step_is_caught_at_the_end_of_the_epoch():
    """The loss of the step is finite; only the weights it leaves are not: lr * dC/dW overflows."""
    data = regression_data(rows=20)
    data["x"] *= 10  # gradients above 1.2, so that 3e38 times them exceeds float32's largest number
    net, _ = linear_regression(lr=3e38)
    start = {k: v.copy() for k, v in net.params.items()}
    err = data["x"] @ start["dense1/W"] + start["dense1/b"] - data["y"]
    assert float(np.abs(data["x"].T @ err / 20).max()) * 3e38 > float(np.finfo(np.float32).max)
    with pytest.raises(sn.NumericalError) as caught:
        net.fit(data, epochs=1, batch_size=20, verbose=0)  # one step per epoch
    error = caught.value
    assert error.step == 1 and "dense1/W" in error.parameters
    assert error.node.op == "mul" and "the optimizer's update of 'dense1/W'" in str(error)
    assert "its loss was finite" in str(error)
    for name, value in start.items():
        np.testing.assert_array_equal(net.params[name], value)


def test_a_checkpoint_keeps_the_last_finite_epoch_when_a_later_one_diverges(tmp_path):
    data = regression_data()
    net, _ = linear_regression()
    path = str(tmp_path / "ckpt.snet")
    kept = {}

    class KeepWeights(sn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            kept[epoch] = {k: v.copy() for k, v in self.model.params.items()}

    calm_first_epoch = sn.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 if epoch == 0 else LR)
    with pytest.raises(sn.NumericalError) as caught:
        net.fit(data, epochs=3, batch_size=10, verbose=0, checkpoint=path, callbacks=[calm_first_epoch, KeepWeights()])
    assert caught.value.epoch == 2 and list(kept) == [0]
    saved = sn.load(path)
    for name, value in kept[0].items():
        np.testing.assert_array_equal(saved.params[name], value)


def test_weights_that_are_not_finite_before_training_are_named():
    net, _ = linear_regression()
    net.params["dense1/b"] = np.array([np.inf], np.float32)
    with pytest.raises(sn.NumericalError, match=r"^fit: 'dense1/b' holds NaN or infinite values before training starts; ") as caught:
        net.fit(regression_data(), epochs=1, verbose=0)
    assert caught.value.parameters == ("dense1/b",)
    assert net.epochs_done == 0 and np.isinf(net.params["dense1/b"]).all()  # nothing trained


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_function_that_checks_finite_values_names_the_node_and_keeps_its_parameters(backend):
    x = sn.input("x", (None, 3))
    w = sn.param("w", value=np.ones(3, np.float32))
    line = inspect.currentframe().f_lineno + 1
    logarithm = sn.log(x * w)
    f = sn.function([x], logarithm, updates=[(w, w * 2.0)], backend=backend, check_finite=True)
    np.testing.assert_allclose(f(np.ones((2, 3), np.float32)), np.zeros((2, 3)))  # finite: as without the check
    np.testing.assert_array_equal(w.value, [2, 2, 2])
    with pytest.raises(sn.NumericalError) as caught:
        f(np.array([[1.0, -1.0, 2.0]], np.float32))  # the log of a negative number
    assert caught.value.node.op == "log" and caught.value.node.loc == f"{HERE}:{line}"
    assert f"output 0 is not finite; the first value that is not finite: log at {HERE}:{line}: shape (1, 3) float32, " \
           "of its 3 values 1 NaN" in str(caught.value)
    np.testing.assert_array_equal(w.value, [2, 2, 2])  # the failed call's update is undone
