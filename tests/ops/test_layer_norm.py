"""Layer normalisation against its definition in NumPy (Ba et al. 2016; Keras's LayerNormalization)."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.ops.layer_norm import layer_norm_op
from tests.conftest import check_grads


def layer_norm_numpy(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    variance = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased, as Keras and PyTorch
    return (x - mu) / np.sqrt(variance + eps) * gamma + beta


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 3, 5)])
def test_layer_norm_equals_its_definition(backend, shape):
    rng = np.random.default_rng(0)
    v = rng.normal(2.0, 3.0, shape)
    x = sn.input("x", (None,) + shape[1:], dtype="float64")
    y = sn.layer_norm(x, name="ln")
    gamma, beta = rng.normal(size=shape[-1:]), rng.normal(size=shape[-1:])
    y.inputs[1].value[...], y.inputs[2].value[...] = gamma, beta
    assert y.shape == x.shape and [p.name for p in sn.Graph(y).params] == ["ln/gamma", "ln/beta"]
    np.testing.assert_allclose(sn.function([x], y, backend=backend)(v), layer_norm_numpy(v, gamma, beta, 1e-3),
                               rtol=1e-10, atol=1e-12)


def test_layer_norm_starts_as_the_plain_normalisation_with_keras_eps():
    x = sn.input("x", (None, 5), dtype="float64")
    y = sn.layer_norm(x)
    np.testing.assert_array_equal(y.inputs[1].value, np.ones(5))
    np.testing.assert_array_equal(y.inputs[2].value, np.zeros(5))
    assert y.attrs["eps"] == 1e-3 and y.layer == "layer_norm1"
    v = np.random.default_rng(1).normal(size=(3, 5))
    out = sn.function([x], y)(v)
    np.testing.assert_allclose(out, layer_norm_numpy(v, 1.0, 0.0, 1e-3), rtol=1e-10)


def test_layer_norm_gradients_are_central_differences():
    rng = np.random.default_rng(2)
    check_grads(lambda x, g, b: layer_norm_op(x, g, b, 1e-3),
                [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)], batch=[True, False, False])
    check_grads(lambda x, g, b: layer_norm_op(x, g, b, 0.5),
                [rng.normal(size=(2, 2, 3)), rng.normal(size=3), rng.normal(size=3)], batch=[True, False, False],
                backend="numba")


def test_layer_norm_trains_in_a_model():
    """A layer-normalised network's loss falls; its gamma and beta are trained."""
    sn.seed(0)
    rng = np.random.default_rng(3)
    data = rng.normal(size=(64, 6)).astype(np.float32)
    labels = (data[:, 0] * data[:, 1] > 0).astype(np.int64)
    x, y = sn.input("x", (None, 6)), sn.input("y", (None,), dtype="int64")
    h = sn.layer_norm(sn.dense(x, 16, activation="tanh"), name="ln")
    z = sn.dense(h, 2)
    net = sn.compile(sn.softmax_cross_entropy(z, y), outputs=z, optimizer=sn.Adam(lr=0.01))
    history = net.fit({"x": data, "y": labels}, epochs=5, batch_size=16, verbose=0)
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]
    assert not np.array_equal(net.params["ln/gamma"], np.ones(16))


@pytest.mark.parametrize("mistake,error,pattern", [
    (lambda: sn.layer_norm(sn.input("i", (None, 3), dtype="int64")), sn.DTypeError, r"input has dtype int64"),
    (lambda: sn.layer_norm(sn.input("x", (None, 3)), eps=0.0), sn.GraphError, r"eps must be"),
    (lambda: sn.layer_norm(sn.input("x", (None,))), sn.ShapeError, r"no feature axis last"),
])
def test_layer_norm_refuses_bad_arguments_at_the_users_line(mistake, error, pattern):
    with pytest.raises(error, match=rf"^layer_norm at .*test_layer_norm.py:{mistake.__code__.co_firstlineno}: .*{pattern}"):
        mistake()
