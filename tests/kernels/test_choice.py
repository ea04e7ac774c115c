import numpy as np
import pytest
from numba import njit

from staticnet.kernels import choice
from staticnet.kernels.choice import (ALL_BLAS, ALL_MICRO, AXPY, BLAS, BY_RULE, DOT, WIDE_AXPY, chosen, fits, install,
                                      run_choice)
from staticnet.kernels.gemm import product_at


@pytest.fixture(autouse=True)
def empty_table():
    """Each test starts and ends with an empty table (the process's other products then follow the rule)."""
    install({}, BY_RULE)
    yield
    install({}, BY_RULE)


@njit
def _through(choice_code, a, b, out, trans_a, trans_b, alpha, beta):
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    run_choice(choice_code, out, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, a.shape[1], b.ctypes.data,
               b.shape[1], beta, out.ctypes.data, n)


@njit
def _product_at(a, b, out, trans_a, trans_b, alpha, beta):
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    product_at(out, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], beta,
               out.ctypes.data, n)


def _operands(m, n, k, trans_a, trans_b, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32)
    out = rng.normal(size=(m, n)).astype(np.float32)
    return a, b, out


SHAPES = [(10, 100, 784), (5, 9, 3), (37, 40, 129), (100, 10, 10), (128, 10, 300)]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_every_candidate_that_fits_computes_the_product_as_numpy_in_float64(m, n, k, trans_a, trans_b, beta):
    a, b, out = _operands(m, n, k, trans_a, trans_b)
    expected = -0.5 * ((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)) + beta * out
    for code in (BLAS, AXPY, WIDE_AXPY, DOT):  # the wide form runs as the narrow one where it is not compiled
        if fits(code, trans_a, trans_b, n):
            result = out.copy()
            _through(code, a, b, result, trans_a, trans_b, -0.5, beta)
            np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5 * np.sqrt(k), err_msg=choice.NAMES[code])


def test_which_candidates_fit():
    assert fits(BLAS, True, True, 1)
    assert fits(AXPY, True, False, choice.LANES) and not fits(AXPY, False, False, choice.LANES - 1)
    assert fits(WIDE_AXPY, True, False, choice.WIDE_LANES) and not fits(WIDE_AXPY, False, False, choice.WIDE_LANES - 1)
    assert not fits(AXPY, False, True, 100)
    assert fits(DOT, False, True, 3) and not fits(DOT, True, True, 100) and not fits(DOT, False, False, 100)


def _same_bits_as(code, shape, trans_a, trans_b, beta):
    """Whether product_at's result has the bits of candidate `code` run directly."""
    a, b, out = _operands(*shape, trans_a, trans_b, seed=1)
    direct, dispatched = out.copy(), out.copy()
    _through(code, a, b, direct, trans_a, trans_b, 1.0, beta)
    _product_at(a, b, dispatched, trans_a, trans_b, 1.0, beta)
    return np.array_equal(direct, dispatched)


@pytest.mark.parametrize("code", [BLAS, AXPY])
def test_product_at_runs_the_routine_the_table_holds_for_the_shape(code):
    m, n, k = 37, 40, 129
    install({(m, n, k, False, False, True): code}, BY_RULE)
    assert chosen(False, False, m, n, k, True) == code
    assert _same_bits_as(code, (m, n, k), False, False, 0.0)
    assert chosen(False, False, m, n, k, False) == choice.rule_of_thumb(False, False, m, n, k, False)  # an update


def test_a_shape_missing_from_the_table_follows_the_policy():
    install({(1, 2, 3, False, False, True): AXPY}, ALL_BLAS)
    assert chosen(False, False, 37, 40, 129, True) == BLAS
    assert _same_bits_as(BLAS, (37, 40, 129), False, False, 0.0)
    install({}, ALL_MICRO)
    assert chosen(False, False, 37, 40, 129, True) == AXPY
    assert chosen(False, True, 37, 40, 129, True) == DOT
    assert chosen(False, False, 37, 4, 129, True) == BLAS  # no microkernel takes 4 columns
    assert _same_bits_as(DOT, (37, 40, 129), False, True, 1.0)


def test_entries_that_share_a_first_slot_are_all_found():
    shapes = [(m, n, k, ta, tb, bz) for m in (1, 2, 3) for n in (8, 9) for k in (4, 5)
              for ta in (False, True) for tb in (False, True) for bz in (False, True)]
    entries = {shape: i % 3 for i, shape in enumerate(shapes)}
    install(entries, ALL_BLAS)
    assert all(chosen(ta, tb, m, n, k, bz) == code for (m, n, k, ta, tb, bz), code in entries.items())


def test_a_table_too_full_to_probe_is_refused():
    with pytest.raises(ValueError, match="at most"):
        install({(m, 8, 8, False, False, True): BLAS for m in range(1, choice.SLOTS)}, BY_RULE)
