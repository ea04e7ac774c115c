"""Batch normalisation over the rows of a (rows, channels) matrix: the statistics, the normalisation and the
gradient, each in as few passes over the rows as its formula allows (the matrix is the activations seen as
(everything but the last axis, the last axis), so one row is one position of one image).

Sums are kept in float64 whatever the arrays' dtype, one per channel, so that a float32 batch of many rows
loses no more than its own rounding.  NaN and infinities go through the arithmetic as in the formulas: a NaN
anywhere in a channel makes its statistics NaN.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def channel_mean(x, mean):
    """mean[c] = the mean of x[:, c]: one pass over the rows."""
    rows, channels = x.shape
    total = np.zeros(channels)
    for r in range(rows):
        for c in range(channels):
            total[c] += x[r, c]
    for c in range(channels):
        mean[c] = total[c] / rows


@njit(cache=True, nogil=True, error_model="numpy")
def channel_variance(x, mean, variance):
    """variance[c] = the mean of (x[:, c] - mean[c])^2 (biased): one pass, centred on the mean given, which
    loses nothing to cancellation as the sum of squares less the squared sum would."""
    rows, channels = x.shape
    total = np.zeros(channels)
    for r in range(rows):
        for c in range(channels):
            centred = x[r, c] - mean[c]
            total[c] += centred * centred
    for c in range(channels):
        variance[c] = total[c] / rows


@njit(cache=True, nogil=True, error_model="numpy")
def normalize(x, mean, variance, gamma, beta, eps, y):
    """y = (x - mean) / sqrt(variance + eps) * gamma + beta, per channel: one pass."""
    rows, channels = x.shape
    inverse = np.empty(channels)
    for c in range(channels):
        inverse[c] = 1.0 / math.sqrt(variance[c] + eps)
    for r in range(rows):
        for c in range(channels):
            y[r, c] = (x[r, c] - mean[c]) * inverse[c] * gamma[c] + beta[c]


@njit(cache=True, nogil=True, error_model="numpy")
def normalize_grad(x, mean, variance, gamma, g, eps, training, dx, dgamma, dbeta, dmean, dvariance,
                   want_dx, want_dgamma, want_dbeta, want_dmean, want_dvariance):
    """The gradient of y = normalize(x, mean, variance, gamma, beta) given g = dL/dy, in two passes: the sums
    of g and g * x_hat per channel, then dx.

    training: mean and variance are x's own (the batch's), so dx takes their dependence on x, the standard
    batch-norm gradient dx = gamma / sigma * (g - mean(g) - x_hat * mean(g * x_hat)); the statistics given
    are then the batch's, not inputs of their own, and dmean = dvariance = 0.
    Else (evaluation, fixed statistics): dx = g * gamma / sigma, and dmean and dvariance are the gradients
    of the statistics given.  dgamma = sum of g * x_hat and dbeta = sum of g either way.  A `want_` flag
    False leaves that output unwritten (nothing reads it; the caller may pass any array of its rank)."""
    rows, channels = x.shape
    inverse = np.empty(channels)
    for c in range(channels):
        inverse[c] = 1.0 / math.sqrt(variance[c] + eps)
    sum_g = np.zeros(channels)
    sum_g_centred = np.zeros(channels)
    for r in range(rows):
        for c in range(channels):
            sum_g[c] += g[r, c]
            sum_g_centred[c] += g[r, c] * (x[r, c] - mean[c])
    sum_g_normalized = np.empty(channels)
    for c in range(channels):
        sum_g_normalized[c] = sum_g_centred[c] * inverse[c]
        if want_dgamma:
            dgamma[c] = sum_g_normalized[c]
        if want_dbeta:
            dbeta[c] = sum_g[c]
        if want_dmean:
            dmean[c] = 0.0 if training else -gamma[c] * inverse[c] * sum_g[c]
        if want_dvariance:
            dvariance[c] = 0.0 if training else -0.5 * gamma[c] * inverse[c] * inverse[c] * sum_g_normalized[c]
    if not want_dx:
        return
    scale = np.empty(channels)
    for c in range(channels):
        scale[c] = gamma[c] * inverse[c]
    if training:
        mean_g = np.empty(channels)
        mean_g_normalized = np.empty(channels)
        for c in range(channels):
            mean_g[c] = sum_g[c] / rows
            mean_g_normalized[c] = sum_g_normalized[c] / rows
        for r in range(rows):
            for c in range(channels):
                normalized = (x[r, c] - mean[c]) * inverse[c]
                dx[r, c] = scale[c] * (g[r, c] - mean_g[c] - normalized * mean_g_normalized[c])
    else:
        for r in range(rows):
            for c in range(channels):
                dx[r, c] = g[r, c] * scale[c]
