"""Convolution with shared weights, in NHWC layout: images are (batch, height, width, channels).

`conv2d` is a composite: im2col gathers each output position's window into a row of
patches, and one matmul with the filters (shape (kh*kw*in_channels, filters), rows in
(i, j, channel) order) gives every feature map; bias and activation then join the
product's epilogue, as for dense layers.  The filter gradient is the `contract` of the
patches with the output gradient; the input gradient goes back through col2im.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import GraphError, ShapeError
from ..graph import fail, fmt_shape, layer_scope, make_node, param, require_tensor
from .. import init as initializers
from ..codegen.library import Literal
from .shape_rules import require_float
from ..onnx_support import Plan, Unsupported, conv_attributes
from ..registry import register
from .activations import activation as apply_activation
from .linalg import matmul


def _pair(op, name, value):
    """A size per spatial axis (height, width), given once for both or as a pair."""
    pair = (value, value) if checks.is_integer(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(checks.is_integer(v) and v > 0 for v in pair):
        fail(GraphError, op, f"{name} must be a positive int or a pair of them, got {checks.shown(value)}")
    return int(pair[0]), int(pair[1])


def resolve_padding(op, padding, size, kernel, stride):
    """(before, after) zero padding along one axis for "valid", "same" or an int."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    if checks.is_integer(padding) and padding >= 0:
        return int(padding), int(padding)
    fail(GraphError, op, f"padding must be 'valid', 'same' or a non-negative int, got {checks.shown(padding)}")


def _geometry(x, kh, kw, sh, sw, pads):
    pt, pb, pl, pr = pads
    height, width = x.shape[1] + pt + pb, x.shape[2] + pl + pr
    if kh > height or kw > width:
        raise ShapeError(f"a {kh}x{kw} kernel is larger than the padded input {height}x{width} "
                         f"(input {fmt_shape(x.shape)}, padding {pads})")
    return (height - kh) // sh + 1, (width - kw) // sw + 1


def _im2col_shape(x, kh, kw, sh, sw, pads):
    if x.ndim != 4:
        raise ShapeError(f"input {fmt_shape(x.shape)} must be (batch, height, width, channels)")
    out_h, out_w = _geometry(x, kh, kw, sh, sw, pads)
    return (x.shape[0], out_h, out_w, kh * kw * x.shape[3]), require_float(x)


def _im2col_ref(x, kh, kw, sh, sw, pads):
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    out_h, out_w = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    channels = x.shape[3]
    out = np.empty((x.shape[0], out_h, out_w, kh * kw * channels), x.dtype)
    for i in range(kh):
        for j in range(kw):
            base = (i * kw + j) * channels
            out[..., base:base + channels] = xp[:, i:i + sh * out_h:sh, j:j + sw * out_w:sw, :]
    return out


def _col2im_ref(cols, kh, kw, sh, sw, pads, height, width):
    pt, pb, pl, pr = pads
    channels = cols.shape[3] // (kh * kw)
    out_h, out_w = cols.shape[1], cols.shape[2]
    xp = np.zeros((cols.shape[0], height + pt + pb, width + pl + pr, channels), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            base = (i * kw + j) * channels
            xp[:, i:i + sh * out_h:sh, j:j + sw * out_w:sw, :] += cols[..., base:base + channels]
    return xp[:, pt:pt + height, pl:pl + width, :]


def _im2col_grad(node, g):
    x = node.inputs[0]
    return (make_node("col2im", (g,), dict(node.attrs, height=x.shape[1], width=x.shape[2])),)


def _col2im_shape(cols, kh, kw, sh, sw, pads, height, width):
    return (cols.shape[0], height, width, cols.shape[3] // (kh * kw)), cols.dtype


def _geometry_literals(attrs, padded):
    """Window and stride (and the padding before each axis) as constants of the kernel (kernels/conv.py)."""
    window = [Literal(attrs[k]) for k in ("kh", "kw", "sh", "sw")]
    return window + [Literal(attrs["pads"][0]), Literal(attrs["pads"][2])] if padded else window


def _lower_im2col(node, d):
    """Without padding, the kernel for one channel or for several alone: only the code a layer runs compiles."""
    x, padded = node.inputs[0], any(node.attrs["pads"])
    kernel = "conv.im2col" if padded else ("conv.im2col_one_channel" if x.shape[3] == 1 else "conv.im2col_channels")
    d.library(kernel, [d.array(x), d.array(node)] + _geometry_literals(node.attrs, padded))


def _lower_col2im(node, d):
    padded = any(node.attrs["pads"])
    d.library("conv.col2im" if padded else "conv.col2im_inside",
              [d.array(node.inputs[0]), d.array(node)] + _geometry_literals(node.attrs, padded))


def _onnx_im2col(node, b):
    """im2col alone (its product not with a weight leaf) is a Conv whose kernel copies each window
    position and channel to its own output channel, (i, j, c) -> (i*kw + j)*C + c: exact, as every
    output is one input times 1 plus zeros. ONNX's Conv is NCHW: transposes around it keep NHWC outside."""
    kh, kw, channels = node.attrs["kh"], node.attrs["kw"], node.inputs[0].shape[3]
    kernel = np.zeros((kh * kw * channels, channels, kh, kw), node.dtype)
    for i in range(kh):
        for j in range(kw):
            for c in range(channels):
                kernel[(i * kw + j) * channels + c, c, i, j] = 1

    def emit(b, xs, out):
        return b.to_nhwc(b.node("Conv", [b.to_nchw(xs[0]), b.constant(kernel)], **conv_attributes(node.attrs)), out)
    return Plan(node.inputs, emit)


def _import_conv(imp, operands, attrs):
    """NCHW Conv as staticnet's NHWC im2col product: the kernel (F, C, kh, kw) becomes (kh*kw*C, F)."""
    x = imp.tensor(operands[0])
    kernel = imp.known(operands[1], "kernel")
    if kernel.ndim != 4:
        raise Unsupported(f"kernel of shape {kernel.shape}: staticnet imports 2-D convolutions")
    filters, channels, kh, kw = kernel.shape
    attrs.require("group", [1], 1)
    attrs.ones("dilations", "conv2d")
    shape = attrs.take("kernel_shape", [kh, kw])
    if list(shape) != [kh, kw]:
        raise Unsupported(f"kernel_shape {list(shape)} differs from the kernel's {[kh, kw]}")
    sh, sw = attrs.positive_pair("strides")
    pads = attrs.pads(x, (kh, kw), (sh, sw))
    images = imp.to_nhwc(x, "conv2d")
    patches = make_node("im2col", (images,), {"kh": kh, "kw": kw, "sh": sh, "sw": sw, "pads": pads}, called="conv2d")
    weights = imp.parameter(operands[1], kernel.transpose(2, 3, 1, 0).reshape(kh * kw * channels, filters))
    y = matmul(patches, weights)
    bias = imp.optional(operands, 2)
    if bias is not None:
        y = y + imp.tensor(bias)
    return [imp.to_nchw(y)]


register("im2col", shape=_im2col_shape, numpy=_im2col_ref, grad=_im2col_grad, kind="opaque",
         row_wise=True, parallel_rows=True, lower=_lower_im2col, patches=True, onnx_export=_onnx_im2col,
         onnx_import={"Conv": _import_conv})
register("col2im", shape=_col2im_shape, numpy=_col2im_ref, kind="opaque", row_wise=True, parallel_rows=True,
         grad=lambda node, g: (make_node("im2col", (g,), {k: v for k, v in node.attrs.items() if k not in ("height", "width")}),),
         lower=_lower_col2im)


def conv2d(x, filters: int, kernel_size, stride=1, padding="valid", activation=None, init=None, bias_init=None,
           name=None, trainable=True):
    """activation(conv(x, W) + b) for NHWC images; W has shape (kh*kw*in_channels, filters); trainable=False
    freezes W and b."""
    from .nn import layer_name

    require_tensor("conv2d", x)
    if x.ndim != 4:
        fail(ShapeError, "conv2d", f"input {fmt_shape(x.shape)} must be (batch, height, width, channels); "
                                   "reshape flat images with sn.reshape(x, (None, 28, 28, 1))")
    filters = checks.count("conv2d", "filters", filters)
    trainable = checks.flag("conv2d", "trainable", trainable)
    kh, kw = _pair("conv2d", "kernel_size", kernel_size)
    sh, sw = _pair("conv2d", "stride", stride)
    pads = resolve_padding("conv2d", padding, x.shape[1], kh, sh) + resolve_padding("conv2d", padding, x.shape[2], kw, sw)
    name = layer_name("conv", name, x, op="conv2d")
    with layer_scope(name):
        fan_in = kh * kw * x.shape[3]
        W = param(f"{name}/W", (fan_in, filters), init=initializers.resolve(init),
                  dtype=x.dtype if x.is_float else None, trainable=trainable)
        b = param(f"{name}/b", (filters,), init=initializers.resolve(bias_init) or initializers.zeros(), dtype=W.dtype,
                  trainable=trainable)
        patches = make_node("im2col", (x,), {"kh": kh, "kw": kw, "sh": sh, "sw": sw, "pads": pads}, called="conv2d")
        return apply_activation(activation, matmul(patches, W) + b, op="conv2d")
