"""How compiled code calls kernels it does not contain: through a symbol, with plain C arguments.

Numba links the IR of every jitted function a function calls into the caller's module and optimises
the whole module again (numba/core/codegen.py, CodeLibrary.finalize), so a kernel called as a jitted
function is compiled once more inside every caller.  A kernel compiled as a `cfunc` has an address;
registered with llvmlite under a symbol name (`register`), a caller declares that symbol
(`external`) and the JIT links the call to the kernel's machine code, as it does for BLAS.  The
caller's cached code names the symbol, so it stays valid in any process that registers it again.

The calling convention: an array crosses as the address of its first element (an int64 on the
caller's side, a typed pointer on the kernel's: both travel in the same integer register) followed
by its sizes; scalars cross as int64, float32 or float64 values.  `load` and `store` read and write
one element at an address, for the 0-d parameters a caller keeps by address.
"""
from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

POINTERS = {"f32*": types.float32, "f64*": types.float64, "i64*": types.int64, "i32*": types.int32}
SCALARS = {"void": types.void, "i64": types.int64, "f32": types.float32, "f64": types.float64}


def kernel_signature(returns: str, params) -> types.Signature:
    """The cfunc signature of a kernel: pointers typed by their element, scalars as themselves."""
    return SCALARS[returns](*(types.CPointer(POINTERS[p]) if p in POINTERS else SCALARS[p] for p in params))


def caller_signature(returns: str, params) -> types.Signature:
    """The same signature as its callers declare it: every pointer an int64 address."""
    return SCALARS[returns](*(types.int64 if p in POINTERS else SCALARS[p] for p in params))


def external(symbol: str, returns: str, params) -> types.ExternalFunction:
    """A callable, inside jitted code, for the kernel registered as `symbol`."""
    return types.ExternalFunction(symbol, caller_signature(returns, params))


def register(symbol: str, address: int) -> None:
    """Make `symbol` resolve to `address` in everything the JIT links from now on."""
    llvm.add_symbol(symbol, address)


def _element_type(dtype_name):
    return {"f32": ir.FloatType(), "f64": ir.DoubleType()}[dtype_name]


def _loader(dtype_name, numba_type):
    @intrinsic
    def load(typingctx, address):
        """The element at `address` (an int64)."""
        def codegen(context, builder, signature, args):
            pointer = builder.inttoptr(args[0], _element_type(dtype_name).as_pointer())
            return builder.load(pointer)
        return numba_type(types.int64), codegen
    return load


def _storer(dtype_name, numba_type):
    @intrinsic
    def store(typingctx, address, value):
        """Write `value` (converted to the element type) at `address`."""
        def codegen(context, builder, signature, args):
            pointer = builder.inttoptr(args[0], _element_type(dtype_name).as_pointer())
            builder.store(context.cast(builder, args[1], signature.args[1], numba_type), pointer)
            return context.get_dummy_value()
        return types.void(types.int64, value), codegen
    return store


load_f32, load_f64 = _loader("f32", types.float32), _loader("f64", types.float64)
store_f32, store_f64 = _storer("f32", types.float32), _storer("f64", types.float64)


def _pointer(numba_type):
    @intrinsic
    def pointer(typingctx, address):
        """The int64 `address` as a typed pointer, for numba.carray."""
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
        return types.CPointer(numba_type)(types.int64), codegen
    return pointer


pointer_f32, pointer_f64 = _pointer(types.float32), _pointer(types.float64)
pointer_i64, pointer_i32 = _pointer(types.int64), _pointer(types.int32)


@intrinsic
def load_i64(typingctx, address):
    """The int64 at `address`."""
    def codegen(context, builder, signature, args):
        return builder.load(builder.inttoptr(args[0], ir.IntType(64).as_pointer()))
    return types.int64(types.int64), codegen


@intrinsic
def store_i64(typingctx, address, value):
    """Write `value` (converted to int64) at `address`."""
    def codegen(context, builder, signature, args):
        pointer = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        builder.store(context.cast(builder, args[1], signature.args[1], types.int64), pointer)
        return context.get_dummy_value()
    return types.void(types.int64, value), codegen


# ---------------------------------------------------------------- parts: work split between threads
# A part is a kernel `void part(int64 block, int64 chunk, int64 chunks)`: it reads its arguments from the
# block (int64 slots at that address; floats stored as float64) and does the chunk-th of `chunks` shares.
# One parallel kernel runs the parts of everything (staticnet/codegen/kernel_layer.py, RUN_PARTS), so a
# model's kernels are all serial code, quick to compile.

_PART_TYPE = ir.FunctionType(ir.VoidType(), [ir.IntType(64)] * 3)


@intrinsic(prefer_literal=True)
def address_of(typingctx, symbol):
    """The address of the part registered as `symbol` (a string constant), resolved when linked."""
    if not isinstance(symbol, types.StringLiteral):
        return None
    name = symbol.literal_value

    def codegen(context, builder, signature, args):
        from numba.core import cgutils
        function = cgutils.get_or_insert_function(builder.module, _PART_TYPE, name)
        return builder.ptrtoint(function, ir.IntType(64))
    return types.int64(symbol), codegen


@intrinsic
def call_part(typingctx, function, block, chunk, chunks):
    """Run the part at address `function` on one chunk."""
    def codegen(context, builder, signature, args):
        builder.call(builder.inttoptr(args[0], _PART_TYPE.as_pointer()), list(args[1:]))
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64, types.int64), codegen


@intrinsic
def call_runner(typingctx, runner, part, block, chunks, threads):
    """Run the part at address `part` through the runner at address `runner` (both known only at run time,
    so that neither is compiled until a product is large enough to be split)."""
    def codegen(context, builder, signature, args):
        runner_type = ir.FunctionType(ir.VoidType(), [ir.IntType(64)] * 4)
        builder.call(builder.inttoptr(args[0], runner_type.as_pointer()), list(args[1:]))
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64, types.int64, types.int64), codegen
