"""Matrix products through BLAS: out = alpha op(a) @ op(b) + beta out, op a transpose or not.

All three arrays are row-major (C-contiguous); a transpose is a flag, not a view.
Calling the BLAS gemm directly (through Numba's own helper symbol, so the
compiled code stays cacheable) gives what np.dot inside njit cannot: alpha and
beta, so an SGD step W <- W - lr x.T @ delta is one BLAS call with no temporary,
and a much smaller function to compile (np.dot's several layout paths took
seconds of compile time per call site, measured here).
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _xxgemm(typingctx, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Fortran-order gemm of Numba's BLAS helper; a, b, c are arrays, alpha and beta scalars."""
    dtype = c.dtype
    sig = types.intc(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        ll_char, ll_void = ir.IntType(8), cgutils.voidptr_t
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [ll_char, ll_char, ll_char, intp, intp, intp, ll_void, ll_void, intp,
                                                ll_void, intp, ll_void, ll_void, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        (transa_v, transb_v, m_v, n_v, k_v, alpha_v, a_v, lda_v, b_v, ldb_v, beta_v, c_v, ldc_v) = args
        ll_dtype = context.get_value_type(dtype)

        def slot(value, ty):
            value = context.cast(builder, value, ty, dtype)
            ptr = cgutils.alloca_once(builder, ll_dtype)
            builder.store(value, ptr)
            return builder.bitcast(ptr, ll_void)

        def data(arr_v, arr_ty):
            return builder.bitcast(context.make_array(arr_ty)(context, builder, arr_v).data, ll_void)

        def as_intp(value, ty):
            return context.cast(builder, value, ty, types.intp)

        kind = ir.Constant(ll_char, ord("s" if dtype == types.float32 else "d"))
        call_args = (kind, builder.trunc(transa_v, ll_char), builder.trunc(transb_v, ll_char),
                     as_intp(m_v, m), as_intp(n_v, n), as_intp(k_v, k), slot(alpha_v, alpha), data(a_v, a),
                     as_intp(lda_v, lda), data(b_v, b), as_intp(ldb_v, ldb), slot(beta_v, beta), data(c_v, c),
                     as_intp(ldc_v, ldc))
        return builder.call(fn, call_args)

    return sig, codegen


N, T = ord("n"), ord("t")
SMALL_ROWS = 16  # measured: at 10x784 @ 784x100 the loop kernel took 45 us, BLAS 64 us; at 1 row 6.5 vs 67 us;
#                  at 32 rows they tie (140 vs 131 us), so BLAS takes over above 16 rows.  For the x.T @ delta
#                  weight gradient BLAS stayed faster at every batch size (25 us vs 115 us at 10 rows).


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract", "reassoc", "nsz", "arcp", "afn"})
def _few_rows(a, b, out, alpha, beta):
    """out = alpha a @ b + beta out for a with few rows: four rows of b at a time stay in L1
    while every row of a uses them, and the inner loop over out's row vectorises."""
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
    """out = alpha * op(a) @ op(b) + beta * out for C-contiguous a, b, out.

    Row-major out (m x n) is column-major out.T, so BLAS computes out.T = op(b).T @ op(a).T.
    """
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
    if m <= SMALL_ROWS and not trans_a and not trans_b:
        _few_rows(a, b, out, alpha, beta)
        return
    _xxgemm(T if trans_b else N, T if trans_a else N, n, m, k, alpha, b, b.shape[1], a, a.shape[1], beta, out, n)
