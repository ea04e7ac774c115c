import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import staticnet as sn
from tests.conftest import check_grads

BINARY = {
    "add": (sn.add, np.add),
    "sub": (sn.sub, np.subtract),
    "mul": (sn.mul, np.multiply),
    "div": (sn.div, np.divide),
    "maximum": (sn.maximum, np.maximum),
    "minimum": (sn.minimum, np.minimum),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_binary_gradient_with_broadcasting(name, shapes, seed):
    build, _ = BINARY[name]
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, shapes.input_shapes[0]) * rng.choice([-1, 1], shapes.input_shapes[0])
    b = rng.uniform(0.5, 2.0, shapes.input_shapes[1])
    if name in ("maximum", "minimum"):  # keep a and b 0.05 apart, away from the kink where they tie
        a, b = np.round(a, 1) + 0.05, np.round(b, 1)
    check_grads(build, [a, b])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward_matches_numpy_with_a_batch(name, rng):
    build, reference = BINARY[name]
    a, b = rng.uniform(0.5, 2, (5, 3)), rng.uniform(0.5, 2, (3,))
    x = sn.input("a", (None, 3), dtype="float64")
    y = sn.input("b", (3,), dtype="float64")
    np.testing.assert_allclose(sn.function([x, y], build(x, y))(a, b), reference(a, b), rtol=1e-15)


def test_gradient_over_the_batch_dimension(rng):
    check_grads(lambda a, b: a * b + a, [rng.normal(size=(4, 3)), rng.normal(size=(1, 3))], batch=(True, False))


UNARY = {
    "neg": (sn.neg, np.negative, (-2, 2)),
    "exp": (sn.exp, np.exp, (-2, 2)),
    "log": (sn.log, np.log, (0.2, 3)),
    "sqrt": (sn.sqrt, np.sqrt, (0.2, 3)),
    "square": (sn.square, np.square, (-2, 2)),
    "abs": (sn.abs, np.abs, (0.1, 2)),
    "erf": (sn.erf, np.vectorize(math.erf), (-2, 2)),
    "cos": (sn.cos, np.cos, (-4, 4)),
    "sin": (sn.sin, np.sin, (-4, 4)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=st.lists(st.integers(1, 3), max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_unary_gradient(name, shape, seed):
    build, _, (low, high) = UNARY[name]
    x = np.random.default_rng(seed).uniform(low, high, shape)
    if name == "abs":
        x *= np.random.default_rng(seed + 1).choice([-1, 1], shape)
    check_grads(build, [x])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_matches_numpy(name, rng):
    build, reference, (low, high) = UNARY[name]
    x = rng.uniform(low, high, (4, 3))
    t = sn.input("x", (None, 3), dtype="float64")
    np.testing.assert_allclose(sn.function([t], build(t))(x), reference(x), rtol=1e-15)


def test_sign_and_masks_have_zero_gradient(rng):
    x = sn.input("x", (3,), dtype="float64")
    for build in (sn.sign, lambda t: sn.greater(t, 0.0), lambda t: sn.less_equal(t, 1.0), lambda t: sn.equal(t, 0.5)):
        g = sn.grad(sn.sum(build(x) * x), x)
        values = rng.normal(size=3)
        expected = sn.function([x], build(x))(values)  # d/dx (m(x) * x) = m(x) where m is locally constant
        np.testing.assert_array_equal(sn.function([x], g)(values), expected)


@pytest.mark.parametrize("op,reference", [(sn.greater, np.greater), (sn.greater_equal, np.greater_equal),
                                          (sn.less, np.less), (sn.less_equal, np.less_equal), (sn.equal, np.equal)])
def test_comparison_masks_are_float(op, reference):
    a = np.array([1.0, 2.0, 3.0], np.float32)
    x = sn.input("x", (3,))
    out = sn.function([x], op(x, 2.0))(a)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, reference(a, 2.0).astype(np.float32))


def test_where_gradient_splits_between_branches(rng):
    c = (rng.normal(size=(3, 4)) > 0).astype(np.float64)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    cond = sn.constant(c)
    check_grads(lambda x, y: sn.where(sn.cast(cond, "float64"), x, y), [a, b])


def test_python_numbers_take_the_tensor_dtype():
    x = sn.input("x", (2,), dtype="float64")
    assert (x * 2).dtype == np.float64 and (2 - x).dtype == np.float64 and (1 / x).dtype == np.float64
    np.testing.assert_allclose(sn.function([x], 1 / x - 2 * x)(np.array([1.0, 4.0])), [-1.0, -7.75])


def test_cast_round_trip_keeps_gradient(rng):
    check_grads(lambda x: sn.cast(sn.square(sn.cast(x, "float32")), "float64"), [rng.uniform(1, 2, (3,))],
                rtol=1e-3, atol=1e-3, eps=1e-2)
