"""Which routine runs each float32 product: a table of measured choices that `gemm.product_at` reads.

The candidates for out = alpha op(a) @ op(b) + beta out are BLAS and the microkernel forms of
microkernel.py: `axpy` where op(b) = b and out has at least LANES columns, on 8-lane vectors, and
`wide_axpy`, the same on 16-lane vectors where the CPU has AVX-512 (same bits: each value is one lane summing
in order), and `dot` for a @ b.T.  Which is
fastest depends on the CPU (OpenBLAS's kernels for it, its vector width, its caches), so the choice is
made by timing them on the machine that runs them (`time_choice`; staticnet/codegen/product_choice.py
decides what to time and keeps the winners in the compile cache) and written into this table, keyed by
the shape: (m, n, k, op(a) transposed, op(b) transposed, beta zero).

The table is process memory registered under a symbol (TABLE_SYMBOL), as BLAS and the microkernels are
(abi.py): product_at's machine code names the symbol, so the code cached on disk reads whatever the process
running it wrote there.  A shape missing from the table runs as the table's policy says (`POLICY`): by
`rule_of_thumb` (what won at the workloads' shapes on the machine the kernels were written on), or on BLAS,
or on a microkernel wherever one fits (STATICNET_KERNEL_CHOICE, for tests).

Every candidate sums in an order fixed by the shapes (BLAS on one thread, the microkernels by their tiles),
so a choice changes the last bits of a product but never makes them depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import cfunc, njit, types
from numba.extending import intrinsic

from . import abi
from .blas import blas_threads_local, cblas_gemm_at
from .microkernel import (AXPY_PARAMS, AXPY_SYMBOL, DOT_PARAMS, DOT_SYMBOL, HAS_WIDE, LANES, WIDE_AXPY_SYMBOL,
                          WIDE_LANES)

axpy_gemm = abi.external(AXPY_SYMBOL, "void", AXPY_PARAMS)  # microkernel.py's, linked as machine code
wide_axpy_gemm = abi.external(WIDE_AXPY_SYMBOL, "void", AXPY_PARAMS)
dot_gemm = abi.external(DOT_SYMBOL, "void", DOT_PARAMS)

BLAS, AXPY, DOT, WIDE_AXPY = 0, 1, 2, 3  # the candidates; NAMES is how the cache, model files and `staticnet cache`
NAMES = ("blas", "axpy", "dot", "wide_axpy")  # write them
BY_RULE, ALL_BLAS, ALL_MICRO = 0, 1, 2  # the policy for shapes the table does not hold

SLOTS = 4096  # entries of the open-addressed table (a model has tens of product shapes)
WIDTH = 3  # int64 words per entry: m << 32 | n (0: empty), k << 3 | flags, choice
POLICY = SLOTS * WIDTH  # the word after the entries
TABLE_SYMBOL = "staticnet_product_choices"
table = np.zeros(SLOTS * WIDTH + 1, np.int64)  # lives as long as the process: compiled code reads it by address
abi.register(TABLE_SYMBOL, table.ctypes.data)

# Which shapes run on a microkernel when no measurement says (BY_RULE): what won at the workloads' shapes on the
# AMD EPYC the kernels were written on (bench/kernel_timings.py, `products`): a @ b with fewer rows or columns
# than these; a.T @ b written over out (beta 0) with few columns or a sum of at most SHORT_SUM terms, and one
# added to out with few columns and at least LONG_SUM terms; a @ b.T with fewer rows than DOT_ROWS_BELOW and at
# least DOT_DEPTH_FROM terms.
MICRO_ROWS_BELOW, MICRO_COLUMNS_BELOW, SHORT_SUM, LONG_SUM = 64, 32, 32, 128
DOT_ROWS_BELOW, DOT_DEPTH_FROM = 16, 32


@intrinsic
def _table_at(typingctx):
    """The address of the table (the symbol TABLE_SYMBOL, resolved when the code is linked)."""
    def codegen(context, builder, signature, args):
        table_global = builder.module.globals.get(TABLE_SYMBOL)
        if table_global is None:  # declared, not defined: the linker finds the registered address
            table_global = ir.GlobalVariable(builder.module, ir.IntType(64), TABLE_SYMBOL)
        return builder.ptrtoint(table_global, ir.IntType(64))
    return types.int64(), codegen


@njit(cache=True, nogil=True)
def flags_of(trans_a, trans_b, beta_zero):
    return (4 if trans_a else 0) | (2 if trans_b else 0) | (1 if beta_zero else 0)


@njit(cache=True, nogil=True)
def slot_of(m, n, k, flags):
    """The first slot probed for a shape (a multiplicative hash)."""
    h = (m * 0x9E3779B1 + n * 0x85EBCA77 + k * 0xC2B2AE3D + flags * 0x27D4EB2F) & 0x7FFFFFFF
    return h % SLOTS


def offered(choice) -> bool:
    """Whether this machine times the candidate: the wide form only where the CPU has AVX-512."""
    return choice != WIDE_AXPY or HAS_WIDE


@njit(cache=True, nogil=True)
def fits(choice, trans_a, trans_b, n):
    """Whether the candidate can compute a product of this layout with n columns of out."""
    if choice == AXPY:
        return not trans_b and n >= LANES
    if choice == WIDE_AXPY:
        return not trans_b and n >= WIDE_LANES
    if choice == DOT:
        return trans_b and not trans_a
    return choice == BLAS


@njit(cache=True, nogil=True)
def rule_of_thumb(trans_a, trans_b, m, n, k, beta_zero):
    if trans_b:
        return DOT if not trans_a and m < DOT_ROWS_BELOW and k >= DOT_DEPTH_FROM else BLAS
    if trans_a:
        few_columns = n < MICRO_COLUMNS_BELOW
        micro = few_columns and k >= LONG_SUM if not beta_zero else k <= SHORT_SUM or few_columns
    else:
        micro = m < MICRO_ROWS_BELOW or n < MICRO_COLUMNS_BELOW
    return AXPY if micro and n >= LANES else BLAS


@njit(cache=True, nogil=True)
def chosen(trans_a, trans_b, m, n, k, beta_zero):
    """The routine for this float32 product: the table's entry for its shape, else the policy's."""
    words = abi.pointer_i64(_table_at())
    flags = flags_of(trans_a, trans_b, beta_zero)
    first, second = (m << 32) | n, (k << 3) | flags
    slot = slot_of(m, n, k, flags)
    for _ in range(SLOTS):
        at = slot * WIDTH
        if words[at] == 0:
            break
        if words[at] == first and words[at + 1] == second:
            return words[at + 2]
        slot = (slot + 1) % SLOTS
    policy = words[POLICY]
    if policy == ALL_BLAS:
        return BLAS
    if policy == ALL_MICRO:
        if fits(DOT, trans_a, trans_b, n):
            return DOT
        return AXPY if fits(AXPY, trans_a, trans_b, n) else BLAS
    return rule_of_thumb(trans_a, trans_b, m, n, k, beta_zero)


@njit(cache=True, nogil=True, error_model="numpy")
def run_choice(choice, like, trans_a, trans_b, m, n, k, alpha, a_at, lda, b_at, ldb, beta, c_at, ldc):
    """The product on `choice` (BLAS when the candidate cannot take it); `like` gives the dtype."""
    if choice == DOT and fits(DOT, trans_a, trans_b, n):
        dot_gemm(m, n, k, a_at, lda, b_at, ldb, c_at, ldc, np.float32(alpha), np.float32(beta))
    elif choice == WIDE_AXPY and fits(WIDE_AXPY, trans_a, trans_b, n):
        wide_axpy_gemm(m, n, k, a_at, 1 if trans_a else lda, lda if trans_a else 1, b_at, ldb, c_at, ldc,
                       np.float32(alpha), np.float32(beta))
    elif choice == AXPY and fits(AXPY, trans_a, trans_b, n):
        axpy_gemm(m, n, k, a_at, 1 if trans_a else lda, lda if trans_a else 1, b_at, ldb, c_at, ldc,
                  np.float32(alpha), np.float32(beta))
    else:
        cblas_gemm_at(like, trans_a, trans_b, m, n, k, alpha, a_at, lda, b_at, ldb, beta, c_at, ldc)


CHOSEN = -1  # sgemm's first argument: the routine the table gives for the shape
SGEMM_SYMBOL = "staticnet_sgemm_chosen"
SGEMM_PARAMS = ("i64",) * 6 + ("f32",) + ("i64",) * 4 + ("f32",) + ("i64",) * 2
_FLOAT32 = np.zeros(0, np.float32)  # gives cblas_gemm_at its dtype


@cfunc(abi.caller_signature("void", SGEMM_PARAMS), cache=True, error_model="numpy")
def _sgemm_entry(choice, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    ta, tb = trans_a != 0, trans_b != 0
    if choice == CHOSEN:
        choice = chosen(ta, tb, m, n, k, beta == 0.0)
    run_choice(choice, _FLOAT32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


# A float32 product on `choice` (CHOSEN: as the table says), reached through a symbol as the microkernels are, so
# that the kernels of the kernel layer that multiply matrices link a call, not this code (each would optimise it
# again: kernels/abi.py).  Arguments: choice, op(a) transposed, op(b) transposed (0 or 1), m, n, k, alpha, then
# a, lda, b, ldb, beta, c, ldc as product_at's.
abi.register(SGEMM_SYMBOL, _sgemm_entry.address)
sgemm = abi.external(SGEMM_SYMBOL, "void", SGEMM_PARAMS)


@njit(cache=True, nogil=True, error_model="numpy")
def time_choice(choice, calls, a, b, out, trans_a, trans_b, alpha, beta):
    """Run the product `calls` times on `choice`, on this thread (BLAS on one thread, as in a step)."""
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    previous = blas_threads_local(1)
    for _ in range(calls):
        sgemm(choice, 1 if trans_a else 0, 1 if trans_b else 0, m, n, k, np.float32(alpha), a.ctypes.data,
              a.shape[1], b.ctypes.data, b.shape[1], np.float32(beta), out.ctypes.data, n)
    blas_threads_local(previous)


installs = 0  # how many times the table was filled: a caller that filled it can tell whether it still holds its own


def install(entries, policy: int) -> None:
    """Fill the table with `entries` ((m, n, k, trans_a, trans_b, beta_zero) -> choice), replacing what it
    held, and set the policy for other shapes.  Done between runs of compiled code, never during one."""
    global installs
    if len(entries) > SLOTS // 2:
        raise ValueError(f"{len(entries)} product shapes: the choice table holds at most {SLOTS // 2}")
    words = np.zeros_like(table)
    for (m, n, k, trans_a, trans_b, beta_zero), choice in entries.items():
        flags = flags_of(trans_a, trans_b, beta_zero)
        slot = slot_of(m, n, k, flags)
        while words[slot * WIDTH] != 0:
            slot = (slot + 1) % SLOTS
        words[slot * WIDTH:(slot + 1) * WIDTH] = ((m << 32) | n, (k << 3) | flags, choice)
    words[POLICY] = policy
    table[:] = words
    installs += 1

