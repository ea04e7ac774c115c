"""Pooling over NHWC windows: max, average, and L2 (the root of the sum of squares)."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..graph import fail, fmt_shape, make_node, require_tensor
from ..codegen.kernel_layer import ABI_POINTER, split_kernel
from ..codegen.library import Literal, by_address
from .composite import register_composite
from .reduce import max as max_over, mean
from .shape_rules import require_float
from ..onnx_support import Plan, Unsupported
from ..registry import register


def _pool_shape(x, ph, pw, sh, sw):
    if x.ndim != 4:
        raise ShapeError(f"input {fmt_shape(x.shape)} must be (batch, height, width, channels)")
    if ph > x.shape[1] or pw > x.shape[2]:
        raise ShapeError(f"a {ph}x{pw} window is larger than the input {x.shape[1]}x{x.shape[2]}")
    return (x.shape[0], (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1, x.shape[3]), require_float(x)


def _windows(x, ph, pw, sh, sw, out_h, out_w):
    """Each window offset (i, j) with the strided view of x it reads."""
    for i in range(ph):
        for j in range(pw):
            yield i, j, x[:, i:i + sh * out_h:sh, j:j + sw * out_w:sw, :]


def _max_ref(x, ph, pw, sh, sw):
    out_h, out_w = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    return np.max([view for _, _, view in _windows(x, ph, pw, sh, sw, out_h, out_w)], axis=0)


def _max_grad_ref(x, pooled, g, ph, pw, sh, sw):
    out_h, out_w = pooled.shape[1], pooled.shape[2]
    dx = np.zeros_like(x)
    taken = np.zeros(pooled.shape, bool)
    for i, j, view in _windows(x, ph, pw, sh, sw, out_h, out_w):
        first = (view == pooled) & ~taken
        dx[:, i:i + sh * out_h:sh, j:j + sw * out_w:sw, :] += np.where(first, g, 0)
        taken |= first
    return dx


def _avg_ref(x, ph, pw, sh, sw):
    out_h, out_w = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    return np.mean([view for _, _, view in _windows(x, ph, pw, sh, sw, out_h, out_w)], axis=0).astype(x.dtype)


def _avg_grad_ref(g, like, ph, pw, sh, sw):
    dx = np.zeros_like(like)
    for i in range(ph):
        for j in range(pw):
            dx[:, i:i + sh * g.shape[1]:sh, j:j + sw * g.shape[2]:sw, :] += g / (ph * pw)
    return dx


def _window(attrs):
    """Window and stride as constants of the kernel (kernels/pool.py says why)."""
    return [Literal(attrs[k]) for k in ("ph", "pw", "sh", "sw")]


def _pool_lowering(kernel):
    def lower(node, d):
        d.library(kernel, [d.array(t) for t in node.inputs] + [d.array(node)] + _window(node.attrs))
    return lower


def _lower_max_contract(node, d):
    """The filter gradient in blocks of images, the blocks shared among the threads and added in order."""
    params, arguments, views = by_address([d.array(t) for t in node.inputs] + [d.array(node)])
    patches, x, pooled, g, out = views
    geometry = ", ".join(str(node.attrs[k]) for k in ("ph", "pw", "sh", "sw")) + f", {node.inputs[0].shape[-1]}"
    before = ["blocks = K.pool.contract_blocks(a1_0)", f"parts = np.empty((blocks, a1_3 * a0_3), np.{node.dtype.name})",
              "parts_at, width = parts.ctypes.data, parts.shape[1]"]
    parts_view = f"P = carray(abi.pointer_{ABI_POINTER[node.dtype.name][:3]}(parts_at), (blocks, width))"
    part = [parts_view, f"K.pool.max_pool_contract_block({patches}, {x}, {pooled}, {g}, P, {geometry}, chunk)"]
    kernel = split_kernel("max_pool_contract", params + [("threads", "i64")],
                          [("blocks", "i64"), ("parts_at", "i64"), ("width", "i64")], part,
                          f"The filter gradient of a max-pooled convolution, window {geometry}", before=before,
                          finish=[parts_view, f"K.pool.sum_blocks(P, {out})"], chunks="blocks", keep=["parts"])
    d.call(kernel, arguments + ["threads"])


def _onnx_pool(op_type):
    """ONNX's pools are NCHW: transposes around it keep NHWC outside."""
    def plan(node, b):
        attrs = {"kernel_shape": [node.attrs["ph"], node.attrs["pw"]], "strides": [node.attrs["sh"], node.attrs["sw"]]}
        return Plan(node.inputs, lambda b, xs, out: b.to_nhwc(b.node(op_type, [b.to_nchw(xs[0])], **attrs), out))
    return plan


def _import_pool(op, own_attributes):
    """ONNX's NCHW pool of whole, unpadded windows as `op` between transposes; own_attributes(attrs) reads the
    attributes only that pool has."""
    def translate(imp, operands, attrs):
        x = imp.tensor(operands[0])
        ph, pw = attrs.positive_pair("kernel_shape", None)
        sh, sw = attrs.positive_pair("strides")
        if any(attrs.pads(x, (ph, pw), (sh, sw))):
            raise Unsupported("padding is not supported (staticnet pools unpadded windows)")
        if attrs.take("ceil_mode", 0) and ((x.shape[2] - ph) % sh or (x.shape[3] - pw) % sw):
            raise Unsupported("ceil_mode=1 adds a partial window here; staticnet pools whole windows only")
        attrs.ones("dilations", op)
        own_attributes(attrs)
        pooled = make_node(op, (imp.to_nhwc(x, op),), {"ph": ph, "pw": pw, "sh": sh, "sw": sw})
        return [imp.to_nchw(pooled)]
    return translate


def _storage_order(attrs):
    attrs.require("storage_order", [0], 0)


def _count_include_pad(attrs):
    attrs.take("count_include_pad")  # no padding: every window counts the same


register("max_pool2d", shape=_pool_shape, numpy=_max_ref, kind="opaque", row_wise=True, parallel_rows=True,
         grad=lambda n, g: (make_node("max_pool2d_grad", (n.inputs[0], n, g), n.attrs),),
         lower=_pool_lowering("pool.max_pool"), onnx_export=_onnx_pool("MaxPool"),
         onnx_import={"MaxPool": _import_pool("max_pool2d", _storage_order)})
register("max_pool2d_grad", shape=lambda x, pooled, g, **a: (x.shape, x.dtype), numpy=_max_grad_ref, grad=None,
         kind="opaque", row_wise=True, parallel_rows=True,
         lower=_pool_lowering("pool.max_pool_grad"))


def _max_contract_shape(patches, x, pooled, g, **attrs):
    if patches.shape[:-1] != x.shape[:-1]:
        raise ShapeError(f"patches {fmt_shape(patches.shape)} and pooling input {fmt_shape(x.shape)}: positions differ")
    return (patches.shape[-1], x.shape[-1]), require_float(patches, x)


def _max_contract_ref(patches, x, pooled, g, ph, pw, sh, sw):
    from .linalg import _contract_ref
    return _contract_ref(patches, _max_grad_ref(x, pooled, g, ph, pw, sh, sw))


# contract(patches, max_pool2d_grad(...)) as one kernel: the filter gradient of a max-pooled convolution
# (passes/fuse_pool_contract.py); the pooling gradient stays inside the kernel.
register("max_pool_contract", shape=_max_contract_shape, numpy=_max_contract_ref, grad=None, kind="opaque",
         lower=_lower_max_contract)


def max_pool_contract(patches, x, pooled, g, window, loc):
    """The filter gradient contract(patches, max_pool2d_grad(x, pooled, g)) as one node (`window`: the pooling's
    attributes), for passes/fuse_pool_contract.py."""
    return make_node("max_pool_contract", (patches, x, pooled, g), window, loc=loc)
def _avg_grad_lowering(node, d):
    d.library("pool.avg_pool_grad", [d.array(node.inputs[0]), d.array(node)] + _window(node.attrs))


register("avg_pool2d", shape=_pool_shape, numpy=_avg_ref, kind="opaque", row_wise=True, parallel_rows=True,
         grad=lambda n, g: (make_node("avg_pool2d_grad", (g, n.inputs[0]), n.attrs),),
         lower=_pool_lowering("pool.avg_pool"), onnx_export=_onnx_pool("AveragePool"),
         onnx_import={"AveragePool": _import_pool("avg_pool2d", _count_include_pad)})
register("avg_pool2d_grad", shape=lambda g, like, **a: (like.shape, like.dtype), numpy=_avg_grad_ref,
         grad=lambda n, d: (make_node("avg_pool2d", (d,), n.attrs), None), kind="opaque",
         row_wise=True, parallel_rows=True, lower=_avg_grad_lowering)


def _attrs(op, window, stride):
    from .conv import _pair
    ph, pw = _pair(op, "window", window)
    sh, sw = _pair(op, "stride", stride if stride is not None else (ph, pw))
    return {"ph": ph, "pw": pw, "sh": sh, "sw": sw}


def max_pool2d(x, window=2, stride=None):
    """The largest value of each window (stride defaults to the window: no overlap)."""
    return make_node("max_pool2d", (x,), _attrs("max_pool2d", window, stride))


def avg_pool2d(x, window=2, stride=None):
    """The mean of each window."""
    return make_node("avg_pool2d", (x,), _attrs("avg_pool2d", window, stride))


def l2_pool2d(x, window=2, stride=None, eps=1e-12):
    """sqrt(sum of squares over each window); eps keeps the gradient finite where a window is all zeros."""
    from .elementwise import sqrt, square
    require_tensor("l2_pool2d", x)
    attrs = _attrs("l2_pool2d", window, stride)
    return sqrt(make_node("avg_pool2d", (square(x),), attrs, called="l2_pool2d") * float(attrs["ph"] * attrs["pw"]) + eps)


def _global_pool(op, reduction, onnx_type):
    """Register `op`, NHWC -> (batch, channels): `reduction` over the height and width, which ONNX writes as
    `onnx_type` on NCHW (its (batch, channels, 1, 1) result flattened). A reduction rather than a pool of one
    window as large as the image, whose taps the pooling kernels would unroll."""
    def export(node, b):
        return Plan(node.inputs, lambda b, xs, out: b.node("Flatten", [b.node(onnx_type, [b.to_nchw(xs[0])])], out,
                                                           axis=1))

    def translate(imp, operands, attrs):
        pooled = make_node(op, (imp.to_nhwc(imp.tensor(operands[0]), op),), called=op)
        return [imp.reshape(pooled, pooled.shape + (1, 1))]
    register_composite(op, lambda x: reduction(x, (1, 2)), onnx_export=export, onnx_import={onnx_type: translate})


_global_pool("global_avg_pool2d", mean, "GlobalAveragePool")
_global_pool("global_max_pool2d", max_over, "GlobalMaxPool")


def _global(op, x):
    require_tensor(op, x)
    if x.ndim != 4 or None in x.shape[1:]:
        fail(ShapeError, op, f"input {fmt_shape(x.shape)} must be (batch, height, width, channels)")
    return make_node(op, (x,), called=op)


def global_avg_pool2d(x):
    """The mean of each channel over the whole image: NHWC (batch, h, w, c) -> (batch, c)."""
    return _global("global_avg_pool2d", x)


def global_max_pool2d(x):
    """The largest value of each channel over the whole image: NHWC (batch, h, w, c) -> (batch, c). Ties share
    the gradient equally (sn.max's rule)."""
    return _global("global_max_pool2d", x)
