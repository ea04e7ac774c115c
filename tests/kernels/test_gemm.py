import numpy as np
import pytest

from staticnet.kernels.gemm import add_partials, gemm, gemm_chunk, split_mode, split_parts
from staticnet.kernels.gemm import (BY_COLUMNS, BY_DEPTH, BY_ROWS, MOST_PARTS, PART_STEP, PART_WORK, ROWS_PER_PART,
                                    SERIAL, SPLIT_WORK)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (10, 784, 30), (3, 5, 7), (64, 17, 1), (1, 784, 100), (1, 9, 4),
                                   (200, 100, 10), (30, 200, 10), (10, 100, 300)])  # each float32 route of product_at
def test_gemm_matches_numpy(dtype, tol, trans_a, trans_b, m, k, n):
    check_against_numpy(lambda *args: gemm(*args), dtype, tol, trans_a, trans_b, m, k, n)


def check_against_numpy(kernel, dtype, tol, trans_a, trans_b, m, k, n):
    rng = np.random.default_rng(m * 100 + k + n)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    out = rng.normal(size=(m, n)).astype(dtype)
    expected = -0.25 * ((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)) + 0.5 * out
    kernel(a, b, out, trans_a, trans_b, -0.25, 0.5)
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(k))


def split_product(a, b, out, trans_a, trans_b, alpha, beta):
    """The chunks of a split product one after another, as the kernel layer's threads run them."""
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    mode, parts = split_mode(m, n, k, trans_a), split_parts(m, n, k)
    if mode == SERIAL:
        gemm(a, b, out, trans_a, trans_b, alpha, beta)
        return mode
    partials = np.empty(parts * m * n if mode == BY_DEPTH else 1, out.dtype)
    for chunk in range(parts):
        gemm_chunk(a, b, out, trans_a, trans_b, alpha, beta, mode, chunk, parts, partials)
    if mode == BY_DEPTH:
        add_partials(partials, out, alpha, beta)
    return mode


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,k,n,mode,mode_trans_a", [
    (SPLIT_WORK // 10_000 + 1, 100, 101, BY_ROWS, BY_ROWS),  # rows of out shared out (an odd count: uneven chunks)
    (7, SPLIT_WORK // 700 + 1, 100, BY_DEPTH, BY_DEPTH),  # too few rows and a long sum: the sum over k is shared out
    (7, 100, SPLIT_WORK // 700 + 1, BY_COLUMNS, BY_DEPTH),  # few rows, many (an odd count of) columns: a b shares them
    (128, 100, 2880, BY_COLUMNS, BY_ROWS),  # rows enough, but b wider than a is tall: a b shares its columns
    (3, 5, 7, SERIAL, SERIAL),  # below the threshold: one call
])
def test_a_split_product_matches_numpy(dtype, tol, trans_a, trans_b, m, k, n, mode, mode_trans_a):
    assert 7 < ROWS_PER_PART * PART_STEP <= min(128, SPLIT_WORK // 10_000 + 1)
    expected_mode = mode_trans_a if trans_a else mode
    modes = []
    check_against_numpy(lambda *args: modes.append(split_product(*args)), dtype, tol, trans_a, trans_b, m, k, n)
    assert modes == [expected_mode]


def test_a_product_is_cut_into_a_number_of_parts_set_by_its_shape_alone():
    """Never by the threads: the same count wherever the product runs, a multiple of PART_STEP (which 1, 2 and
    3 threads share evenly), more for larger products up to MOST_PARTS."""
    assert PART_STEP % 6 == 0 and MOST_PARTS % PART_STEP == 0
    assert split_parts(3, 5, 7) == split_parts(SPLIT_WORK - 1, 1, 1) == 1
    assert split_parts(SPLIT_WORK, 1, 1) == split_parts(128, 100, 784) == PART_STEP
    assert split_parts(PART_STEP * PART_WORK * 2, 1, 1) == 2 * PART_STEP
    assert split_parts(10**6, 10**3, 10**3) == MOST_PARTS


def test_a_chunk_rejects_non_contiguous_operands():
    a = np.ones((3000, 2000), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        gemm_chunk(a.T, np.ones((3000, 2), np.float32), np.empty((2000, 2), np.float32), False, False, 1.0, 0.0,
                   BY_ROWS, 0, 2, np.empty(1, np.float32))


@pytest.mark.parametrize("shape", [(1, 4), (4, 1), (1, 1), (3, 4)])
def test_beta_zero_overwrites_nan_in_out_whatever_the_shape(shape):
    """As BLAS's gemm does: out is not read when beta is 0, even where a matrix-vector product does the work."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(shape[0], 6)).astype(np.float32), rng.normal(size=(6, shape[1])).astype(np.float32)
    out = np.full(shape, np.nan, np.float32)
    gemm(a, b, out, False, False, 1.0, 0.0)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5)


@pytest.mark.parametrize("m,k,n", [(784, 10, 100), (100, 300, 10), (784, 64, 100), (50, 10, 10)])
def test_a_weight_gradient_over_out_is_the_product_whichever_kernel_computes_it(m, k, n):
    """a.T @ b with beta 0 (a short sum, few columns, neither): out is written, NaN there never read."""
    rng = np.random.default_rng(m + k + n)
    a, b = rng.normal(size=(k, m)).astype(np.float32), rng.normal(size=(k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)
    gemm(a, b, out, True, False, 0.5, 0.0)
    np.testing.assert_allclose(out, 0.5 * (a.T.astype(np.float64) @ b), rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_gemm_default_overwrites_and_empty_batch_is_a_no_op():
    a, b = np.ones((0, 3), np.float32), np.ones((3, 2), np.float32)
    gemm(a, b, np.empty((0, 2), np.float32), False, False, 1.0, 0.0)
    out = np.full((2, 2), np.nan, np.float32)
    gemm(np.ones((2, 3), np.float32), b, out, False, False, 1.0, 0.0)
    np.testing.assert_array_equal(out, np.full((2, 2), 3.0))


def test_a_sum_over_no_rows_is_zero_even_where_out_held_nan():
    out = np.full((3, 2), np.nan, np.float32)
    gemm(np.ones((0, 3), np.float32), np.ones((0, 2), np.float32), out, True, False, 1.0, 0.0)
    np.testing.assert_array_equal(out, np.zeros((3, 2)))


def test_gemm_rejects_non_contiguous_operands():
    a = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        gemm(a.T, np.ones((4, 2), np.float32), np.empty((3, 2), np.float32), False, False, 1.0, 0.0)
