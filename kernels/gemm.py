"""Matrix products through BLAS: out = alpha op(a) @ op(b) + beta out, op a transpose or not.

All three arrays are row-major (C-contiguous); a transpose is a flag, not a view.
Calling cblas gemm directly (blas.py says which library) gives what np.dot inside njit
cannot: alpha and beta, so an SGD step W <- W - lr x.T @ delta is one BLAS call with no
temporary, and a much smaller function to compile (np.dot's several layout paths took
seconds of compile time per call site, measured here).
"""
from numba import njit

from .blas import blas_threads_local, cblas_gemm

SINGLE_ROW_LOOP = 1  # measured (NumPy's OpenBLAS, 1 and 2 threads): a @ b with b 784 x 100 took 9-13 us in the
#                      loop kernel and 24 us in BLAS at 1 row, tied at 2 rows (25 vs 25 us), and BLAS won from
#                      4 rows on (10 rows: 84-117 vs 40-48 us); with b 2880 x 100 the same: 48 vs 94 us at 1 row,
#                      tie at 2, BLAS ahead from 4.  So only a single row goes through the loop.

THREADED_WORK = 16_000_000  # products with fewer multiply-adds (m n k) run on the calling thread alone:
#                             OpenBLAS's own threshold (262,144) let it wake its threads for 10 x 784 x 100, and
#                             inside the training loop that cost more than it gained (one MNIST epoch, 2 cores:
#                             W2 Adam at batch 10 took 4.5 s with BLAS threads, 1.0 s without; batch 128
#                             (10M) 0.78 vs 0.43 s), while batch 1024 (80M) still gained from them.


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract", "reassoc", "nsz", "arcp", "afn"})
def _few_rows(a, b, out, alpha, beta):
    """out = alpha a @ b + beta out for a with one row (or a few): four rows of b at a time stay
    in L1 while every row of a uses them, and the inner loop over out's row vectorises."""
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            out[i, j] = beta * out[i, j] if beta != 0.0 else 0.0
    k4 = k - k % 4
    for kk in range(0, k4, 4):
        for i in range(m):
            a0, a1, a2, a3 = alpha * a[i, kk], alpha * a[i, kk + 1], alpha * a[i, kk + 2], alpha * a[i, kk + 3]
            for j in range(n):
                out[i, j] += a0 * b[kk, j] + a1 * b[kk + 1, j] + a2 * b[kk + 2, j] + a3 * b[kk + 3, j]
    for kk in range(k4, k):
        for i in range(m):
            a0 = alpha * a[i, kk]
            for j in range(n):
                out[i, j] += a0 * b[kk, j]


@njit(cache=True, nogil=True, error_model="numpy")
def gemm(a, b, out, trans_a, trans_b, alpha=1.0, beta=0.0):
    """out = alpha * op(a) @ op(b) + beta * out for C-contiguous a, b, out."""
    if not (a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("gemm: operands must be C-contiguous")
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                out[i, j] *= beta
        return
    if m <= SINGLE_ROW_LOOP and not trans_a and not trans_b:
        _few_rows(a, b, out, alpha, beta)
        return
    if m * n * k < THREADED_WORK:
        previous = blas_threads_local(1)
        cblas_gemm(trans_a, trans_b, m, n, k, alpha, a, a.shape[1], b, b.shape[1], beta, out, n)
        blas_threads_local(previous)
    else:
        cblas_gemm(trans_a, trans_b, m, n, k, alpha, a, a.shape[1], b, b.shape[1], beta, out, n)
