import ctypes

import numpy as np
import pytest
from numba import types

from staticnet.kernels import blas


def call(gemm, dtype, a, b, c, trans_a, trans_b, alpha, beta):
    pointer = ctypes.POINTER(ctypes.c_float if dtype == np.float32 else ctypes.c_double)
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    function = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                                ctypes.c_int64, scalar, pointer, ctypes.c_int64, pointer, ctypes.c_int64, scalar,
                                pointer, ctypes.c_int64)(gemm)
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    flag = {False: blas.NO_TRANS, True: blas.TRANS}
    function(blas.ROW_MAJOR, flag[trans_a], flag[trans_b], m, n, k, alpha, a.ctypes.data_as(pointer), a.shape[1],
             b.ctypes.data_as(pointer), b.shape[1], beta, c.ctypes.data_as(pointer), n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_the_fallback_shim_is_a_row_major_gemm(dtype, trans_a, trans_b):
    """Used when NumPy carries no OpenBLAS of its own; checked here directly."""
    rng = np.random.default_rng(3)
    m, k, n = 5, 7, 3
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.normal(size=(m, n)).astype(dtype)
    expected = 2.0 * (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b) - 0.5 * c
    shim = blas._shim(types.float32 if dtype == np.float32 else types.float64)
    call(shim.address, dtype, a, b, c, trans_a, trans_b, 2.0, -0.5)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans", [False, True])
def test_the_fallback_gemv_shim_is_a_row_major_gemv(dtype, trans):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 7)).astype(dtype)
    x = rng.normal(size=5 if trans else 7).astype(dtype)
    y = rng.normal(size=7 if trans else 5).astype(dtype)
    expected = 2.0 * (a.T if trans else a).astype(np.float64) @ x - 0.5 * y
    shim = blas._gemv_shim(types.float32 if dtype == np.float32 else types.float64)
    pointer = ctypes.POINTER(ctypes.c_float if dtype == np.float32 else ctypes.c_double)
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    function = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, scalar, pointer,
                                ctypes.c_int64, pointer, ctypes.c_int64, scalar, pointer, ctypes.c_int64)(shim.address)
    function(blas.ROW_MAJOR, blas.TRANS if trans else blas.NO_TRANS, 5, 7, 2.0, a.ctypes.data_as(pointer), 7,
             x.ctypes.data_as(pointer), 1, -0.5, y.ctypes.data_as(pointer), 1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_numpy_openblas_is_found_in_the_pypi_wheels():
    assert blas.SOURCE == "NumPy's OpenBLAS"


def test_a_product_leaves_blas_on_one_thread_and_the_caller_gives_the_count_back():
    """OpenBLAS's "local" thread count is one value for the whole process, not one per thread: a product that
    restored it on its way out let another thread's chunk, still to call BLAS, run on OpenBLAS's own threads
    (with other bits, now and then, under load).  So products set it to one and leave it so; the code that
    called the compiled loop (staticnet.threads.blas_restored) gives the count back."""
    import threading

    from staticnet import threads
    from staticnet.kernels.gemm import gemm
    previous = blas.set_threads_local(3)
    try:
        seen = []
        worker = threading.Thread(target=lambda: seen.append(blas.set_threads_local(3)))
        worker.start()
        worker.join()
        assert seen == [3]  # set on this thread, seen on another: process-wide
        a, out = np.ones((4, 8), np.float32), np.empty((4, 4), np.float32)
        with threads.blas_restored():
            assert blas.set_threads_local(3) == 1  # the block runs BLAS on one thread
            gemm(a, a.T.copy(), out, False, False, 1.0, 0.0)
            assert blas.set_threads_local(1) == 1  # a product leaves it on one thread, not as it found it
        assert blas.set_threads_local(3) == 3  # given back after the block
    finally:
        blas.set_threads_local(previous)


def test_blas_is_given_back_only_when_the_last_block_of_compiled_code_ends_in_any_thread():
    """Two Python threads running compiled code: the first to finish must leave BLAS on one thread for the
    other's products (the count is process-wide), and the last gives the count back."""
    import threading

    from staticnet import threads
    previous = blas.set_threads_local(3)
    try:
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
        seen = {}

        def second():
            with threads.blas_restored():
                second_in.set()
                first_out.wait(10)
                seen["after the first left"] = blas.set_threads_local(1)
        worker = threading.Thread(target=second)
        with threads.blas_restored():
            first_in.set()
            worker.start()
            second_in.wait(10)
        first_out.set()
        worker.join(10)
        assert seen == {"after the first left": 1}
        assert blas.set_threads_local(3) == 3  # given back once both had left
    finally:
        blas.set_threads_local(previous)
