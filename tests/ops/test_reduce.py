import numpy as np
import pytest
from hypothesis import given, strategies as st

import staticnet as sn
from tests.conftest import check_grads

axes_cases = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", axes_cases)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_gradient(op, axis, keepdims, rng):
    x = rng.permutation(24).reshape(2, 3, 4) / 7.0  # distinct values: no ties for max
    check_grads(lambda t: getattr(sn, op)(t, axis, keepdims), [x])


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@given(axis=st.sampled_from(axes_cases), keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reduction_forward_matches_numpy_with_batch(op, axis, keepdims, seed):
    x = np.random.default_rng(seed).normal(size=(5, 3, 4))
    t = sn.input("x", (None, 3, 4), dtype="float64")
    out = sn.function([t], getattr(sn, op)(t, axis, keepdims))(x)
    np.testing.assert_allclose(out, getattr(np, op)(x, axis=axis, keepdims=keepdims), rtol=1e-12, atol=1e-14)


def test_mean_over_the_batch_uses_the_runtime_batch_size(rng):
    check_grads(lambda t: sn.mean(t, 0), [rng.normal(size=(6, 2))], batch=True)


def test_max_ties_share_the_gradient():
    x = sn.input("x", (4,), dtype="float64")
    g = sn.function([x], sn.grad(sn.max(x), x))(np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])


def test_sum_of_squares_is_one_float64_sum_of_the_squares_and_has_its_gradient(rng):
    """The squared norm gradient clipping reads: against NumPy in float64, an overflowing float32 square is
    infinite as NumPy's, and its gradient is 2x (central differences)."""
    from staticnet.ops.reduce import sum_of_squares
    v = rng.normal(size=(5, 7))
    x = sn.input("x", v.shape, dtype="float64")
    for backend in ("numpy", "numba"):
        assert sn.function([x], sum_of_squares(x), backend=backend)(v) == pytest.approx(np.sum(v * v), rel=1e-14)
    big = sn.input("big", (3,))
    assert sn.function([big], sum_of_squares(big))(np.array([1e30, 1.0, 2.0], np.float32)) == np.inf
    check_grads(lambda t: sum_of_squares(t) * t, [v[:2, :3]])
    with pytest.raises(sn.ShapeError, match=r"^sum_of_squares at .*: input \(None, 3\) has a batch axis"):
        sum_of_squares(sn.input("rows", (None, 3)))


def test_broadcast_like_refuses_a_shape_it_does_not_stretch_to():
    with pytest.raises(sn.ShapeError, match=r"^broadcast_like at .*: \(None, 4\) does not broadcast to \(1, 4\)"):
        sn.broadcast_like(sn.input("a", (None, 4)), sn.constant(np.zeros((1, 4), np.float32)))
