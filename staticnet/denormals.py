"""Flush-to-zero for the compiled loops.

Tiny values (Adam's second moments, vanishing gradients) become denormal floats,
which the CPU handles in microcode at a fraction of normal speed.  While a compiled
loop runs, the MXCSR flags FTZ (results flushed to zero) and DAZ (denormal inputs
read as zero) are set on the calling thread, then restored, so code outside
staticnet (NumPy included) keeps IEEE behaviour.  The two MXCSR accessors are a few
instructions JIT-compiled with llvmlite, which Numba already depends on.
"""
from __future__ import annotations

import ctypes
import platform
from contextlib import contextmanager

FTZ_DAZ = 0x8040  # bit 15: flush to zero; bit 6: denormals are zero

_IR = """
declare void @llvm.x86.sse.stmxcsr(i8*)
declare void @llvm.x86.sse.ldmxcsr(i8*)
define i32 @get_mxcsr() {
  %slot = alloca i32
  %p = bitcast i32* %slot to i8*
  call void @llvm.x86.sse.stmxcsr(i8* %p)
  %v = load i32, i32* %slot
  ret i32 %v
}
define void @set_mxcsr(i32 %v) {
  %slot = alloca i32
  store i32 %v, i32* %slot
  %p = bitcast i32* %slot to i8*
  call void @llvm.x86.sse.ldmxcsr(i8* %p)
  ret void
}
"""

_accessors = None


def _load():
    global _accessors
    if _accessors is None:
        if platform.machine().lower() not in ("x86_64", "amd64"):
            _accessors = False
            return _accessors
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple().create_target_machine()
        module = llvm.parse_assembly(_IR)
        engine = llvm.create_mcjit_compiler(module, target)
        engine.finalize_object()
        get = ctypes.CFUNCTYPE(ctypes.c_uint32)(engine.get_function_address("get_mxcsr"))
        put = ctypes.CFUNCTYPE(None, ctypes.c_uint32)(engine.get_function_address("set_mxcsr"))
        _accessors = (engine, get, put)  # the engine owns the code: keep it alive
    return _accessors


@contextmanager
def flushed_to_zero():
    """Run the block with FTZ and DAZ set on this thread (a no-op off x86-64)."""
    accessors = _load()
    if not accessors:
        yield
        return
    _, get, put = accessors
    saved = get()
    put(saved | FTZ_DAZ)
    try:
        yield
    finally:
        put(saved)
