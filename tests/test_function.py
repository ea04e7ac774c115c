"""sn.function's outputs: a tensor, or lists and tuples of outputs nested as the caller likes."""
import numpy as np
import pytest

import staticnet as sn


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_nested_outputs_come_back_in_the_same_nesting(backend):
    x = sn.input("x", (None, 3), dtype="float64")
    W = sn.param("W", value=np.arange(6.0).reshape(3, 2))
    b = sn.param("b", value=np.array([0.5, -1.0]))
    z = x @ W + b
    loss = sn.sum(z * z)
    g1, g2 = sn.grad(loss, [W, b])
    xs = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    f = sn.function([x], [loss, [g1, (g2, z)]], backend=backend)
    value, (dW, (db, zs)) = result = f(xs)
    assert isinstance(result, list) and isinstance(result[1], list) and isinstance(result[1][1], tuple)
    expected_z = xs @ W.value + b.value  # d sum(z^2) / dz = 2 z
    np.testing.assert_allclose(zs, expected_z)
    np.testing.assert_allclose(value, np.sum(expected_z ** 2))
    np.testing.assert_allclose(dW, xs.T @ (2 * expected_z))
    np.testing.assert_allclose(db, (2 * expected_z).sum(0))


def test_a_finite_checked_function_reads_nested_outputs():
    x = sn.input("x", (None, 2), dtype="float64")
    f = sn.function([x], [sn.sum(x), [sn.log(x)]], backend="numpy", check_finite=True)
    total, (logs,) = f(np.array([[1.0, 2.0]]))
    assert total == 3.0 and np.allclose(logs, np.log([[1.0, 2.0]]))
    with pytest.raises(sn.NumericalError, match="output 1 is not finite"):
        f(np.array([[-1.0, 2.0]]))


@pytest.mark.parametrize("outputs, position, got", [
    (lambda loss: [loss, [loss, 3]], r"outputs\[1\]\[1\]", "3"),
    (lambda loss: [loss, {"g": loss}], r"outputs\[1\]", r"\{'g': .*\} \(dict\)"),
    (lambda loss: np.zeros(2), "outputs", r"array\(\[0\., 0\.\]\)"),
])
def test_an_output_that_is_not_a_tensor_is_refused_naming_its_position(outputs, position, got):
    x = sn.input("x", (None, 2))
    with pytest.raises(sn.GraphError, match=rf"^function at .*test_function\.py:\d+: {position} must be a tensor, "
                                            rf"or a list or tuple of outputs, got {got}$"):
        sn.function([x], outputs(sn.sum(x)), backend="numpy")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_training_function_writes_the_batch_norms_moving_statistics_as_fit_does(backend):
    """momentum m: moving_mean <- m moving_mean + (1 - m) batch mean; moving_var the same with the batch's unbiased
    variance (PyTorch's and Keras's definitions); an inference function leaves them, an update given wins."""
    x = sn.input("x", (None, 4), dtype="float64")
    h = sn.batch_norm(x, momentum=0.9)
    loss = sn.sum(h * h)
    mean, var = (next(p for p in sn.Graph(loss).params if p.name.endswith(name)) for name in ("moving_mean", "moving_var"))
    xs = np.random.default_rng(0).normal(2.0, 3.0, size=(6, 4))
    before_mean, before_var = mean.value.copy(), var.value.copy()
    sn.function([x], loss, backend=backend)(xs)
    np.testing.assert_array_equal(mean.value, before_mean)
    np.testing.assert_array_equal(var.value, before_var)
    sn.function([x], loss, training=True, backend=backend)(xs)
    np.testing.assert_allclose(mean.value, 0.9 * before_mean + 0.1 * xs.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var.value, 0.9 * before_var + 0.1 * xs.var(axis=0, ddof=1), rtol=1e-12)
    after_var = var.value.copy()
    sn.function([x], loss, updates=[(mean, mean * 0.0 + 7.0)], training=True, backend=backend)(xs)
    np.testing.assert_array_equal(mean.value, np.full(4, 7.0))
    np.testing.assert_allclose(var.value, 0.9 * after_var + 0.1 * xs.var(axis=0, ddof=1), rtol=1e-12)
