"""Matrix products through BLAS: out = alpha op(a) @ op(b) + beta out, op a transpose or not.

All three arrays are row-major (C-contiguous); a transpose is a flag, not a view.
Calling cblas gemm directly (blas.py says which library) gives what np.dot inside njit
cannot: alpha and beta, so an SGD step W <- W - lr x.T @ delta is one BLAS call with no
temporary, and a much smaller function to compile (np.dot's several layout paths cost
seconds of compile time per call site).
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .blas import blas_threads_local, cblas_gemm_at, cblas_gemv_at
from .choice import CHOSEN, sgemm

SPLIT_WORK = 2_000_000  # split_mode runs products with fewer multiply-adds (m n k) on the calling thread alone.
#                         Products this large already gain from being split on 2 cores: lowering the threshold
#                         from 16M to 2M made epochs of the book's CNN at batch 10-32 and of W1 and W2 at batch
#                         128 up to 30% faster (epoch times as bench/epochs.py measures them).
PART_STEP = 6  # a split product is cut into a multiple of this many chunks: 1, 2, 3 or 6 threads share them evenly
PART_WORK = 16_000_000  # one more PART_STEP chunks per PART_STEP x this many multiply-adds, up to MOST_PARTS, so
MOST_PARTS = 24  #        that a larger product feeds more threads while each chunk stays long beside a BLAS call's
#                         cost (and its packing of the operand every chunk reads whole): docs/architecture.md,
#                         "Matrix products and threads", has the epoch times that set it
ROWS_PER_PART = 16  # with fewer output rows per chunk than this, the columns or the sum over k are split


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
                out[i, j] = beta * out[i, j] if beta != 0.0 else 0.0  # as BLAS: beta 0 means out is not read
        return
    blas_threads_local(1)  # threads share products out by chunks (split_mode), not inside BLAS (ONE_BLAS_THREAD)
    if m == 1 or n == 1:
        _matrix_vector(a, b, out, trans_a, trans_b, alpha, beta)
    else:
        product_at(out, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], beta,
                   out.ctypes.data, n)


def is_float32(array):
    """Whether `array` holds float32 (in jitted code: a constant, so the other branch is not compiled in)."""
    return array.dtype == np.float32


@overload(is_float32)
def _is_float32(array):
    answer = array.dtype == types.float32
    return lambda array: answer


@njit(cache=True, nogil=True, error_model="numpy")
def product_at(like, trans_a, trans_b, m, n, k, alpha, a_at, lda, b_at, ldb, beta, c_at, ldc):
    """out = alpha op(a) @ op(b) + beta out on operands given by address (row strides lda, ldb, ldc) of
    `like`'s dtype, k > 0, on the calling thread (blas_threads_local): float32 ones on the routine choice.py's
    table gives for the shape (BLAS or a microkernel), the rest on BLAS."""
    if is_float32(like):
        sgemm(CHOSEN, 1 if trans_a else 0, 1 if trans_b else 0, m, n, k, np.float32(alpha), a_at, lda, b_at, ldb,
              np.float32(beta), c_at, ldc)
        return
    cblas_gemm_at(like, trans_a, trans_b, m, n, k, alpha, a_at, lda, b_at, ldb, beta, c_at, ldc)


@njit(cache=True, nogil=True, error_model="numpy")
def _matrix_vector(a, b, out, trans_a, trans_b, alpha, beta):
    """A product with one row or one column of out as BLAS's matrix-vector product: at one row OpenBLAS's
    gemm is several times slower than its gemv (about 4x for a batch of 1 through 784 x 100 weights).  A row
    of out is op(b).T times a's row; a column, op(a) times op(b)'s column; both vectors have unit stride.
    With beta 0, out is zeroed first: BLAS may scale it by beta, and NaN times 0 is NaN."""
    if beta == 0.0:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = 0.0
    if out.shape[0] == 1:
        cblas_gemv_at(out, not trans_b, b.shape[0], b.shape[1], alpha, b.ctypes.data, b.shape[1], a.ctypes.data, 1,
                      beta, out.ctypes.data, 1)
    else:
        cblas_gemv_at(out, trans_a, a.shape[0], a.shape[1], alpha, a.ctypes.data, a.shape[1], b.ctypes.data, 1,
                      beta, out.ctypes.data, 1)


# ONE_BLAS_THREAD: products set BLAS's thread count to one and leave it so; staticnet.threads.blas_restored gives
# the count back once the compiled code has returned.  OpenBLAS's "local" count is one value for the whole process
# in the builds NumPy ships, not one per thread: a chunk restoring it while another thread's chunk was still to
# call BLAS let that product run on OpenBLAS's own threads, now and then, with other bits.
SERIAL, BY_COLUMNS, BY_ROWS, BY_DEPTH = 0, 1, 2, 3  # how split_mode shares a product out


@njit(cache=True, nogil=True, error_model="numpy")
def split_parts(m, n, k):
    """How many chunks a product with out m x n and depth k is cut into (1: it runs whole): a number that
    depends on the shapes alone, never on the thread setting or the core count, so that a product gives the
    same bits on any number of threads, as on one (the chunks then run in turn), and in any process."""
    work = m * n * k
    if work < SPLIT_WORK:
        return 1
    return PART_STEP * min(MOST_PARTS // PART_STEP, max(1, work // (PART_STEP * PART_WORK)))


@njit(cache=True, nogil=True, error_model="numpy")
def split_mode(m, n, k, trans_a):
    """How a product with out m x n and depth k is cut into split_parts chunks, each one BLAS call on one
    thread.  Why not OpenBLAS's own threads: on this project's products they gained nothing, and the
    same products split here ran about twice as fast on 2 cores (the book's CNN's filter gradient and
    dense layer at batch 128).  Rows of out are split when each chunk gets ROWS_PER_PART of them; but a
    b wider than a is tall, with a sum no longer than a row (an input gradient through 100 x 2880
    weights), has its columns split, at any number of rows, so that each chunk packs only its part of
    b (at batch 10 about 1.7x faster than split by rows; at batch 128 on one thread, 6 chunks of
    columns took about as long as the whole product, 6 of rows about 1.4x as long).  With few rows and a longer
    sum (a^T b always: a filter gradient; a b through tall weights) the sum over k is split, the parts
    added after.  The parts of a weight matrix then follow its rows the same way in a forward product
    (k), its input gradient (columns) and its update (rows).  Like the number of chunks, the cut
    depends on the shapes alone."""
    parts = split_parts(m, n, k)
    if parts == 1:
        return SERIAL
    few_rows = m < ROWS_PER_PART * parts
    if not trans_a and n >= k and (few_rows or n > m):
        return BY_COLUMNS
    return BY_DEPTH if few_rows else BY_ROWS


@njit(cache=True, nogil=True, error_model="numpy")
def gemm_chunk(a, b, out, trans_a, trans_b, alpha, beta, mode, chunk, chunks, partials):
    """The chunk-th of `chunks` shares of out = alpha op(a) @ op(b) + beta out cut by `mode`; a BY_DEPTH
    chunk writes its product over its part of k to partials (m x n values per chunk, one chunk after
    another; add_partials sums them).  A share is
    an offset into each array, read with the array's own row stride.  SERIAL: the whole product, one chunk."""
    if mode == SERIAL:
        gemm(a, b, out, trans_a, trans_b, alpha, beta)
        return
    if not (a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("gemm: operands must be C-contiguous")
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    lda, ldb, size = a.shape[1], b.shape[1], out.itemsize
    a_at, b_at, out_at = a.ctypes.data, b.ctypes.data, out.ctypes.data
    blas_threads_local(1)  # the chunks are the threads' work: BLAS itself stays on one (ONE_BLAS_THREAD)
    if mode == BY_COLUMNS:  # op(b)'s columns lo:hi (rows of b when transposed), out's columns lo:hi
        lo, hi = n * chunk // chunks, n * (chunk + 1) // chunks
        if hi > lo:
            product_at(out, trans_a, trans_b, m, hi - lo, k, alpha, a_at, lda,
                       b_at + (lo * ldb if trans_b else lo) * size, ldb, beta, out_at + lo * size, n)
    elif mode == BY_ROWS:  # op(a)'s rows lo:hi (columns of a when transposed), out's rows lo:hi
        lo, hi = m * chunk // chunks, m * (chunk + 1) // chunks
        if hi > lo:
            product_at(out, trans_a, trans_b, hi - lo, n, k, alpha, a_at + (lo if trans_a else lo * lda) * size,
                       lda, b_at, ldb, beta, out_at + lo * n * size, n)
    else:  # op(a)'s columns and op(b)'s rows lo:hi, into this chunk's partial product
        lo, hi = k * chunk // chunks, k * (chunk + 1) // chunks
        part_at = partials.ctypes.data + chunk * m * n * size
        if hi > lo:
            product_at(out, trans_a, trans_b, m, n, hi - lo, 1.0, a_at + (lo * lda if trans_a else lo) * size, lda,
                       b_at + (lo if trans_b else lo * ldb) * size, ldb, 0.0, part_at, n)
        else:  # no terms: a zero partial product
            for e in range(chunk * m * n, (chunk + 1) * m * n):
                partials[e] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def add_partials(partials, out, alpha, beta):
    """out = alpha (the sum of the BY_DEPTH chunks' products, in chunk order) + beta out; partials holds the
    chunks' m x n products one after another."""
    m, n = out.shape
    chunks = partials.shape[0] // (m * n)
    for i in range(m):
        for j in range(n):
            total = partials[i * n + j]
            for chunk in range(1, chunks):
                total += partials[(chunk * m + i) * n + j]
            out[i, j] = alpha * total + (beta * out[i, j] if beta != 0.0 else 0.0)
