import numpy as np
import pytest

from staticnet.kernels import pool as K
from staticnet.kernels.pool import LONGEST_RUN
from staticnet.ops import pool as reference


@pytest.mark.parametrize("window,stride", [(2, 2), (3, 1), (2, 1), (3, 2), (2, 3)])  # tiled, overlapping, gaps
def test_pool_kernels_match_the_numpy_references(window, stride):
    rng = np.random.default_rng(window * 10 + stride)
    x = rng.integers(0, 4, (3, 9, 8, 5)).astype(np.float32)  # few values: many ties within windows
    out_h, out_w = (9 - window) // stride + 1, (8 - window) // stride + 1
    args = (window, window, stride, stride)
    pooled = np.empty((3, out_h, out_w, 5), np.float32)
    K.max_pool(x, pooled, *args)
    np.testing.assert_array_equal(pooled, reference._max_ref(x, *args))
    g = rng.normal(size=pooled.shape).astype(np.float32)
    dx = np.full_like(x, np.nan)
    K.max_pool_grad(x, pooled, g, dx, *args)
    np.testing.assert_allclose(dx, reference._max_grad_ref(x, pooled, g, *args), rtol=1e-6, atol=1e-6)
    averaged = np.empty_like(pooled)
    K.avg_pool(x, averaged, *args)
    np.testing.assert_allclose(averaged, reference._avg_ref(x, *args), rtol=1e-6)
    dx = np.full_like(x, np.nan)
    K.avg_pool_grad(g, dx, *args)
    np.testing.assert_allclose(dx, reference._avg_grad_ref(g, x, *args), rtol=1e-6, atol=1e-6)


def test_compiled_callers_get_a_specialisation_per_window():
    from numba import njit

    @njit
    def pool_both(x, a, b):
        K.max_pool(x, a, 2, 2, 2, 2)
        K.max_pool(x, b, 3, 3, 1, 1)

    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3))
    a, b = np.empty((2, 3, 3, 3)), np.empty((2, 4, 4, 3))
    pool_both(x, a, b)
    np.testing.assert_array_equal(a, reference._max_ref(x, 2, 2, 2, 2))
    np.testing.assert_array_equal(b, reference._max_ref(x, 3, 3, 1, 1))


@pytest.mark.parametrize("window,stride,batch,taps", [
    (2, 2, 9, 7),  # blocks of 4 images: a partial last one
    (3, 1, 4, 7),  # overlapping windows: a position can win several
    (2, 3, 1, 7),  # gaps between windows
    (2, 2, 3, LONGEST_RUN + 3),  # patch rows too long for one vector: added by a loop
])
def test_max_pool_contract_is_the_patches_times_the_pooling_gradient(window, stride, batch, taps):
    rng = np.random.default_rng(window * 10 + stride)
    x = rng.integers(0, 4, (batch, 9, 8, 5)).astype(np.float32)  # few values: ties, where the first tap wins
    x[0, 0, 0, 0] = np.nan  # a window whose maximum no tap equals: no gradient
    patches = rng.normal(size=(batch, 9, 8, taps)).astype(np.float32)
    args = (window, window, stride, stride)
    pooled = reference._max_ref(x, *args)
    g = rng.normal(size=pooled.shape).astype(np.float32)
    dx = reference._max_grad_ref(x, pooled, g, *args).astype(np.float64)
    expected = patches.reshape(-1, taps).astype(np.float64).T @ dx.reshape(-1, 5)
    blocks = K.contract_blocks(batch)
    parts = np.full((blocks, 5 * taps), np.nan, np.float32)
    for block in reversed(range(blocks)):  # the blocks in any order, as threads finish them
        K.max_pool_contract_block(patches, x, pooled, g, parts, *args, taps, block)
    out = np.full((taps, 5), np.nan, np.float32)
    K.sum_blocks(parts, out)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
