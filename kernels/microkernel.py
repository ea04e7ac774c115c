"""float32 matrix products written here, for the shapes BLAS serves badly: few rows, or a short sum.

Two forms, each a loop over tiles of out whose values stay in vector registers (`<8 x float>`) for the
whole sum over k; a tile is emitted as LLVM IR (numba's @intrinsic), its sizes constants, one copy per
size picked by a switch at run time:

- `axpy` (op(b) = b, rows contiguous, at least 8 columns): a tile of up to AXPY_ROWS rows by
  AXPY_VECTORS * 8 columns; each step of the sum adds one element of op(a) per row (broadcast) times one
  row of b.  op(a) is read by its two strides, so a transposed a costs nothing.  The columns left at the
  right edge are a tile overlapping the one before.  No masked form for fewer than 8 columns: its code
  took as long to compile as all the others together (such products are small, and BLAS's).  Where the
  CPU has AVX-512F (HAS_WIDE, as LLVM sees the host), the same form is also compiled on 16-lane vectors
  (`<16 x float>`, WIDE_AXPY_SYMBOL): tiles of 32 columns, at least 16 columns.  Each value of out is one
  lane summing its terms in order at either width, so both give the same bits.
- `dot` (op(b) = b.T, a untransposed): a tile of DOT_ROWS x DOT_COLUMNS sums, each 8 running sums of
  a row of a times a row of b (the last k % 8 terms read masked) added up in a fixed tree at the end.

Every sum runs in an order fixed by the shapes, so the result never depends on the thread count; NaN
and infinities propagate as in any product; with beta 0, out is not read (as in BLAS: NaN there is
overwritten).  Where each form beats BLAS, and by how much: bench/kernel_timings.py (`products`).

Callers reach them through symbols registered at import (AXPY_SYMBOL ...; kernels/abi.py), as they
reach BLAS: the tiles' code took about 4 s to compile, and a caller linking it as a jitted function
optimised it again, about 2 s in every kernel of the kernel layer that multiplies matrices.
"""
from __future__ import annotations

from llvmlite import ir
import llvmlite.binding as llvm
from numba import cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import abi

LANES = 8  # float32 lanes of a 256-bit vector register (AVX2); the dot form and one axpy form use these
WIDE_LANES = 16  # of a 512-bit one (AVX-512): the wide axpy form, compiled only where the CPU has AVX-512F
AXPY_ROWS = 6  # 6 rows x 2 vectors: 12 accumulators + 2 loads of b + 1 broadcast, 15 of AVX2's 16 registers
AXPY_VECTORS = 2
DEPTH_BLOCKS = (256, 128, 64)  # the lengths of the axpy form's blocks of the sum over k (depth_block), and the
B_BLOCK_FLOATS = 8192  #         most floats of b such a block may span (32 KiB): docs/architecture.md,
#                                "Microkernels for small products", has the timings that set them
DOT_ROWS, DOT_COLUMNS = 3, 4  # 12 accumulators, 3 + 1 registers for the loads

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_I32V = ir.VectorType(_I32, LANES)


class _Emitter:
    """What both forms' code needs, on vectors of `lanes` float32: the intrinsics, vector loads (masked or not)
    and stores, splats."""

    def __init__(self, builder, lanes=LANES):
        self.builder, self.lanes = builder, lanes
        self.vec = ir.VectorType(_F32, lanes)
        self.i32v, self.i64v = ir.VectorType(_I32, lanes), ir.VectorType(_I64, lanes)
        module = builder.module
        self.fmuladd = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vec] * 3), f"llvm.fmuladd.v{lanes}f32")
        self.masked_load = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vec.as_pointer(), _I32, ir.VectorType(ir.IntType(1), lanes),
                                               self.vec]), f"llvm.masked.load.v{lanes}f32.p0")
        self.zero = ir.Constant(self.vec, None)

    def splat(self, value, vector=None):
        b, vector = self.builder, vector or self.vec
        one = b.insert_element(ir.Constant(vector, None), value, _I32(0))
        return b.shuffle_vector(one, ir.Constant(vector, None), ir.Constant(self.i32v, [0] * self.lanes))

    def lanes_below(self, count, first=0):
        """The mask of lanes first + l < count."""
        lanes = ir.Constant(self.i64v, [first + lane for lane in range(self.lanes)])
        return self.builder.icmp_signed("<", lanes, self.splat(count, self.i64v))

    def first_lanes(self, count):
        """An integer mask of the first `count` (0..lanes) lanes, read from a table: a select on a mask LLVM
        can see is made a masked store, which cost about 36 cycles here."""
        b, lanes = self.builder, self.lanes
        name = f"staticnet_lane_table{lanes}"
        table = b.module.globals.get(name)
        if table is None:
            table = cgutils.global_constant(b.module, name,
                                            ir.Constant(ir.ArrayType(_I32, 2 * lanes), [-1] * lanes + [0] * lanes))
        start = b.gep(b.bitcast(table, _I32.as_pointer()), [b.sub(_I64(lanes), count)])
        return b.load(b.bitcast(start, self.i32v.as_pointer()), align=4)

    def blend(self, mask, where_set, elsewhere):
        """where_set in the lanes of the integer mask, elsewhere in the others."""
        b = self.builder
        x, y = b.bitcast(where_set, self.i32v), b.bitcast(elsewhere, self.i32v)
        return b.bitcast(b.or_(b.and_(x, mask), b.and_(y, b.not_(mask))), self.vec)

    def at(self, base, offset):
        return self.builder.bitcast(self.builder.gep(base, [offset]), self.vec.as_pointer())

    def load(self, base, offset, mask=None):
        pointer = self.at(base, offset)
        if mask is None:
            return self.builder.load(pointer, align=4)
        return self.builder.call(self.masked_load, [pointer, _I32(4), mask, self.zero])

    def store(self, value, base, offset):
        self.builder.store(value, self.at(base, offset), align=4)

    def fma(self, x, y, z):
        return self.builder.call(self.fmuladd, [x, y, z])

    def switch(self, key, cases, emit):
        """emit(*params) under `case` for each (case, params) in cases, chosen by the int64 key."""
        b = self.builder
        after, default = b.append_basic_block("tile.end"), b.append_basic_block("tile.none")
        choice = b.switch(key, default)
        for case, params in cases:
            block = b.append_basic_block(f"tile.{case}")
            choice.add_case(_I64(case), block)
            b.position_at_end(block)
            emit(*params)
            b.branch(after)
        b.position_at_end(default)
        b.branch(after)
        b.position_at_end(after)


def _arguments(context, builder, arg_types, args, kinds):
    """The intrinsic's arguments (of numba types arg_types) as LLVM values: 'i' int64, 'p' a float pointer (from
    an int64 address), 'f' float32."""
    values = []
    for value, ty, kind in zip(args, arg_types, kinds):
        if kind == "f":
            values.append(context.cast(builder, value, ty, types.float32))
        else:
            value = context.cast(builder, value, ty, types.int64)
            values.append(builder.inttoptr(value, _F32.as_pointer()) if kind == "p" else value)
    return values


FULL, OVERLAP = 0, 1  # the kinds of axpy tile


def _axpy_tile(e, n_rows, kind, k, a_p, rsa, csa, b_p, ldb, c_p, ldc, second, skip0, skip1, alpha, beta):
    """Vector 0 at column 0 of the tile, vector 1 at column `second`.  FULL: every lane is new.  OVERLAP:
    the first skip0 lanes of vector 0 and skip1 of vector 1 are columns already computed (by the tile
    before, or by vector 0), which keep the value they have."""
    b = e.builder
    n_vec = AXPY_VECTORS
    offsets = [_I64(0), second]
    acc = [[cgutils.alloca_once_value(b, e.zero) for _ in range(n_vec)] for _ in range(n_rows)]
    a_rows = [b.gep(a_p, [b.mul(_I64(i), rsa)]) for i in range(n_rows)]
    with cgutils.for_range(b, k) as loop:
        p = loop.index
        b_row = b.gep(b_p, [b.mul(p, ldb)])
        b_vecs = [e.load(b_row, offsets[v]) for v in range(n_vec)]
        a_at = b.mul(p, csa)
        for i in range(n_rows):
            a_s = e.splat(b.load(b.gep(a_rows[i], [a_at])))
            for v in range(n_vec):
                b.store(e.fma(a_s, b_vecs[v], b.load(acc[i][v])), acc[i][v])
    values = [[b.load(x) for x in row] for row in acc]
    alpha_s, beta_s = e.splat(alpha), e.splat(beta)
    keep = [e.first_lanes(skip0), e.first_lanes(skip1)] if kind == OVERLAP else None

    def store(beta_is):
        for i, row in enumerate(values):
            c_row = b.gep(c_p, [b.mul(_I64(i), ldc)])
            for v, value in enumerate(row):  # in order: vector 1 may overlap what vector 0 stores
                if beta_is == 0:  # a column computed twice has the same value both times (the same sum in
                    #               the same order), so only an update keeps what is there
                    value = b.fmul(alpha_s, value)
                else:
                    old = e.load(c_row, offsets[v])
                    value = e.fma(alpha_s, value, old if beta_is == 1 else b.fmul(beta_s, old))
                    if keep:
                        value = e.blend(keep[v], old, value)
                e.store(value, c_row, offsets[v])

    _by_beta(b, beta, store)


def _by_beta(b, beta, emit):
    """emit(0), emit(1) or emit(None) as beta is 0 (out not read), 1 (an update: one FMA) or else."""
    with b.if_else(b.fcmp_ordered("==", beta, ir.Constant(_F32, 0.0))) as (zero, other):
        with zero:
            emit(0)
        with other:
            with b.if_else(b.fcmp_ordered("==", beta, ir.Constant(_F32, 1.0))) as (one, general):
                with one:
                    emit(1)
                with general:
                    emit(None)


def _store_lanes(e, values, c_p, ldc, alpha, beta, cols):
    """c[i, 8 v + l] = alpha values[i][v][l] + beta c[...] (c not read when beta is 0), lane by lane for
    8 v + l < cols (an int64 value, or a Python int): a masked store cost about 36 cycles here."""
    b = e.builder
    with b.if_else(b.fcmp_ordered("==", beta, ir.Constant(_F32, 0.0))) as (overwrite, update):
        for branch, updating in ((overwrite, False), (update, True)):
            with branch:
                for i, row in enumerate(values):
                    for v, value in enumerate(row):
                        for lane in range(LANES):
                            column = v * LANES + lane
                            if isinstance(cols, int) and column >= cols:
                                break
                            pointer = b.gep(c_p, [b.add(b.mul(_I64(i), ldc), _I64(column))])
                            x = b.fmul(alpha, b.extract_element(value, _I32(lane)))
                            if isinstance(cols, int):
                                b.store(b.fadd(x, b.fmul(beta, b.load(pointer))) if updating else x, pointer)
                                continue
                            with b.if_then(b.icmp_signed("<", _I64(column), cols), likely=True):
                                b.store(b.fadd(x, b.fmul(beta, b.load(pointer))) if updating else x, pointer)


@intrinsic(prefer_literal=True)
def axpy_tile(typingctx, lanes, rows, kind, k, a, rsa, csa, b, ldb, c, ldc, second, skip0, skip1, alpha, beta):
    """One tile of out (rows <= AXPY_ROWS x AXPY_VECTORS vectors of `lanes` (a literal), at address c, row
    stride ldc): alpha sum_p op(a)[i, p] b[p, j] + beta c[i, j], where op(a)[i, p] is at a + (i rsa + p csa)
    floats and b[p, j] at b + p ldb + j floats; `kind`, `second`, `skip0`, `skip1`: _axpy_tile."""
    if not isinstance(lanes, types.IntegerLiteral):
        return None
    sig = types.void(lanes, rows, kind, k, a, rsa, csa, b, ldb, c, ldc, second, skip0, skip1, alpha, beta)

    def codegen(context, builder, signature, args):
        rows_v, kind_v, *rest = _arguments(context, builder, signature.args[1:], args[1:], "iiipiipipiiiiff")
        e = _Emitter(builder, lanes.literal_value)
        key = builder.add(builder.mul(builder.sub(rows_v, _I64(1)), _I64(2)), kind_v)
        # a call site passes its kind as a constant: only that kind's tiles are emitted there (each tile's code is
        # compiled once per call site, so emitting both kinds everywhere compiled twice the tiles that can run)
        kinds = (kind.literal_value,) if isinstance(kind, types.IntegerLiteral) else (FULL, OVERLAP)
        cases = [((r - 1) * 2 + tile_kind, (r, tile_kind)) for r in range(1, AXPY_ROWS + 1) for tile_kind in kinds]
        e.switch(key, cases, lambda r, tile_kind: _axpy_tile(e, r, tile_kind, *rest))
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, error_model="numpy", inline="always")
def depth_block(n):
    """How many terms of the sum the axpy form adds up in one block, for n columns of out: the longest of
    DEPTH_BLOCKS whose rows of b (read by every block of rows, across its tiles) hold at most B_BLOCK_FLOATS,
    else the shortest; so what one block of rows reads of b is still in L1 for the next, and a transposed a's
    rows, a page apart at 784 columns, stay within the TLB.  A function of n alone, the same at every vector
    width, so that the order of each sum stays fixed by the shapes."""
    for depth in DEPTH_BLOCKS:
        if depth * n <= B_BLOCK_FLOATS:
            return depth
    return DEPTH_BLOCKS[-1]


def _axpy_gemm_of(lanes: int):
    """axpy_gemm on vectors of `lanes` float32 (LANES or WIDE_LANES), its loops marked inline="always": Numba
    compiles them once, inside the entry (cfunc) that calls them.  As separate functions each was compiled on
    its own and again inside its caller: on an empty cache an axpy entry took 1.5-1.7 s to compile, inlined
    0.7-0.9 s, the dot entry 0.56 s against 0.35 (the 2-core Zen 5); the code, and its bits, are the same."""
    width = AXPY_VECTORS * lanes

    @njit(nogil=True, error_model="numpy", inline="always")
    def full_tiles(rows, n, depth, a, rsa, csa, b, ldb, c, ldc, alpha, beta):
        """The tiles of `rows` rows of out left to right, all but the columns left over at the right edge;
        with lanes to 2 lanes - 1 columns in all, one tile of two overlapping vectors."""
        if n < width:
            axpy_tile(lanes, rows, OVERLAP, depth, a, rsa, csa, b, ldb, c, ldc, n - lanes, 0, width - n, alpha, beta)
        else:
            for t in range(n // width):
                axpy_tile(lanes, rows, FULL, depth, a, rsa, csa, b + 4 * t * width, ldb, c + 4 * t * width, ldc,
                          lanes, 0, 0, alpha, beta)

    @njit(nogil=True, error_model="numpy", inline="always")
    def edge_tile(rows, n, depth, a, rsa, csa, b, ldb, c, ldc, alpha, beta):
        """The columns left over at the right edge (n >= 16) as a tile ending there, overlapping the tile before:
        unmasked loads, quicker than masked ones.  Where it updates out (beta != 0), the overlapped columns keep
        the values that tile wrote; it runs a block of rows later than them, as its loads stall on stores
        still in flight otherwise (bench/kernel_timings.py)."""
        done = width - (n - n // width * width)  # columns of the tile already computed
        if n >= width and done < width:
            axpy_tile(lanes, rows, OVERLAP, depth, a, rsa, csa, b + 4 * (n - width), ldb, c + 4 * (n - width), ldc,
                      lanes, min(done, lanes), max(done - lanes, 0), alpha, beta)

    @njit(nogil=True, error_model="numpy", inline="always")
    def gemm(m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta):
        blocks = (m + AXPY_ROWS - 1) // AXPY_ROWS
        step = depth_block(n)
        for p0 in range(0, k, step):
            depth = min(step, k - p0)
            scale = beta if p0 == 0 else 1.0
            a_p, b_p = a + 4 * p0 * csa, b + 4 * p0 * ldb
            for block in range(blocks + 1):
                if block < blocks:
                    i0, i1 = m * block // blocks, m * (block + 1) // blocks
                    full_tiles(i1 - i0, n, depth, a_p + 4 * i0 * rsa, rsa, csa, b_p, ldb, c + 4 * i0 * ldc, ldc,
                               alpha, scale)
                if block > 0:  # the right edge of the block before
                    i0, i1 = m * (block - 1) // blocks, m * block // blocks
                    edge_tile(i1 - i0, n, depth, a_p + 4 * i0 * rsa, rsa, csa, b_p, ldb, c + 4 * i0 * ldc, ldc,
                              alpha, scale)
    return gemm


_AXPY_GEMM_NARROW, _AXPY_GEMM_WIDE = _axpy_gemm_of(LANES), _axpy_gemm_of(WIDE_LANES)
_AXPY_GEMM = {LANES: _AXPY_GEMM_NARROW, WIDE_LANES: _AXPY_GEMM_WIDE}


def axpy_gemm(lanes, m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta):
    """out (m x n at address c, row stride ldc) = alpha op(a) @ b + beta out, float32, op(a)[i, p] at
    a + 4 (i rsa + p csa), b (k x n) row-major with row stride ldb; k > 0, n >= lanes (LANES or WIDE_LANES).
    The rows are shared among blocks of near-equal size (at most AXPY_ROWS), so that no block has far fewer
    accumulators.  Each value of out is one lane summing its terms in order (blocks of depth_block(n)), whatever
    the width: both widths give the same bits.  (From Python, for the tests; the entries below call the
    compiled form of their width.)"""
    _AXPY_GEMM[lanes](m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta)


def _hadd(builder, x, y):
    """vhaddps: neighbours added in pairs, x's and y's interleaved by 128-bit half."""
    even = ir.Constant(_I32V, [0, 2, 8, 10, 4, 6, 12, 14])
    odd = ir.Constant(_I32V, [1, 3, 9, 11, 5, 7, 13, 15])
    return builder.fadd(builder.shuffle_vector(x, y, even), builder.shuffle_vector(x, y, odd))


def _dot_tile(e, n_rows, n_cols, k, a_p, lda, b_p, ldb, c_p, ldc, alpha, beta):
    b = e.builder
    acc = [[cgutils.alloca_once_value(b, e.zero) for _ in range(n_cols)] for _ in range(n_rows)]
    a_rows = [b.gep(a_p, [b.mul(_I64(i), lda)]) for i in range(n_rows)]
    b_rows = [b.gep(b_p, [b.mul(_I64(j), ldb)]) for j in range(n_cols)]

    def step(offset, mask=None, done=None):
        def load(row):
            value = e.load(row, offset, mask)  # the terms before k - 8 already summed: zero in both factors,
            return value if done is None else e.blend(done, e.zero, value)  # as 0 times inf is NaN
        a_vecs = [load(row) for row in a_rows]
        for j in range(n_cols):
            b_vec = load(b_rows[j])
            for i in range(n_rows):
                b.store(e.fma(a_vecs[i], b_vec, b.load(acc[i][j])), acc[i][j])

    whole = b.sdiv(k, _I64(LANES))
    with cgutils.for_range(b, whole) as loop:
        step(b.mul(loop.index, _I64(LANES)))
    tail = b.sub(k, b.mul(whole, _I64(LANES)))
    with b.if_then(b.icmp_signed(">", tail, _I64(0))):
        with b.if_else(b.icmp_signed(">", whole, _I64(0))) as (overlapping, masked):
            with overlapping:  # the last 8 terms, unmasked (quicker)
                step(b.sub(k, _I64(LANES)), done=e.first_lanes(b.sub(_I64(LANES), tail)))
            with masked:  # fewer than 8 in all
                step(_I64(0), mask=e.lanes_below(tail))

    half = ir.VectorType(_I32, 4)
    sums = []
    for i in range(n_rows):  # row i's DOT_COLUMNS sums in the first lanes of one vector
        v = [b.load(x) for x in acc[i]] + [e.zero] * (DOT_COLUMNS - n_cols)
        h = _hadd(b, _hadd(b, v[0], v[1]), _hadd(b, v[2], v[3]))
        row = b.fadd(b.shuffle_vector(h, h, ir.Constant(half, [0, 1, 2, 3])),
                     b.shuffle_vector(h, h, ir.Constant(half, [4, 5, 6, 7])))
        sums.append(b.shuffle_vector(row, row, ir.Constant(_I32V, [0, 1, 2, 3, 0, 1, 2, 3])))
    _store_lanes(e, [[s] for s in sums], c_p, ldc, alpha, beta, n_cols)


@intrinsic
def dot_tile(typingctx, rows, columns, k, a, lda, b, ldb, c, ldc, alpha, beta):
    """One tile of out (rows <= DOT_ROWS x columns <= DOT_COLUMNS, at address c, row stride ldc):
    alpha sum_p a[i, p] b[j, p] + beta c[i, j], a's and b's rows contiguous (row strides lda, ldb)."""
    sig = types.void(rows, columns, k, a, lda, b, ldb, c, ldc, alpha, beta)

    def codegen(context, builder, signature, args):
        rows_v, columns_v, *rest = _arguments(context, builder, signature.args, args, "iiipipipiff")
        e = _Emitter(builder)
        key = builder.add(builder.mul(builder.sub(rows_v, _I64(1)), _I64(DOT_COLUMNS)), builder.sub(columns_v, _I64(1)))
        cases = [((r - 1) * DOT_COLUMNS + c - 1, (r, c)) for r in range(1, DOT_ROWS + 1)
                 for c in range(1, DOT_COLUMNS + 1)]
        e.switch(key, cases, lambda r, c: _dot_tile(e, r, c, *rest))
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, error_model="numpy", inline="always")  # compiled once, in _dot_entry
def dot_gemm(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta):
    """out (m x n at address c, row stride ldc) = alpha a @ b.T + beta out, float32, a (m x k) and b (n x k)
    row-major with row strides lda and ldb.  For each DOT_COLUMNS rows of b (in L1 from then on), every
    block of rows of a."""
    for j0 in range(0, n, DOT_COLUMNS):
        for i0 in range(0, m, DOT_ROWS):
            dot_tile(min(DOT_ROWS, m - i0), min(DOT_COLUMNS, n - j0), k, a + 4 * i0 * lda, lda, b + 4 * j0 * ldb,
                     ldb, c + 4 * (i0 * ldc + j0), ldc, alpha, beta)


AXPY_SYMBOL, WIDE_AXPY_SYMBOL, DOT_SYMBOL = "staticnet_sgemm_axpy", "staticnet_sgemm_axpy_wide", "staticnet_sgemm_dot"
AXPY_PARAMS = ("i64",) * 10 + ("f32", "f32")  # axpy_gemm's: sizes, strides and addresses, then alpha and beta
DOT_PARAMS = ("i64",) * 9 + ("f32", "f32")


@cfunc(abi.caller_signature("void", AXPY_PARAMS), cache=True, error_model="numpy")
def _axpy_entry(m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta):
    _AXPY_GEMM_NARROW(m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta)


@cfunc(abi.caller_signature("void", DOT_PARAMS), cache=True, error_model="numpy")
def _dot_entry(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta):
    dot_gemm(m, n, k, a, lda, b, ldb, c, ldc, alpha, beta)


def host_has_avx512() -> bool:
    """Whether this CPU runs AVX-512F code, as LLVM sees it (the CPU's flags and the OS saving the registers)."""
    return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


HAS_WIDE = host_has_avx512()
abi.register(AXPY_SYMBOL, _axpy_entry.address)
abi.register(DOT_SYMBOL, _dot_entry.address)
if HAS_WIDE:  # compiled only where it runs, so no CPU is ever given an instruction it lacks
    @cfunc(abi.caller_signature("void", AXPY_PARAMS), cache=True, error_model="numpy")
    def _wide_axpy_entry(m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta):
        _AXPY_GEMM_WIDE(m, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta)
    abi.register(WIDE_AXPY_SYMBOL, _wide_axpy_entry.address)
else:  # never chosen here (product_choice.py offers it only with AVX-512); a model file that ran on it
    abi.register(WIDE_AXPY_SYMBOL, _axpy_entry.address)  # runs on the 8-lane form, which gives the same bits
