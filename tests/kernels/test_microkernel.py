import numpy as np
import pytest
from numba import njit

from staticnet.kernels.microkernel import (AXPY_ROWS, DEPTH_BLOCKS, FULL, HAS_WIDE, LANES, WIDE_LANES, axpy_gemm,
                                           axpy_tile, dot_gemm, host_has_avx512)

SENTINEL = 12345.0
WIDTHS = [LANES] + ([WIDE_LANES] if HAS_WIDE else [])  # the axpy form at every vector width this CPU runs


@pytest.fixture(params=WIDTHS, ids=lambda lanes: f"{lanes}-lanes")
def lanes(request):
    return request.param


def _axpy(lanes, a, b, c, trans_a, m, n, k, ldc, alpha, beta):
    lda = a.shape[1]
    axpy_gemm(lanes, m, n, k, a.ctypes.data, 1 if trans_a else lda, lda if trans_a else 1, b.ctypes.data, b.shape[1],
              c.ctypes.data, ldc, alpha, beta)


@njit
def _dot(a, b, c, m, n, k, ldc, alpha, beta):
    dot_gemm(m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], c.ctypes.data, ldc, alpha, beta)


def _operands(rng, m, n, k, trans_a, trans_b, extra_columns):
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32)
    # out is the left n columns of a wider array: the columns beyond must never be written
    wide = np.full((m, n + extra_columns), SENTINEL, np.float32)
    wide[:, :n] = rng.normal(size=(m, n))
    return a, b, wide


def _expected(a, b, start, trans_a, trans_b, alpha, beta):
    product = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    return alpha * product + (beta * start.astype(np.float64) if beta != 0.0 else 0.0)


def _check(run, a, b, wide, n, trans_a, trans_b, alpha, beta):
    k = a.shape[0] if trans_a else a.shape[1]
    start = wide[:, :n].copy()
    if beta == 0.0:
        wide[:, :n] = np.nan  # not read when beta is 0
    expected = _expected(a, b, start, trans_a, trans_b, alpha, beta)
    run(wide)
    np.testing.assert_allclose(wide[:, :n], expected, rtol=2e-5, atol=2e-5 * np.sqrt(k))
    assert (wide[:, n:] == SENTINEL).all()


SHAPES = [(1, 1, 1), (1, 5, 3), (3, 7, 2), (2, 8, 9), (5, 9, 4), (6, 15, 33), (7, 16, 8), (13, 17, 5), (10, 100, 784),
          (4, 31, 1), (12, 32, 3), (11, 47, 300), (31, 20, 25), (100, 10, 10),
          (AXPY_ROWS + 1, 32, DEPTH_BLOCKS[0] + 1), (AXPY_ROWS + 1, 48, DEPTH_BLOCKS[1] + 1),
          (AXPY_ROWS + 1, 65, DEPTH_BLOCKS[2] + 1)]  # sums past each length of depth_block


@pytest.mark.parametrize("m,n,k", SHAPES + [(1, 8, 3), (3, 9, 2), (2, 33, 7), (5, 63, 40), (6, 64, 3), (3, 65, 9)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-0.25, 1.0), (0.5, -1.5)])
def test_axpy_gemm_matches_numpy(lanes, m, n, k, trans_a, alpha, beta):
    """Every tile kind, at every width: full, the right edge overlapping the tile before, one tile of two
    overlapping vectors (lanes <= n < 2 lanes; the form needs `lanes` columns); row blocks of every height;
    sums longer than a depth block."""
    if n < lanes:
        return
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a, b, wide = _operands(rng, m, n, k, trans_a, False, extra_columns=5)
    _check(lambda c: _axpy(lanes, a, b, c, trans_a, m, n, k, c.shape[1], alpha, beta), a, b, wide, n, trans_a, False,
           alpha, beta)


@pytest.mark.parametrize("m,n,k", SHAPES + [(3, 4, 16), (4, 5, 7), (2, 9, 8), (9, 13, 100)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-0.25, 1.0), (0.5, -1.5)])
def test_dot_gemm_matches_numpy(m, n, k, alpha, beta):
    """Tiles of every size up to 3 x 4; sums of k < 8 (masked), k a multiple of 8, and the rest (the last
    8 terms read again, the ones already summed zeroed)."""
    rng = np.random.default_rng(m * 1000 + n * 10 + k + 1)
    a, b, wide = _operands(rng, m, n, k, False, True, extra_columns=3)
    _check(lambda c: _dot(a, b, c, m, n, k, c.shape[1], alpha, beta), a, b, wide, n, False, True, alpha, beta)


@pytest.mark.parametrize("form", ["axpy", "axpy_t", "wide_axpy", "dot"])
@pytest.mark.parametrize("n,k", [(100, 20), (10, 13), (8, 3), (17, 5)])
def test_nan_and_infinities_propagate_as_in_numpy(form, n, k):
    """A NaN or an infinity reaches exactly the outputs NumPy's product gives them to, with the edges
    that are computed twice and the sum's tail read again: an infinity summed once must not meet a zero
    twice (inf * 0 is NaN)."""
    lanes = WIDE_LANES if form == "wide_axpy" else LANES
    if lanes not in WIDTHS or n < lanes:
        return
    rng = np.random.default_rng(7)
    m = 9
    trans_a, trans_b = form == "axpy_t", form == "dot"
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32)
    op_a = a.T if trans_a else a
    op_a[1, 0], op_a[4, k - 1], op_a[6, k // 2] = np.nan, np.inf, -np.inf
    op_b = b.T if trans_b else b
    op_b[0, n - 1] = np.inf
    out = np.full((m, n), np.nan, np.float32)
    with np.errstate(invalid="ignore"):
        expected = (op_a.astype(np.float64) @ op_b.astype(np.float64))
    if form == "dot":
        _dot(a, b, out, m, n, k, n, 1.0, 0.0)
    else:
        _axpy(lanes, a, b, out, trans_a, m, n, k, n, 1.0, 0.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=2e-5, atol=2e-5 * np.sqrt(k))


def test_a_column_computed_twice_is_stored_with_the_same_bits(lanes):
    """The right edge's tile recomputes columns of the tile before; the values must agree to the bit with
    a product where those columns are computed once (n a multiple of the tile's width), else an edge would
    show."""
    rng = np.random.default_rng(11)
    m, k = 7, 300
    a = rng.normal(size=(m, k)).astype(np.float32)
    b = rng.normal(size=(k, 100)).astype(np.float32)
    whole, first = np.empty((m, 100), np.float32), np.empty((m, 96), np.float32)
    _axpy(lanes, a, b, whole, False, m, 100, k, 100, 1.0, 0.0)
    _axpy(lanes, a, np.ascontiguousarray(b[:, :96]), first, False, m, 96, k, 96, 1.0, 0.0)
    np.testing.assert_array_equal(whole[:, :96], first)


@pytest.mark.skipif(not HAS_WIDE, reason="this CPU has no AVX-512: the wide form is not compiled here")
@pytest.mark.parametrize("m,n,k,trans_a,beta", [(10, 100, 784, False, 0.0), (784, 100, 10, True, 1.0),
                                                (31, 20, 600, True, 0.5), (7, 47, 3, False, 0.0)])
def test_both_widths_give_the_same_bits(m, n, k, trans_a, beta):
    """Each value of out is one lane summing its terms in the same order at either width, so a product that
    ran on the wide form on one machine repeats bit for bit on the narrow one on another."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(k, n)).astype(np.float32)
    start = rng.normal(size=(m, n)).astype(np.float32)
    narrow, wide = start.copy(), start.copy()
    _axpy(LANES, a, b, narrow, trans_a, m, n, k, n, 0.75, beta)
    _axpy(WIDE_LANES, a, b, wide, trans_a, m, n, k, n, 0.75, beta)
    np.testing.assert_array_equal(narrow, wide)


@njit
def _one_wide_tile(a, b, c):
    """One full 6 x 32 tile of c = a @ b on 16-lane vectors (a 6 x k, b k x 32, c 6 x 32, row-major)."""
    axpy_tile(WIDE_LANES, 6, FULL, a.shape[1], a.ctypes.data, a.shape[1], 1, b.ctypes.data, 32, c.ctypes.data, 32,
              WIDE_LANES, 0, 0, np.float32(1.0), np.float32(0.0))


def test_the_wide_form_is_compiled_exactly_where_llvm_sees_avx512_and_uses_its_registers():
    """Where LLVM sees AVX-512F the wide tile's machine code works on 512-bit registers (LLVM could split
    16-lane vectors in two on a CPU that prefers 256-bit ones); elsewhere the wide form is not compiled."""
    from staticnet.kernels import microkernel
    assert HAS_WIDE == host_has_avx512()
    if not HAS_WIDE:
        assert not hasattr(microkernel, "_wide_axpy_entry")
        return
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(6, 40)).astype(np.float32), rng.normal(size=(40, 32)).astype(np.float32)
    c = np.empty((6, 32), np.float32)
    _one_wide_tile(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-4)
    assert "zmm" in _one_wide_tile.inspect_asm(_one_wide_tile.signatures[0])
