"""A vectorisable exp and tanh for float32 loops.

Numba from PyPI has no vector exp (SVML off; `numba -s` says so), so math.exp in a loop
runs one element at a time.  exp32 computes
e^x = 2^n e^r with n = round(x log2 e) and r = x - n ln 2 (ln 2 split in two parts so
the reduction is exact to float32), |r| <= ln(2)/2: a degree-6 Taylor polynomial gives
e^r (truncation error below 1.3e-7 relative) and 2^n is built in the exponent bits.
The error is under 5e-7 relative over [-87, 88] (about 4 float32 ulps;
tests/kernels/test_fastmath.py checks it), and LLVM vectorises the loop around it, as long
as everything stays float32: n comes from np.floor, not math.floor, whose int64 result AVX2
cannot convert in vector registers (with it the loop was 6x slower).  float64 code keeps math.exp.
tanh32 is built the same way; exp_of and tanh_of choose by the float type in jitted code that serves both.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_f = np.float32
LOG2E, HALF, ONE, ZERO, INF = _f(1.4426950408889634), _f(0.5), _f(1.0), _f(0.0), _f(np.inf)
LOW, HIGH = _f(-87.33654), _f(88.72283)  # ln of the smallest normal and of the largest finite float32
LN2_HI, LN2_LO = _f(0.693359375), _f(-2.12194440e-4)  # LN2_HI has few bits, so n * LN2_HI is exact
C2, C3, C4, C5, C6 = _f(1 / 2), _f(1 / 6), _f(1 / 24), _f(1 / 120), _f(1 / 720)


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The int32 `bits` reinterpreted as a float32 (no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _float32_bits(typingctx, value):
    """The float32 `value`'s bits as an int32 (no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@njit(cache=True, nogil=True, error_model="numpy",
      fastmath={"contract", "arcp", "afn", "reassoc", "nsz"})
def exp32(x):
    """e**x in float32; NaN gives NaN, beyond HIGH inf, below LOW 0 (where float32 results are denormal,
    which the compiled loops flush to zero anyway: staticnet/denormals.py)."""
    clamped = min(max(_f(x), LOW), HIGH)
    n = np.floor(clamped * LOG2E + HALF)
    r = (clamped - n * LN2_HI) - n * LN2_LO
    p = ONE + r * (ONE + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * C6)))))
    # 2**n p as n added to p's exponent bits: exact, and unlike p * 2**n it needs no 2**128 just below HIGH
    value = _bits_as_float32(_float32_bits(p) + (np.int32(n) << np.int32(23)))
    if x >= LOW and x <= HIGH:
        return value
    return INF if x > HIGH else (ZERO if x < LOW else x)  # x NaN: NaN


C7 = _f(1 / 5040)
TANH_ONE = _f(9.0)  # tanh(9) = 1 - 3e-8 rounds to 1 in float32: beyond, tanh32 is +-1


@njit(cache=True, nogil=True, error_model="numpy",
      fastmath={"contract", "arcp", "afn", "reassoc", "nsz"})
def tanh32(x):
    """tanh(x) in float32 through a vectorisable expm1: with m = e^(-2|x|) - 1, tanh|x| = -m / (m + 2).
    m = 2^n (e^r - 1) + (2^n - 1), e^r - 1 = r (1 + r/2 + ... + r^6/7!) computed without the cancellation of
    e^r - 1, so that small x keep their relative accuracy (a few float32 ulps; tests/kernels/test_fastmath.py).
    NaN gives NaN, +-inf +-1."""
    y = _f(-2.0) * min(abs(_f(x)), TANH_ONE)
    n = np.floor(y * LOG2E + HALF)
    r = (y - n * LN2_HI) - n * LN2_LO
    q = r * (ONE + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * (C6 + r * C7))))))
    scale = _bits_as_float32(_float32_bits(ONE) + (np.int32(n) << np.int32(23)))  # 2^n, n from -26 to 0
    m = scale * q + (scale - ONE)
    t = -m / (m + _f(2.0))
    if x != x:
        return _f(x)
    return t if x >= ZERO else -t


def exp_of(x):
    """e**x of a float32 or float64 scalar in jitted code: exp32 for float32 (vectorisable), math.exp else."""
    return math.exp(x)


def tanh_of(x):
    """tanh of a float32 or float64 scalar in jitted code: tanh32 for float32 (vectorisable), math.tanh else."""
    return math.tanh(x)


def one_of(x):
    """1 of x's float type, so that float32 arithmetic stays float32 (a 1.0 literal would make it float64)."""
    return 1.0


@overload(exp_of)
def _exp_of(x):
    if x == types.float32:
        return lambda x: exp32(x)
    return lambda x: math.exp(x)


@overload(tanh_of)
def _tanh_of(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: math.tanh(x)


@overload(one_of)
def _one_of(x):
    if x == types.float32:
        return lambda x: np.float32(1.0)
    return lambda x: 1.0
