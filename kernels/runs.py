"""Whole runs of contiguous values moved or updated as single vector operations.

Numba keeps LLVM's SLP vectoriser off (numba PR 8852: it miscompiled), and LLVM unrolls a loop
with a small constant trip count completely before the loop vectoriser sees it, so a loop over a
window row of 5 values or the 25 taps of a patch runs one value at a time.  These intrinsics emit
the vector instructions directly when the length is a literal (the generated code passes static
shapes), on flat C-contiguous arrays; kernels call them from their innermost loops.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _flat_pair(a, b):
    return all(isinstance(v, types.Array) and v.ndim == 1 and v.layout == "C" for v in (a, b)) and a.dtype == b.dtype


def _element_pointers(context, builder, signature, args, dst_at, src_at):
    """Pointers to dst[dst_start] and src[src_start]; the arrays and starts sit at these argument positions."""
    dst = context.make_array(signature.args[dst_at])(context, builder, args[dst_at])
    src = context.make_array(signature.args[src_at])(context, builder, args[src_at])
    return builder.gep(dst.data, [args[dst_at + 1]]), builder.gep(src.data, [args[src_at + 1]])


@intrinsic
def copy_run(typingctx, dst, dst_start, src, src_start, length):
    """dst[dst_start:dst_start + length] = src[src_start:src_start + length]: one vector load and store when
    length is a literal, memcpy otherwise."""
    if not _flat_pair(dst, src):
        return None

    def codegen(context, builder, signature, args):
        to, source = _element_pointers(context, builder, signature, args, 0, 2)
        element = context.get_data_type(signature.args[0].dtype)
        if isinstance(length, types.IntegerLiteral):
            vector = ir.VectorType(element, length.literal_value).as_pointer()
            builder.store(builder.load(builder.bitcast(source, vector), align=1), builder.bitcast(to, vector), align=1)
        else:
            cgutils.raw_memcpy(builder, to, source, args[4], context.get_abi_sizeof(element))
        return context.get_dummy_value()
    return types.void(dst, dst_start, src, src_start, length), codegen


@intrinsic
def axpy_run(typingctx, y, y_start, a, x, x_start, length):
    """y[y_start:y_start + length] += a * x[x_start:x_start + length] as one vector fused multiply-add
    (length must be a literal; the arrays float32 or float64)."""
    if not (_flat_pair(y, x) and isinstance(length, types.IntegerLiteral) and y.dtype in (types.float32, types.float64)):
        return None
    count = length.literal_value

    def codegen(context, builder, signature, args):
        target, source = _element_pointers(context, builder, signature, args, 0, 3)
        element = context.get_data_type(signature.args[0].dtype)
        vector = ir.VectorType(element, count)
        scalar = context.cast(builder, args[2], signature.args[2], signature.args[0].dtype)
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), count), [0] * count)
        scale = builder.shuffle_vector(builder.insert_element(ir.Constant(vector, ir.Undefined), scalar,
                                                              ir.Constant(ir.IntType(32), 0)),
                                       ir.Constant(vector, ir.Undefined), lanes)
        bits = 32 if signature.args[0].dtype == types.float32 else 64
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3),
                                             f"llvm.fma.v{count}f{bits}")
        target, source = builder.bitcast(target, vector.as_pointer()), builder.bitcast(source, vector.as_pointer())
        align = context.get_abi_sizeof(element)
        total = builder.call(fma, [scale, builder.load(source, align=align), builder.load(target, align=align)])
        builder.store(total, target, align=align)
        return context.get_dummy_value()
    return types.void(y, y_start, a, x, x_start, length), codegen
