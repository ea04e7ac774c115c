import math

import numpy as np
import pytest

import staticnet as sn
from tests.conftest import check_grads


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def phi(z):
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


# Independent float64 formulas, written directly from their definitions.
DEFINITIONS = {
    "sigmoid": (sn.sigmoid, sigmoid),
    "tanh": (sn.tanh, np.tanh),
    "relu": (sn.relu, lambda z: np.where(z > 0, z, 0.0)),
    "leaky_relu": (lambda z: sn.leaky_relu(z, 0.1), lambda z: np.where(z > 0, z, 0.1 * z)),
    "elu": (lambda z: sn.elu(z, 0.7), lambda z: np.where(z > 0, z, 0.7 * (np.exp(z) - 1))),
    "softplus": (sn.softplus, lambda z: np.log(1 + np.exp(z))),
    "hard_sigmoid": (lambda z: sn.hard_sigmoid(z, 0.3, 0.4), lambda z: np.minimum(1.0, np.maximum(0.0, 0.3 * z + 0.4))),
    "swish": (lambda z: sn.swish(z, 1.5), lambda z: z * sigmoid(1.5 * z)),
    "gelu": (sn.gelu, lambda z: z * phi(z)),
    "gelu_tanh": (lambda z: sn.gelu(z, "tanh"),
                  lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))),
    "gelu_sigmoid": (lambda z: sn.gelu(z, "sigmoid"), lambda z: z * sigmoid(1.702 * z)),
    "mish": (sn.mish, lambda z: z * np.tanh(np.log1p(np.exp(z)))),
    "softmax": (sn.softmax, lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
    "log_softmax": (sn.log_softmax, lambda z: np.log(np.exp(z) / np.exp(z).sum(-1, keepdims=True))),
}


def kink_free(rng, shape):
    z = rng.uniform(-3, 3, shape)
    return np.where(np.abs(z) < 0.05, 0.5, z)


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_forward_matches_definition(name, rng):
    build, definition = DEFINITIONS[name]
    z = kink_free(rng, (5, 4))
    x = sn.input("z", (None, 4), dtype="float64")
    np.testing.assert_allclose(sn.function([x], build(x))(z), definition(z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_gradient(name, rng):
    build, _ = DEFINITIONS[name]
    check_grads(build, [kink_free(rng, (3, 4))], batch=True)


def test_step_is_the_perceptron_threshold_with_zero_gradient():
    z = sn.input("z", (4,), dtype="float64")
    out, g = sn.function([z], [sn.step(z), sn.grad(sn.sum(sn.step(z)), z)])(np.array([-1.0, 0.0, 0.5, 3.0]))
    np.testing.assert_array_equal(out, [0, 0, 1, 1])
    np.testing.assert_array_equal(g, [0, 0, 0, 0])


def test_prelu_learns_a_slope_per_unit(rng):
    z = kink_free(rng, (4, 3))
    slope = rng.uniform(0.1, 0.5, (3,))
    check_grads(lambda t, a: sn.prelu(t, a), [z, slope], batch=(True, False))
    x = sn.input("z", (None, 3), dtype="float64")
    out = sn.function([x], sn.prelu(x, sn.constant(slope)))(z)
    np.testing.assert_allclose(out, np.where(z > 0, z, slope * z))
    learned = sn.prelu(sn.input("h", (None, 3)))
    alpha = [t for t in sn.Graph(learned).params]
    assert len(alpha) == 1 and alpha[0].shape == (3,) and np.all(alpha[0].value == 0.25)


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_stable_for_large_inputs_in_float32(name):
    build, _ = DEFINITIONS[name]
    values = np.array([[-1e4, -50.0, 0.5, 50.0, 1e4]], np.float32)
    x = sn.input("z", (None, 5))
    out, g = sn.function([x], [build(x), sn.grad(sn.sum(build(x)), x)])(values)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g)), (out, g)


def test_softmax_saturates_correctly_for_large_logits():
    x = sn.input("z", (None, 3))
    out = sn.function([x], [sn.softmax(x), sn.log_softmax(x), sn.sigmoid(x)])(np.array([[1e4, 0.0, -1e4]], np.float32))
    np.testing.assert_allclose(out[0], [[1, 0, 0]])
    np.testing.assert_allclose(out[1], [[0, -1e4, -2e4]])
    np.testing.assert_allclose(out[2], [[1, 0.5, 0]])
