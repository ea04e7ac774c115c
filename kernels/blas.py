"""Which BLAS the kernels call: NumPy's own OpenBLAS, reached by a symbol name that the
compiled (and cached) code links against in every process.

Why not Numba's BLAS helper: it calls SciPy's OpenBLAS, and at this project's shapes the
OpenBLAS bundled with NumPy is about twice as fast (both on one thread, 10 to 128 rows through
784 x 100 weights; they are equal from about 1024 rows).

At import this module registers `staticnet_cblas_?gemm64` and `staticnet_cblas_?gemv64` (row-major
cblas gemm and gemv with 64-bit sizes, float32 and float64) with llvmlite: NumPy's `scipy_cblas_*64_`
when NumPy carries them, else small compiled shims over Numba's helper, so kernels work with any
NumPy build.
"""
from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import carray, cfunc, types
from numba.core import cgutils
from numba.extending import intrinsic

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
SYMBOLS = {"float32": "staticnet_cblas_sgemm64", "float64": "staticnet_cblas_dgemm64"}
GEMV_SYMBOLS = {"float32": "staticnet_cblas_sgemv64", "float64": "staticnet_cblas_dgemv64"}
THREADS_SYMBOL = "staticnet_blas_threads_local"
NUMPY_SYMBOLS = {"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}
NUMPY_GEMV_SYMBOLS = {"float32": "scipy_cblas_sgemv64_", "float64": "scipy_cblas_dgemv64_"}


def _numpy_openblas():
    """NumPy's bundled OpenBLAS (numpy.libs, as in the PyPI wheels), or None."""
    pattern = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*.so*")
    for path in sorted(glob.glob(pattern)):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if all(hasattr(library, name) for name in (*NUMPY_SYMBOLS.values(), *NUMPY_GEMV_SYMBOLS.values(),
                                                   "openblas_set_num_threads_local")):
            return library
    return None


@intrinsic
def _xxgemm(typingctx, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Fortran-order gemm of Numba's BLAS helper (SciPy's BLAS); a, b, c arrays, alpha and beta scalars."""
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
            ptr = cgutils.alloca_once(builder, ll_dtype)
            builder.store(context.cast(builder, value, ty, dtype), ptr)
            return builder.bitcast(ptr, ll_void)

        def data(arr_v, arr_ty):
            return builder.bitcast(context.make_array(arr_ty)(context, builder, arr_v).data, ll_void)

        def as_intp(value, ty):
            return context.cast(builder, value, ty, types.intp)

        kind = ir.Constant(ll_char, ord("s" if dtype == types.float32 else "d"))
        return builder.call(fn, (kind, builder.trunc(transa_v, ll_char), builder.trunc(transb_v, ll_char),
                                 as_intp(m_v, m), as_intp(n_v, n), as_intp(k_v, k), slot(alpha_v, alpha),
                                 data(a_v, a), as_intp(lda_v, lda), data(b_v, b), as_intp(ldb_v, ldb),
                                 slot(beta_v, beta), data(c_v, c), as_intp(ldc_v, ldc)))

    return sig, codegen


def _shim(dtype):
    """A row-major cblas gemm over Numba's helper: row-major C is column-major C.T = op(B).T op(A).T."""
    i32, i64, ptr = types.int32, types.int64, types.CPointer(dtype)

    @cfunc(types.void(i32, i32, i32, i64, i64, i64, dtype, ptr, i64, ptr, i64, dtype, ptr, i64))
    def gemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        a_rows = k if trans_a == TRANS else m
        b_rows = n if trans_b == TRANS else k
        a_view, b_view, c_view = carray(a, (a_rows, lda)), carray(b, (b_rows, ldb)), carray(c, (m, ldc))
        _xxgemm(ord("t") if trans_b == TRANS else ord("n"), ord("t") if trans_a == TRANS else ord("n"), n, m, k,
                alpha, b_view, ldb, a_view, lda, beta, c_view, ldc)
    return gemm


def _gemv_shim(dtype):
    """A row-major cblas gemv (unit strides) as a one-column product over Numba's helper:
    y = alpha op(A) x + beta y is the (rows x 1) matrix y = alpha op(A) @ x + beta y."""
    i32, i64, ptr = types.int32, types.int64, types.CPointer(dtype)

    @cfunc(types.void(i32, i32, i64, i64, dtype, ptr, i64, ptr, i64, dtype, ptr, i64))
    def gemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
        rows, depth = (n, m) if trans == TRANS else (m, n)
        a_view, x_view, y_view = carray(a, (m, lda)), carray(x, (depth, 1)), carray(y, (rows, 1))
        # column-major, as the helper is: y.T (1 x rows) = x.T (1 x depth) @ op(A).T
        _xxgemm(ord("n"), ord("t") if trans == TRANS else ord("n"), 1, rows, depth, alpha, x_view, 1, a_view, lda,
                beta, y_view, 1)
    return gemv


def _keep_threads(count):
    """Without NumPy's OpenBLAS the calling thread's BLAS thread count cannot be set: a no-op."""
    return count


def _register():
    library = _numpy_openblas()
    for name, symbol in SYMBOLS.items():
        if library is not None:
            address = ctypes.cast(getattr(library, NUMPY_SYMBOLS[name]), ctypes.c_void_p).value
            source = "NumPy's OpenBLAS"
        else:
            shim = _shim(types.float32 if name == "float32" else types.float64)
            _shims.append(shim)
            address, source = shim.address, "SciPy's BLAS through Numba's helper"
        llvm.add_symbol(symbol, address)
        if library is not None:
            gemv_address = ctypes.cast(getattr(library, NUMPY_GEMV_SYMBOLS[name]), ctypes.c_void_p).value
        else:
            gemv = _gemv_shim(types.float32 if name == "float32" else types.float64)
            _shims.append(gemv)
            gemv_address = gemv.address
        llvm.add_symbol(GEMV_SYMBOLS[name], gemv_address)
    if library is not None:
        setter = library.openblas_set_num_threads_local
        setter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
        _threads_setter.append(setter)
        address = ctypes.cast(setter, ctypes.c_void_p).value
    else:
        keep_threads = cfunc(types.int32(types.int32))(_keep_threads)
        _shims.append(keep_threads)
        address = keep_threads.address
    llvm.add_symbol(THREADS_SYMBOL, address)
    return source


_shims: list = []  # the fallback shims must outlive the process's compiled code
_threads_setter: list = []  # NumPy's OpenBLAS's openblas_set_num_threads_local, when there is one
SOURCE = _register()


def set_threads_local(count: int) -> int:
    """What blas_threads_local does in compiled code, from Python: returns the previous count."""
    return _threads_setter[0](count) if _threads_setter else count


def _gemm_call(context, builder, dtype, flags, sizes, operands):
    """Emit the call of the registered gemm for `dtype`: flags (value, type) pairs, sizes (m, n, k, lda, ldb, ldc)
    as (value, type) pairs, operands (alpha, a, b, beta, c) as LLVM values already cast (pointers as void*)."""
    i32, i64, ptr = ir.IntType(32), ir.IntType(64), cgutils.voidptr_t
    scalar = context.get_value_type(dtype)
    fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr, i64])
    fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOLS[str(dtype)])

    def flag(value, ty):
        return builder.select(context.cast(builder, value, ty, types.boolean), i32(TRANS), i32(NO_TRANS))

    (m, n, k, lda, ldb, ldc) = (context.cast(builder, v, ty, types.int64) for v, ty in sizes)
    alpha, a, b, beta, c = operands
    builder.call(fn, [i32(ROW_MAJOR), flag(*flags[0]), flag(*flags[1]), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc])


@intrinsic
def cblas_gemm_at(typingctx, like, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Row-major out = alpha op(a) @ op(b) + beta out through the registered symbol, on operands given by address
    (int64) of `like`'s dtype: a part of an array is an offset from its address, not a slice (slicing takes far
    longer to compile)."""
    dtype = like.dtype
    sig = types.void(like, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        t = signature.args
        (_, ta, tb, m_v, n_v, k_v, alpha_v, a_v, lda_v, b_v, ldb_v, beta_v, c_v, ldc_v) = args

        def data(value, ty):
            return builder.inttoptr(context.cast(builder, value, ty, types.int64), cgutils.voidptr_t)

        _gemm_call(context, builder, dtype, [(ta, t[1]), (tb, t[2])],
                   [(m_v, t[3]), (n_v, t[4]), (k_v, t[5]), (lda_v, t[8]), (ldb_v, t[10]), (ldc_v, t[13])],
                   [context.cast(builder, alpha_v, t[6], dtype), data(a_v, t[7]), data(b_v, t[9]),
                    context.cast(builder, beta_v, t[11], dtype), data(c_v, t[12])])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def cblas_gemv_at(typingctx, like, trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
    """Row-major y = alpha op(A) @ x + beta y, A m x n, operands by address (int64), of `like`'s dtype."""
    dtype = like.dtype
    sig = types.void(like, trans, m, n, alpha, a, lda, x, incx, beta, y, incy)

    def codegen(context, builder, signature, args):
        i32, i64, ptr = ir.IntType(32), ir.IntType(64), cgutils.voidptr_t
        scalar = context.get_value_type(dtype)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr, i64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, GEMV_SYMBOLS[str(dtype)])
        t = signature.args
        (_, trans_v, m_v, n_v, alpha_v, a_v, lda_v, x_v, incx_v, beta_v, y_v, incy_v) = args

        def size(value, ty):
            return context.cast(builder, value, ty, types.int64)

        def data(value, ty):
            return builder.inttoptr(size(value, ty), ptr)

        flag = builder.select(context.cast(builder, trans_v, t[1], types.boolean), i32(TRANS), i32(NO_TRANS))
        builder.call(fn, [i32(ROW_MAJOR), flag, size(m_v, t[2]), size(n_v, t[3]), context.cast(builder, alpha_v, t[4], dtype),
                          data(a_v, t[5]), size(lda_v, t[6]), data(x_v, t[7]), size(incx_v, t[8]),
                          context.cast(builder, beta_v, t[9], dtype), data(y_v, t[10]), size(incy_v, t[11])])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def blas_threads_local(typingctx, count):
    """Set BLAS's "local" thread count; returns the previous one.  Despite its name it is one value for the
    whole process in the OpenBLAS builds NumPy ships (kernels/gemm.py, ONE_BLAS_THREAD)."""
    sig = types.int32(count)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [i32]), THREADS_SYMBOL)
        return builder.call(fn, [context.cast(builder, args[0], signature.args[0], types.int32)])

    return sig, codegen
