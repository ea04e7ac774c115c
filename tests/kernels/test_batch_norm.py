"""kernels/batch_norm.py against NumPy's mean and variance and the batch-norm gradient written from its
formulas here (float64 central differences of the same formula check it in tests/ops/test_batch_norm.py)."""
import numpy as np
import pytest

from staticnet.kernels import batch_norm as K

EPS = 1e-3


def statistics_of(x):
    return x.mean(0), x.var(0)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_the_statistics_and_the_normalisation_match_numpy(dtype, rtol):
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, (57, 5)).astype(dtype)  # off-centre, so that a sum of squares would cancel
    gamma, beta = rng.uniform(0.5, 2, 5).astype(dtype), rng.normal(size=5).astype(dtype)
    mean, variance = np.full(5, np.nan, dtype), np.full(5, np.nan, dtype)
    K.channel_mean(x, mean)
    K.channel_variance(x, mean, variance)
    expected_mean, expected_variance = statistics_of(x.astype(np.float64))
    np.testing.assert_allclose(mean, expected_mean, rtol=rtol)
    np.testing.assert_allclose(variance, expected_variance, rtol=rtol)
    y = np.full_like(x, np.nan)
    K.normalize(x, mean, variance, gamma, beta, EPS, y)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(variance + EPS) * gamma + beta, rtol=rtol, atol=rtol)


def gradient_by_the_chain_rule(x, gamma, g, training):
    """dx, dgamma, dbeta, dmean, dvariance of sum(g * y), y normalised with x's own statistics (training) or
    with fixed ones, written term by term: the direct path, then through the mean and through the variance."""
    n = x.shape[0]
    mean, variance = statistics_of(x) if training else (np.full(x.shape[1], 0.3), np.full(x.shape[1], 1.7))
    sigma = np.sqrt(variance + EPS)
    x_hat = (x - mean) / sigma
    dx_hat = g * gamma
    dvariance = (dx_hat * (x - mean)).sum(0) * -0.5 * sigma ** -3
    dmean = -(dx_hat / sigma).sum(0)
    direct = dx_hat / sigma
    if not training:
        return direct, (g * x_hat).sum(0), g.sum(0), dmean, dvariance
    dmean_total = dmean + dvariance * -2 * (x - mean).mean(0)
    dx = direct + dvariance * 2 * (x - mean) / n + dmean_total / n
    return dx, (g * x_hat).sum(0), g.sum(0), np.zeros_like(mean), np.zeros_like(mean)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_the_gradient_matches_the_chain_rule(training):
    rng = np.random.default_rng(1)
    x, g = rng.normal(1, 2, (23, 4)), rng.normal(size=(23, 4))
    gamma = rng.uniform(0.5, 2, 4)
    if training:
        mean, variance = statistics_of(x)
    else:
        mean, variance = np.full(4, 0.3), np.full(4, 1.7)
    outputs = [np.full_like(x, np.nan)] + [np.full(4, np.nan) for _ in range(4)]
    K.normalize_grad(x, mean, variance, gamma, g, EPS, training, *outputs, True, True, True, True, True)
    for got, expected in zip(outputs, gradient_by_the_chain_rule(x, gamma, g, training)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_the_gradient_leaves_unwanted_outputs_unwritten():
    rng = np.random.default_rng(2)
    x, g, gamma = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), np.ones(3)
    mean, variance = statistics_of(x)
    outputs = [np.full_like(x, 7.0)] + [np.full(3, 7.0) for _ in range(4)]
    K.normalize_grad(x, mean, variance, gamma, g, EPS, True, *outputs, False, True, False, True, False)
    assert (outputs[0] == 7.0).all() and (outputs[2] == 7.0).all() and (outputs[4] == 7.0).all()
    np.testing.assert_allclose(outputs[1], (g * (x - mean) / np.sqrt(variance + EPS)).sum(0), rtol=1e-12)
    np.testing.assert_array_equal(outputs[3], 0.0)  # training: the statistics are the batch's own


def test_a_nan_or_an_infinity_in_a_channel_makes_its_statistics_nan_and_leaves_the_others():
    x = np.random.default_rng(3).normal(size=(8, 3))
    x[2, 0], x[5, 1] = np.nan, np.inf
    mean, variance, y = np.empty(3), np.empty(3), np.empty_like(x)
    K.channel_mean(x, mean)
    K.channel_variance(x, mean, variance)
    K.normalize(x, mean, variance, np.ones(3), np.zeros(3), EPS, y)
    with np.errstate(invalid="ignore"):
        expected = (x - x.mean(0)) / np.sqrt(x.var(0) + EPS)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    assert np.isnan(y[:, :2]).all() and np.isfinite(y[:, 2]).all()
