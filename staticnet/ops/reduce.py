"""Reductions over axes: sum, mean, max, the element count they divide by, and broadcasting, whose gradient
is a sum as a sum's gradient is a broadcast."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..graph import fail, fmt_shape, lift, make_node, require_tensor
from ..onnx_support import Plan
from ..registry import ATOM, no_gradient, register
from .shape_rules import broadcast_shapes, normalize_axes, require_float
from .shape import reshape


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_shape(x, axes, keepdims):
    return _reduced_shape(x.shape, axes, keepdims), require_float(x)


def _restore(g, node):
    """The incoming gradient broadcast back over the reduced axes of node's input."""

    x = node.inputs[0]
    axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
    if not keepdims:
        g = reshape(g, _reduced_shape(x.shape, axes, True))
    return broadcast_like(g, x)


def _sum_grad(node, g):
    return (_restore(g, node),)


def _max_grad(node, g):
    x = node.inputs[0]
    hits = make_node("equal", (x, _restore(node, node)))
    ties = _restore(sum(hits, node.attrs["axes"], keepdims=node.attrs["keepdims"]), node)
    return (_restore(g, node) * hits / ties,)


def _lower_reduce(node, d):
    from ..codegen.driver import cast_to
    from ..codegen.elementwise import reduce_kernel
    x = node.inputs[0]
    scalar = node.shape == ()
    plan = reduce_kernel(x.shape, node.attrs["axes"], node.op == "max", x.dtype.name, scalar)
    if scalar:
        total = d.temp("total")
        d.run(plan, x.shape, [x], [], total)
        d.assign(node, cast_to(total, node.dtype))
    else:
        d.run(plan, x.shape, [x], [d.address(node)])


def _onnx_reduction(op_type):
    def plan(node, b):
        return Plan(node.inputs, lambda b, xs, out: b.reduce(op_type, xs[0], node.attrs["axes"],
                                                            node.attrs["keepdims"], out))
    return plan


def _sum_notation(node, args, top):
    """sum(x) over every axis, else sum(x, axis=...)."""
    axes = node.attrs["axes"]
    where = "" if axes is None or len(axes) == node.inputs[0].ndim else f", axis={axes[0] if len(axes) == 1 else axes}"
    return f"sum({args[0][0]}{where})", ATOM


def _import_reduction(build):
    """ReduceSum, ReduceMax, ReduceMean: axes from the attribute or the input (opset 13 or 18 on)."""
    def translate(imp, operands, attrs):
        x = imp.tensor(operands[0])
        keepdims = bool(attrs.take("keepdims", 1))
        attrs.require("noop_with_empty_axes", [0], 0)
        axes = imp.axes(operands, attrs)
        return [build(x, tuple(axes) if axes else None, keepdims)]
    return translate


def _weighted_sum(node, inputs, w):
    """A sum over the batch rows, each row's values times its weight: sum_i w_i x_i (weights (batch,))."""
    x = inputs[0]
    return sum(x * reshape(w, (None,) + (1,) * (x.ndim - 1)), node.attrs["axes"], node.attrs["keepdims"])


register("sum", shape=_reduce_shape, numpy=lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
         grad=_sum_grad, kind="reduce", lower=_lower_reduce, notation=_sum_notation, row_weighted=_weighted_sum,
         onnx_export=_onnx_reduction("ReduceSum"),
         onnx_import={"ReduceSum": _import_reduction(lambda x, axes, keepdims: sum(x, axes, keepdims)),
                      # a mean is a sum divided by the count
                      "ReduceMean": _import_reduction(lambda x, axes, keepdims: mean(x, axes, keepdims))})
register("max", shape=_reduce_shape, numpy=lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
         grad=_max_grad, kind="reduce", lower=_lower_reduce, onnx_export=_onnx_reduction("ReduceMax"),
         onnx_import={"ReduceMax": _import_reduction(lambda x, axes, keepdims: max(x, axes, keepdims))})


def _axes(op, x, axis):
    try:
        return normalize_axes(axis, x.ndim, x.shape)
    except ShapeError as e:
        fail(ShapeError, op, str(e))


def _build(op, x, axis, keepdims):
    return make_node(op, (x,), {"axes": _axes(op, x, axis), "keepdims": bool(keepdims)})


def sum(x, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy
    """Sum over `axis` (an int, a tuple, or None for all)."""
    return _build("sum", x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Largest element over `axis`; ties share the gradient equally."""
    return _build("max", x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Average over `axis`; over the batch axis it divides by the run-time batch size."""
    require_tensor("mean", x)
    axes = _axes("mean", x, axis)
    return make_node("sum", (x,), {"axes": axes, "keepdims": bool(keepdims)}) / count(x, axes)


def _count_shape(x, axes):
    return (), x.dtype


def _lower_count(node, d):
    from ..codegen.driver import cast_to, product
    x = node.inputs[0]
    dims = d.dims(x)
    d.assign(node, cast_to(product(dims[a] for a in node.attrs["axes"]), node.dtype))


def _onnx_count(node, b):
    """How many elements lie along the axes, from the run-time shape (the batch is among them)."""
    def emit(b, xs, out):
        sizes = b.node("Gather", [b.node("Shape", xs), b.ints(node.attrs["axes"])], axis=0)
        return b.cast(b.node("ReduceProd", [sizes], keepdims=0), node.dtype, out)
    return Plan(node.inputs, emit)


register("count", shape=_count_shape, numpy=lambda x, axes: np.asarray(np.prod([x.shape[a] for a in axes]), x.dtype),
         grad=no_gradient, kind="shape", lower=_lower_count, onnx_export=_onnx_count,
         row_weighted=lambda node, inputs, w: None,  # the divisor stays n, the row count, weighted or not
         notation=lambda node, args, top: ("n", ATOM) if tuple(node.attrs["axes"]) == (0,) else None)  # the batch


def count(x, axes):
    """How many elements of x lie along `axes`: a constant unless the batch is among them."""
    axes = tuple(axes)
    sizes = [x.shape[a] for a in axes]
    if None not in sizes:
        return lift(float(np.prod(sizes)), x)
    return make_node("count", (x,), {"axes": axes})


def batch_count(x):
    """The number of examples in a batch-first tensor (its first dimension)."""
    return count(x, (0,)) if x.ndim else lift(1.0, x)


# ---------------------------------------------------------------- the squared norm (gradient clipping)

def _lower_sum_of_squares(node, d):
    from ..codegen.driver import cast_to, product
    from ..codegen.library import Array
    x = node.inputs[0]
    total = d.temp("total")
    d.library("norms.sum_of_squares", [Array(d.address(x), x.dtype.name, [product(d.dims(x))])], "f64", total)
    d.assign(node, cast_to(total, node.dtype))


register("sum_of_squares", shape=lambda x: ((), require_float(x)), kind="opaque", lower=_lower_sum_of_squares,
         numpy=lambda x: np.asarray(np.sum(np.square(x), dtype=np.float64), x.dtype),
         grad=lambda n, g: (n.inputs[0] * (g * 2.0),), flops=lambda node, size: 2 * size(node.inputs[0].shape),
         onnx_export=lambda node, b: Plan(node.inputs, lambda b, xs, out: b.reduce(
             "ReduceSumSquare", xs[0], list(range(node.inputs[0].ndim)), False, out)))


def sum_of_squares(x):
    """sum(x^2) over every element, in one pass (no array of squares): a gradient's squared norm. x has no
    batch axis (a sum over the batch rows has no sample weights)."""
    if None in x.shape:
        fail(ShapeError, "sum_of_squares", f"input {fmt_shape(x.shape)} has a batch axis; use sn.sum(sn.square(x))")
    return make_node("sum_of_squares", (x,))


# ---------------------------------------------------------------- broadcasting: the adjoint of a sum

def _broadcast_like_shape(a, ref):
    if broadcast_shapes(a.shape, ref.shape) != ref.shape:
        raise ShapeError(f"{fmt_shape(a.shape)} does not broadcast to {fmt_shape(ref.shape)}")
    return ref.shape, a.dtype


def _broadcast_like_grad(node, g):
    return unbroadcast(g, node.inputs[0].shape), None


register("broadcast_like", shape=_broadcast_like_shape, numpy=lambda a, ref: np.broadcast_to(a, ref.shape),
         grad=_broadcast_like_grad, kind="broadcast", view=True,
         notation=lambda node, args, top: None if top else args[0],  # inside an expression, the value it stretches
         scalar="{0}",  # a loop reads its operand broadcast to the loop's shape
         onnx_export=lambda node, b: Plan(
             node.inputs, lambda b, xs, out: b.node("Expand", [xs[0], b.node("Shape", [xs[1]])], out)))


def broadcast_like(a, ref):
    """a stretched to ref's shape (which may hold the batch dimension)."""
    return make_node("broadcast_like", (a, ref))


def unbroadcast(g: Tensor, shape) -> Tensor:
    """Sum g over the axes that broadcasting stretched, giving it `shape` again."""
    lead = g.ndim - len(shape)
    stretched = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if lead:
        g = sum(g, tuple(range(lead)))
    if stretched:
        g = sum(g, stretched, keepdims=True)
    return g if g.shape == tuple(shape) else reshape(g, shape)
