"""Matrix products.

The primitive `matmul` is (..., K) @ (K, F) -> (..., F): a matrix, or a stack of rows
such as image patches or time steps, times a matrix.  Its weight gradient is
`contract`, (..., K) x (..., F) -> (K, F), the sum of outer products over every
leading position.  Vectors are reshaped around the primitive.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..graph import fail, fmt_shape, make_node
from .shape_rules import require_float
from ..onnx_support import Plan, conv_attributes, same_operands
from ..registry import has_trait, register


def _matmul_shape(a, b):
    dtype = require_float(a, b)
    if a.ndim < 2 or b.ndim != 2:
        raise ShapeError(f"{fmt_shape(a.shape)} @ {fmt_shape(b.shape)}: the primitive needs (..., K) @ (K, F)")
    _check_inner(a.shape, b.shape)
    return a.shape[:-1] + (b.shape[1],), dtype


def _check_inner(sa, sb):
    inner_a, inner_b = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
    if inner_a != inner_b:
        fmt = lambda d: "the batch" if d is None else str(d)  # noqa: E731
        raise ShapeError(f"{fmt_shape(sa)} @ {fmt_shape(sb)}: inner dimensions {fmt(inner_a)} and {fmt(inner_b)} differ")


def _matmul_grad(node, g):
    a, b = node.inputs
    weight_grad = matmul(transpose_2d(a), g) if a.ndim == 2 else contract(a, g)
    return matmul(g, transpose_2d(b)), weight_grad


def transpose_2d(x):
    from .shape import transpose
    return transpose(x)


def _onnx_convolution(product):
    """patches(x) @ W with W a leaf (conv2d's im2col and weights) as one Conv, the weights permuted from
    (kh*kw*C, F) rows in (i, j, channel) order to ONNX's (F, C, kh, kw); None for any other product."""
    patches, weights = product.inputs
    if not has_trait(patches, "patches") or weights.op not in ("param", "constant"):
        return None
    attrs = patches.attrs
    x = patches.inputs[0]
    kernel = weights.value.reshape(attrs["kh"], attrs["kw"], x.shape[3], weights.shape[1]).transpose(3, 2, 0, 1)

    def emit(b, xs, out):
        w = b.initializer(kernel, weights.name or "conv_weights")
        return b.to_nhwc(b.node("Conv", [b.to_nchw(xs[0]), w], **conv_attributes(attrs)), out)
    return Plan((x,), emit)


def _onnx_matmul(node, b):
    """MatMul, or one Conv for the product of a convolution's patches with its weights."""
    return _onnx_convolution(node) or Plan(node.inputs, lambda b, xs, out: b.node("MatMul", xs, out))


def _import_gemm(imp, operands, attrs):
    """alpha op(A) op(B) + beta C; a transposed B initializer is stored transposed, (in, out) like dense's W."""
    alpha, beta = attrs.take("alpha", 1.0), attrs.take("beta", 1.0)
    a, b_name = imp.tensor(operands[0]), operands[1]
    if attrs.take("transA", 0):
        a = imp.transpose(a, (1, 0))
    if attrs.take("transB", 0):
        b = (imp.parameter(b_name, imp.arrays[b_name].T) if b_name in imp.arrays
             else imp.transpose(imp.tensor(b_name), (1, 0)))
    else:
        b = imp.tensor(b_name)
    y = matmul(a, b)
    if alpha != 1.0:
        y = y * alpha
    c = imp.optional(operands, 2)
    if c is not None:
        c = imp.tensor(c)
        y = y + (c * beta if beta != 1.0 else c)
    return [y]


register("matmul", shape=_matmul_shape, numpy=np.matmul, grad=_matmul_grad, kind="gemm", product=True, infix=(" @ ", 2),
         onnx_export=_onnx_matmul, onnx_import={"MatMul": same_operands(lambda a, b: matmul(a, b)),
                                                "Gemm": _import_gemm})


def _contract_shape(a, g):
    dtype = require_float(a, g)
    if a.shape[:-1] != g.shape[:-1]:
        raise ShapeError(f"{fmt_shape(a.shape)} and {fmt_shape(g.shape)}: leading dimensions differ")
    return (a.shape[-1], g.shape[-1]), dtype


def _contract_ref(a, g):
    return a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1])


def _contract_grad(node, d):
    a, g = node.inputs
    return matmul(g, transpose_2d(d)), matmul(a, d)


register("contract", shape=_contract_shape, numpy=_contract_ref, grad=_contract_grad, kind="gemm", product=True)


def contract(a, g):
    """sum over all leading positions p of outer(a[p], g[p]): (..., K), (..., F) -> (K, F)."""
    return make_node("contract", (a, g))


def matmul(a, b):
    """a @ b for matrices, a stack of rows (..., K) and a matrix, or a matrix and a vector (either side)."""
    from .elementwise import lifted
    from .shape import reshape

    a, b = lifted("matmul", (a, b))
    if a.ndim < 1 or b.ndim not in (1, 2) or a.ndim + b.ndim == 2 or (a.ndim > 2 and b.ndim != 2):
        fail(ShapeError, "matmul", f"{fmt_shape(a.shape)} @ {fmt_shape(b.shape)}: operands must be matrices, "
                                   "(..., K) and a matrix, or a matrix and a vector (use sn.sum(a * b) for a dot product)")
    try:
        _check_inner(a.shape, b.shape)
    except ShapeError as e:
        fail(ShapeError, "matmul", str(e))
    if b.ndim == 1:
        return reshape(make_node("matmul", (a, reshape(b, (b.shape[0], 1)))), a.shape[:-1])
    if a.ndim == 1:
        return reshape(make_node("matmul", (reshape(a, (1, a.shape[0])), b)), (b.shape[1],))
    return make_node("matmul", (a, b))
