import numpy as np
import pytest

from staticnet.kernels import softmax as K


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_softmax_and_log_softmax_rows(scale):
    z = np.random.default_rng(0).normal(size=(6, 5)) * scale
    out = np.empty_like(z)
    K.softmax_rows(z, out)
    np.testing.assert_allclose(out, softmax(z), rtol=1e-12)
    K.log_softmax_rows(z, out)
    shifted = z - z.max(1, keepdims=True)
    np.testing.assert_allclose(out, shifted - np.log(np.exp(shifted).sum(1, keepdims=True)), rtol=1e-12)


def test_softmax_xent_loss_and_probabilities():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(7, 4)), np.eye(4)[rng.integers(0, 4, 7)]
    probs = np.zeros_like(z)
    loss = K.softmax_xent(z, y, probs, True)
    np.testing.assert_allclose(probs, softmax(z), rtol=1e-12)
    assert loss == pytest.approx(-np.sum(y * np.log(softmax(z))) / 7, rel=1e-12)
    untouched = np.full_like(z, 7.0)
    assert K.softmax_xent(z, y, untouched, False) == pytest.approx(loss, rel=1e-15)
    assert np.all(untouched == 7.0)


def test_float32_softmax_and_cost_agree_with_float64_numpy_and_propagate_nan_and_infinities():
    """float32 logits (exp32, not libm) against float64 NumPy: rounding z - max to float32 costs up to 2e-6 of
    relative error at the shifts of up to about 50 here, exp32 a few ulps more; a row holding NaN or +inf gives
    NaN where NumPy does, a -inf logit the probability 0.  The fused cost's probabilities are softmax_rows's."""
    rng = np.random.default_rng(3)
    z = (rng.normal(size=(64, 10)) * 8).astype(np.float32)
    z[1, 4], z[2, 0], z[3, 7] = np.nan, np.inf, -np.inf
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    with np.errstate(invalid="ignore"):
        expected = softmax(z.astype(np.float64))
    probs, fused = np.zeros_like(z), np.zeros_like(z)
    K.softmax_rows(z, probs)
    loss = K.softmax_xent(z, y, fused, True)
    for got in (probs, fused):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-30)
    assert probs[3, 7] == 0.0 and np.isnan(loss)
    np.testing.assert_array_equal(fused, probs)
    untouched = np.full_like(z, 7.0)
    K.softmax_xent(z, y, untouched, False)
    assert np.all(untouched == 7.0)
    finite = np.ones(64, bool)
    finite[1:4] = False  # a -inf logit makes 0 * -inf in its row's cost, NaN as in the NumPy reference
    shifted = z[finite].astype(np.float64) - z[finite].max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    assert K.softmax_xent(z[finite], y[finite], fused[finite], False) == pytest.approx(
        -np.sum(y[finite] * log_p) / finite.sum(), rel=1e-6)
    out = np.zeros((finite.sum(), 10), np.float32)
    K.log_softmax_rows(z[finite], out)
    np.testing.assert_allclose(out, log_p, rtol=1e-6, atol=1e-5)


def test_sigmoid_xent_is_stable():
    z = np.array([[-1e4, -2.0, 0.0, 3.0, 1e4]])
    y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    a = np.zeros_like(z)
    loss = K.sigmoid_xent(z, y, a, True)
    sig = 1 / (1 + np.exp(-np.clip(z, -500, 500)))
    np.testing.assert_allclose(a, sig, rtol=1e-12, atol=1e-200)
    expected = np.sum(np.logaddexp(0, z) - y * z)
    assert loss == pytest.approx(expected, rel=1e-12) and np.isfinite(loss)


def test_one_hot_and_range_check():
    out = np.empty((3, 4), np.float32)
    assert K.one_hot(np.array([3, 0, 1]), out)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[3, 0, 1]])
    assert not K.one_hot(np.array([4]), np.empty((1, 4), np.float32))


def test_weighted_cross_entropies_weigh_each_row_and_equal_the_plain_ones_at_weight_one():
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(5, 3)), np.eye(3)[rng.integers(0, 3, 5)]
    w = np.array([0.0, 1.0, 2.5, 3.0, 0.5])
    log_p = np.log(softmax(z))
    expected = -np.sum(w[:, None] * y * log_p) / 5
    probs = np.zeros_like(z)
    assert K.softmax_xent_weighted(z, y, w, probs, True) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(probs, softmax(z), rtol=1e-12)
    ones = np.ones(5)
    assert K.softmax_xent_weighted(z, y, ones, probs, False) == K.softmax_xent(z, y, probs, False)  # bit for bit
    a = np.zeros_like(z)
    bits = (y > 0).astype(float)
    expected = np.sum(w[:, None] * (np.logaddexp(0, z) - bits * z)) / 5
    assert K.sigmoid_xent_weighted(z, bits, w, a, True) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(a, 1 / (1 + np.exp(-z)), rtol=1e-12)
    assert K.sigmoid_xent_weighted(z, bits, ones, a, False) == K.sigmoid_xent(z, bits, a, False)
