"""Ops that move elements around: reshape, flatten, transpose, broadcast."""
from __future__ import annotations

import math

import numpy as np

from ..checks import is_integer
from ..errors import ShapeError
from ..graph import fail, fmt_shape, make_node, require_tensor
from ..onnx_support import Plan, Unsupported
from ..registry import ATOM, register


def _runtime_shape(shape):
    return tuple(-1 if d is None else d for d in shape)


def _reshape_shape(x, shape):
    return shape, x.dtype


def _lower_reshape(node, d):
    """A view of its input's buffer (every array is contiguous), except to or from a scalar, a local of the step."""
    from ..codegen.driver import ABI_DTYPE, cast_to
    source = node.inputs[0]
    if node.id in d.plan.view_of:
        return
    if node.shape == ():
        d.assign(node, cast_to(f"abi.load_{ABI_DTYPE[source.dtype.name]}({d.address(source)})", node.dtype))
    else:
        d.line(f"abi.store_{ABI_DTYPE[node.dtype.name]}({d.address(node)}, {d.value(source)})")


def _onnx_reshape(node, b):
    target = [-1 if d is None else d for d in node.attrs["shape"]]
    return Plan(node.inputs, lambda b, xs, out: b.node("Reshape", [xs[0], b.ints(target)], out))


def _reshape_notation(node, args, top):
    """Inside an expression, the values it reshapes; as the whole expression, the reshape."""
    return (f"reshape({args[0][0]}, {fmt_shape(node.shape)})", ATOM) if top else args[0]


def _import_flatten(imp, operands, attrs):
    x = imp.tensor(operands[0])
    axis = attrs.take("axis", 1)
    if axis % x.ndim != 1:
        raise Unsupported(f"axis={axis}: staticnet flattens everything after the batch axis (axis=1)")
    return [imp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))]


def _import_reshape(imp, operands, attrs):
    x = imp.tensor(operands[0])
    allow_zero = attrs.take("allowzero", 0)
    target = [int(d) for d in imp.known(operands[1], "shape")]
    target = [x.shape[i] if d == 0 and not allow_zero else d for i, d in enumerate(target)]
    if None in target and -1 in target:  # the batch copied by a 0 and one size to infer: infer it here
        rest = math.prod(d for d in x.shape if d is not None) // math.prod(d for d in target if d not in (None, -1))
        target = [rest if d == -1 else d for d in target]
    return [imp.reshape(x, target)]


def _import_squeeze(imp, operands, attrs):
    x = imp.tensor(operands[0])
    axes = imp.axes(operands, attrs)
    axes = {a % x.ndim for a in axes} if axes is not None else {i for i, d in enumerate(x.shape) if d == 1}
    return [imp.reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])]


def _import_unsqueeze(imp, operands, attrs):
    x = imp.tensor(operands[0])
    axes = imp.axes(operands, attrs)
    rank = x.ndim + len(axes)
    axes = {a % rank for a in axes}
    dims = iter(x.shape)
    return [imp.reshape(x, [1 if i in axes else next(dims) for i in range(rank)])]


register("reshape", shape=_reshape_shape, numpy=lambda x, shape: np.reshape(x, _runtime_shape(shape)),
         grad=lambda n, g: (reshape(g, n.inputs[0].shape),), kind="shape", lower=_lower_reshape,
         view=True, aliases_input=True, notation=_reshape_notation, onnx_export=_onnx_reshape,
         onnx_import={"Flatten": _import_flatten, "Reshape": _import_reshape, "Squeeze": _import_squeeze,
                      "Unsqueeze": _import_unsqueeze},
         row_wise=lambda node, views: node.id in views)  # a view of the same rows; a copy is not split


def reshape(x, shape):
    """x with a new shape of as many elements; None keeps the batch, one -1 is inferred."""
    shape = (shape,) if is_integer(shape) else tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if shape.count(-1) + shape.count(None) > 1 or any(d is not None and (not is_integer(d) or d < -1 or d == 0)
                                                      for d in shape):
        fail(ShapeError, "reshape", f"{fmt_shape(x.shape)} -> {fmt_shape(shape)}: the target may hold positive ints "
                                    "and one None (the batch) or one -1")
    if (None in x.shape) != (None in shape) and -1 not in shape:
        fail(ShapeError, "reshape", f"{fmt_shape(x.shape)} -> {fmt_shape(shape)}: the batch dimension (None) must be kept")
    if None in x.shape and -1 in shape:
        shape = tuple(None if d == -1 else d for d in shape)
    known = math.prod(d for d in x.shape if d is not None)
    target = math.prod(d for d in shape if d not in (None, -1))
    if -1 in shape:
        if known % target:
            fail(ShapeError, "reshape", f"{fmt_shape(x.shape)} -> {fmt_shape(shape)}: {known} elements do not divide into {target}")
        shape = tuple(known // target if d == -1 else d for d in shape)
    elif known != target:
        fail(ShapeError, "reshape", f"{fmt_shape(x.shape)} -> {fmt_shape(shape)}: {known} elements per example cannot become {target}")
    shape = tuple(None if d is None else int(d) for d in shape)
    return x if shape == x.shape else make_node("reshape", (x,), {"shape": shape})


def flatten(x):
    """Keep the first (batch) axis and flatten the rest: (None, 20, 12, 12) -> (None, 2880)."""
    require_tensor("flatten", x)
    if x.ndim < 2:
        fail(ShapeError, "flatten", f"needs at least 2 dimensions (batch first), got shape {fmt_shape(x.shape)}")
    return reshape(x, (x.shape[0], math.prod(x.shape[1:])))


def _transpose_shape(x, axes):
    return tuple(x.shape[a] for a in axes), x.dtype


def _transpose_notation(node, args, top):
    """x.T for a matrix."""
    if node.ndim != 2:
        return f"transpose({args[0][0]})", ATOM
    return (f"{args[0][0]}.T" if args[0][1] == ATOM else f"({args[0][0]}).T"), ATOM


def _import_transpose(imp, operands, attrs):
    x = imp.tensor(operands[0])
    return [imp.transpose(x, attrs.take("perm", list(reversed(range(x.ndim)))))]


def _lower_transpose(node, d):
    """A transpose that no product absorbed as a flag is copied, so that every array stays contiguous."""
    from ..codegen.elementwise import permute_kernel
    x = node.inputs[0]
    d.run(permute_kernel(x.ndim, node.attrs["axes"], x.dtype.name), x.shape, [x], [d.address(node)])


register("transpose", shape=_transpose_shape, numpy=lambda x, axes: np.transpose(x, axes),
         grad=lambda n, g: (transpose(g, tuple(np.argsort(n.attrs["axes"]).tolist())),), kind="shape",
         lower=_lower_transpose, view=True, notation=_transpose_notation, onnx_import={"Transpose": _import_transpose},
         onnx_export=lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node(
             "Transpose", xs, out, perm=list(node.attrs["axes"]))))


def transpose(x, axes=None):
    """Permute the axes (reverse them by default)."""
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    if sorted(axes) != list(range(x.ndim)):
        fail(ShapeError, "transpose", f"axes {axes} are not a permutation of the {x.ndim} axes of shape {fmt_shape(x.shape)}")
    return make_node("transpose", (x,), {"axes": axes})

