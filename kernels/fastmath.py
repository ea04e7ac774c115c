"""A vectorisable exp for float32 loops.

Numba from PyPI has no vector exp (SVML off; `numba -s` says so), so math.exp in a loop
runs one element at a time.  exp32 computes
e^x = 2^n e^r with n = round(x log2 e) and r = x - n ln 2 (ln 2 split in two parts so
the reduction is exact to float32), |r| <= ln(2)/2: a degree-6 Taylor polynomial gives
e^r (truncation error below 1.3e-7 relative) and 2^n is built in the exponent bits.
The error is under 5e-7 relative over [-87, 88] (about 4 float32 ulps;
tests/kernels/test_fastmath.py checks it), and LLVM vectorises the loop around it, as long
as everything stays float32: n comes from np.floor, not math.floor, whose int64 result AVX2
cannot convert in vector registers (with it the loop was 6x slower).  float64 code keeps math.exp.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

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
