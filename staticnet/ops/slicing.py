"""Slicing and joining along one axis: x[:, 2:5], concat, split, stack.

Two ops do the work, each on one axis: `slice` (every step-th position from start to stop, NumPy's basic
slicing) and `concat`; `slice_grad` is a slice's adjoint (its gradient in zeros elsewhere). Indexing with
several entries, split and stack are built from them and reshapes, so each has its gradient for free. The
batch axis is never sliced, joined or indexed: its size is known only at run time, and a row of a batch must
stay that row for shuffling, sample weights and the row-wise split among threads.

Each kernel sees its arrays as (outer, axis, inner), so three kernels of kernels/slicing.py serve every rank.
"""
from __future__ import annotations

import numpy as np

from ..checks import is_integer, shown
from ..errors import DTypeError, GraphError, ShapeError
from ..graph import fail, fmt_shape, make_node, require_tensor
from ..onnx_support import Plan, Unsupported
from ..registry import ATOM, register
from .shape import reshape


def _size(d):
    return "batch" if d is None else str(d)


def _three_axes(d, t, axis):
    """t seen as (outer, axis, inner): a free view of a contiguous array."""
    from ..codegen.driver import product
    from ..codegen.library import Array
    dims = d.dims(t)
    return Array(d.address(t), t.dtype.name, [product(dims[:axis]), dims[axis], product(dims[axis + 1:])])


def _numpy_index(axis, start, stop, step):
    """The index of a slice node's positions in NumPy (a backward stop of -1, past the front, is None there)."""
    return (slice(None),) * axis + (slice(start, stop if stop >= 0 else None, step),)


# ---------------------------------------------------------------- slice: one axis, start:stop:step

def _slice_shape(x, axis, start, stop, step):
    if x.shape[axis] is None:
        raise ShapeError(f"axis {axis} of {fmt_shape(x.shape)} is the batch axis, which is never sliced")
    length = len(range(start, stop, step))
    return x.shape[:axis] + (length,) + x.shape[axis + 1:], x.dtype


def _slice_ref(x, axis, start, stop, step):
    return np.ascontiguousarray(x[_numpy_index(axis, start, stop, step)])


def _lower_slice(node, d):
    from ..codegen.library import Integer
    axis = node.attrs["axis"]
    d.library("slicing.take", [_three_axes(d, node.inputs[0], axis), _three_axes(d, node, axis),
                               Integer(str(node.attrs["start"])), Integer(str(node.attrs["step"]))])


def _onnx_slice(node, b):
    """ONNX's Slice with its operands as inputs (opset 10 on); a backward stop of -1 means past the front."""
    a = node.attrs
    stop = a["stop"] if a["stop"] >= 0 else -(2 ** 63)
    return Plan(node.inputs, lambda b, xs, out: b.node(
        "Slice", [xs[0], b.ints([a["start"]]), b.ints([stop]), b.ints([a["axis"]]), b.ints([a["step"]])], out))


def _import_slice(imp, operands, attrs):
    x = imp.tensor(operands[0])
    if imp.opset < 10:
        raise Unsupported("Slice before opset 10 (starts and ends as attributes) is not supported")
    starts = imp.known(operands[1], "starts").tolist()
    ends = imp.known(operands[2], "ends").tolist()
    axes = imp.known(operands[3], "axes").tolist() if imp.optional(operands, 3) else list(range(len(starts)))
    steps = imp.known(operands[4], "steps").tolist() if imp.optional(operands, 4) else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) % x.ndim
        if x.shape[axis] is None:
            if (int(start), int(step)) == (0, 1) and int(end) >= 2 ** 31:  # the whole batch, as torch writes x[:, 1:]
                continue
            raise Unsupported("it slices the batch axis, which staticnet keeps whole")
        # ONNX clamps huge ends (INT64_MAX, INT64_MIN) as Python's slice.indices does
        x = slice_axis(x, axis, slice(int(start), int(end), int(step)))
    return [x]


def _import_split(imp, operands, attrs):
    """Split into the sizes given (an input from opset 13, an attribute before) or into equal parts."""
    x = imp.tensor(operands[0])
    axis = attrs.take("axis", 0) % x.ndim
    sizes = attrs.take("split")
    given = imp.optional(operands, 1)
    if given is not None:
        sizes = imp.known(given, "split").tolist()
    count = attrs.take("num_outputs")
    if sizes is None and count is None:
        raise Unsupported("equal parts counted by the outputs are not supported: give the sizes (split) or "
                          "num_outputs")
    if x.shape[axis] is None:
        raise Unsupported("it splits the batch axis, which staticnet keeps whole")
    if sizes is None:
        part = -(-x.shape[axis] // count)  # ONNX's num_outputs: equal parts, the last one smaller
        sizes = [min(part, x.shape[axis] - k * part) for k in range(count)]
    return split(x, [int(s) for s in sizes], axis)


def _slice_grad_of_slice(node, g):
    a = node.attrs
    return (make_node("slice_grad", (g,), {**a, "size": node.inputs[0].shape[a["axis"]]}),)


def _slice_notation(node, args, top):
    """x[:, 1:7:2], as NumPy writes it."""
    a = node.attrs
    stop = "" if a["stop"] < 0 else str(a["stop"])
    step = "" if a["step"] == 1 else f":{a['step']}"
    text, precedence = args[0]
    operand = text if precedence == ATOM else f"({text})"
    return f"{operand}[{':, ' * a['axis']}{a['start']}:{stop}{step}]", ATOM


register("slice", shape=_slice_shape, numpy=_slice_ref, grad=_slice_grad_of_slice, kind="opaque",
         lower=_lower_slice, row_wise=True, notation=_slice_notation, flops=lambda node, size: 0,
         onnx_export=_onnx_slice,
         onnx_import={"Slice": _import_slice, "Split": _import_split})


def _slice_grad_shape(g, axis, start, stop, step, size):
    return g.shape[:axis] + (size,) + g.shape[axis + 1:], g.dtype


def _slice_grad_ref(g, axis, start, stop, step, size):
    shape = list(g.shape)
    shape[axis] = size
    dx = np.zeros(shape, g.dtype)
    dx[_numpy_index(axis, start, stop, step)] = g
    return dx


def _lower_slice_grad(node, d):
    from ..codegen.library import Integer
    axis = node.attrs["axis"]
    d.library("slicing.scatter", [_three_axes(d, node.inputs[0], axis), _three_axes(d, node, axis),
                                  Integer(str(node.attrs["start"])), Integer(str(node.attrs["step"]))])


register("slice_grad", shape=_slice_grad_shape, numpy=_slice_grad_ref, kind="opaque", lower=_lower_slice_grad,
         row_wise=True, flops=lambda node, size: 0,
         grad=lambda n, g: (make_node("slice", (g,), {k: v for k, v in n.attrs.items() if k != "size"}),))


def slice_axis(x, axis: int, selection: slice):
    """x[..., selection, ...] on axis `axis` (not the batch's), as NumPy slices it."""
    require_tensor("slice", x)
    start, stop, step = selection.indices(x.shape[axis])
    if not len(range(start, stop, step)):
        fail(ShapeError, "slice", f"[{_shown_slice(selection)}] of axis {axis} (size {x.shape[axis]}) of "
                                  f"{fmt_shape(x.shape)} selects nothing; tensors have no empty axes")
    if (start, stop, step) == (0, x.shape[axis], 1):
        return x
    return make_node("slice", (x,), {"axis": axis, "start": start, "stop": stop, "step": step})


def _shown_slice(s: slice) -> str:
    parts = ["" if v is None else str(v) for v in (s.start, s.stop, s.step)]
    return ":".join(parts[:2] if s.step is None else parts)


# ---------------------------------------------------------------- concat

def _concat_shape(*tensors, axis):
    first = tensors[0]
    for t in tensors:
        if t.ndim != first.ndim:
            raise ShapeError(f"shapes {_listed(tensors)} have different ranks")
        if t.dtype != first.dtype:
            raise DTypeError(f"dtypes {' and '.join(sorted({str(u.dtype) for u in tensors}))} differ; cast one "
                             "with sn.cast")
        for a, (d, e) in enumerate(zip(t.shape, first.shape)):
            if a != axis and d != e:
                raise ShapeError(f"shapes {_listed(tensors)} differ on axis {a} ({_size(e)} and {_size(d)}); "
                                 f"only axis {axis}, the one joined, may differ")
    if any(t.shape[axis] is None for t in tensors):
        raise ShapeError(f"axis {axis} of {_listed(tensors)} is the batch axis, which is never joined")
    return first.shape[:axis] + (sum(t.shape[axis] for t in tensors),) + first.shape[axis + 1:], first.dtype


def _listed(tensors) -> str:
    return ", ".join(fmt_shape(t.shape) for t in tensors)


def _concat_grad(node, g):
    axis, start, grads = node.attrs["axis"], 0, []
    for t in node.inputs:
        grads.append(slice_axis(g, axis, slice(start, start + t.shape[axis])))
        start += t.shape[axis]
    return tuple(grads)


def _lower_concat(node, d):
    from ..codegen.library import Integer
    axis, offset = node.attrs["axis"], 0
    out = _three_axes(d, node, axis)
    for t in node.inputs:
        d.library("slicing.place", [_three_axes(d, t, axis), out, Integer(str(offset)), Integer("1")])
        offset += t.shape[axis]


def _import_concat(imp, operands, attrs):
    tensors = [imp.tensor(name) for name in operands]
    return [concat(tensors, attrs.take("axis"))]


register("concat", shape=_concat_shape, numpy=lambda *xs, axis: np.concatenate(xs, axis), grad=_concat_grad,
         kind="opaque", lower=_lower_concat, row_wise=True, flops=lambda node, size: 0,
         onnx_export=lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node("Concat", xs, out,
                                                                                 axis=node.attrs["axis"])),
         onnx_import={"Concat": _import_concat})


def _axis(op, axis, ndim, shape):
    if not is_integer(axis):
        fail(ShapeError, op, f"axis must be an int, got {shown(axis)}")
    if not -ndim <= axis < ndim:
        fail(ShapeError, op, f"axis {axis} is out of range for shape {fmt_shape(shape)} ({ndim} dimensions)")
    return int(axis) % ndim


def _tensor_list(op, tensors):
    if not isinstance(tensors, (list, tuple)) or not tensors:
        fail(GraphError, op, f"expects a non-empty list of tensors, got {shown(tensors)}")
    for t in tensors:
        require_tensor(op, t)
    return list(tensors)


def concat(tensors, axis=-1):
    """The tensors joined along `axis` (not the batch's); every other axis must match (np.concatenate)."""
    tensors = _tensor_list("concat", tensors)
    axis = _axis("concat", axis, tensors[0].ndim, tensors[0].shape)
    if len(tensors) == 1:
        return tensors[0]
    return make_node("concat", tensors, {"axis": axis})


def split(x, sizes_or_count, axis=-1) -> list:
    """x cut along `axis` into a list: `count` equal parts (np.split), or parts of the given sizes, which
    must add up to the axis (Keras's tf.split and torch.split's sizes)."""
    require_tensor("split", x)
    axis = _axis("split", axis, x.ndim, x.shape)
    length = x.shape[axis]
    if length is None:
        fail(ShapeError, "split", f"axis {axis} of {fmt_shape(x.shape)} is the batch axis, which is never split")
    if is_integer(sizes_or_count):
        count = int(sizes_or_count)
        if count < 1 or length % count:
            fail(ShapeError, "split", f"axis {axis} of {fmt_shape(x.shape)} (size {length}) does not split into "
                                      f"{shown(sizes_or_count)} equal parts")
        sizes = [length // count] * count
    elif isinstance(sizes_or_count, (list, tuple)) and sizes_or_count and all(
            is_integer(s) and s > 0 for s in sizes_or_count):
        sizes = [int(s) for s in sizes_or_count]
        if sum(sizes) != length:
            fail(ShapeError, "split", f"sizes {sizes} add up to {sum(sizes)}, not to axis {axis} of "
                                      f"{fmt_shape(x.shape)} (size {length})")
    else:
        fail(ShapeError, "split", f"expects a count of equal parts or a list of positive sizes, got "
                                  f"{shown(sizes_or_count)}")
    starts = np.cumsum([0] + sizes[:-1]).tolist()
    return [slice_axis(x, axis, slice(start, start + size)) for start, size in zip(starts, sizes)]


def stack(tensors, axis=1):
    """The tensors, all of one shape, joined along a new axis `axis` (np.stack); axis 0 is the batch's for
    batched tensors, so the default is 1: n tensors (batch, f) -> (batch, n, f)."""
    tensors = _tensor_list("stack", tensors)
    shape = tensors[0].shape
    axis = _axis("stack", axis, len(shape) + 1, shape + (1,))
    different = [t.shape for t in tensors if t.shape != shape]
    if different:
        fail(ShapeError, "stack", f"shapes {_listed(tensors)} differ; stack joins tensors of one shape")
    if axis == 0 and None in shape:
        fail(ShapeError, "stack", f"axis 0 would stack in front of the batch axis of {fmt_shape(shape)}; the batch "
                                  "stays first")
    return concat([reshape(t, shape[:axis] + (1,) + shape[axis:]) for t in tensors], axis)


# ---------------------------------------------------------------- NumPy basic indexing: x[:, 2:5], x[..., -1]

def index(x, key):
    """x[key] for NumPy's basic indexing: ints, slices (with steps) and one Ellipsis, on any axis but the
    batch's, which takes only ":". An int removes its axis, as in NumPy."""
    require_tensor("index", x)
    entries = list(key) if isinstance(key, tuple) else [key]
    if sum(e is Ellipsis for e in entries) > 1:
        fail(GraphError, "index", "an index may hold one Ellipsis (...)")
    if Ellipsis in entries:
        at = next(i for i, e in enumerate(entries) if e is Ellipsis)
        entries[at:at + 1] = [slice(None)] * (x.ndim - len(entries) + 1)
    if len(entries) > x.ndim:
        fail(ShapeError, "index", f"{len(entries)} indices for a tensor of shape {fmt_shape(x.shape)} "
                                  f"({x.ndim} dimensions)")
    out, removed = x, []
    for axis, entry in enumerate(entries):
        if x.shape[axis] is None:
            if not (isinstance(entry, slice) and entry == slice(None)):
                fail(ShapeError, "index", f"axis {axis} of {fmt_shape(x.shape)} is the batch axis, which takes only "
                                          f"':' (got {_shown_entry(entry)}); select rows in the data you feed")
            continue
        if is_integer(entry):
            if not -x.shape[axis] <= entry < x.shape[axis]:
                fail(ShapeError, "index", f"index {entry} is out of range for axis {axis} of {fmt_shape(x.shape)} "
                                          f"(size {x.shape[axis]})")
            position = int(entry) % x.shape[axis]
            out = slice_axis(out, axis, slice(position, position + 1))
            removed.append(axis)
        elif isinstance(entry, slice):
            if not all(v is None or is_integer(v) for v in (entry.start, entry.stop, entry.step)) or entry.step == 0:
                fail(ShapeError, "index", f"slice {_shown_entry(entry)}: its start, stop and step must be ints "
                                          "(a step not 0) or left out")
            out = slice_axis(out, axis, entry)
        elif entry is None:
            fail(GraphError, "index", "None (np.newaxis) is not supported: add an axis with sn.reshape")
        else:
            fail(GraphError, "index", f"{_shown_entry(entry)} is not supported: tensors take ints, slices and one "
                                      "Ellipsis (NumPy's basic indexing)")
    if removed:
        out = reshape(out, tuple(d for a, d in enumerate(out.shape) if a not in removed))
    return out


def _shown_entry(entry) -> str:
    return _shown_slice(entry) if isinstance(entry, slice) else shown(entry)

