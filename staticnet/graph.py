"""Symbolic tensors: the nodes of a staticnet graph.

A tensor is an immutable node: an op name, its input tensors, attributes, a static
shape (``None`` marks the batch dimension, the only one not known at build time),
a dtype, the user's file:line where it was made and the layer whose builder made it.
Leaves are inputs, parameters (which carry their current value, as in Theano) and constants.
"""
from __future__ import annotations

import contextlib
import html
import itertools
import math
import shutil
import subprocess

import numpy as np

from . import checks
from .errors import DTypeError, GraphError, ShapeError
from .locations import derived_from, fail, located, user_location  # noqa: F401  (part of the graph API)
from .registry import registry

FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))
INT_DTYPES = (np.dtype("int32"), np.dtype("int64"))
DEFAULT_FLOAT = np.dtype("float32")

_ids = itertools.count()
_layers: list[str] = []  # the layer builders running now, outermost first (layer_scope)


@contextlib.contextmanager
def layer_scope(name: str):
    """Every node made inside belongs to layer `name` (as JAX's named_scope): layer builders (sn.dense,
    sn.conv2d, sn.rnn ...) wrap their body in it, so that explain, summary and learning_speed read a node's
    layer from `node.layer` instead of guessing it from parameter names. A builder called inside another's
    scope (dense's prelu) makes nodes of the innermost layer."""
    _layers.append(name)
    try:
        yield name
    finally:
        _layers.pop()


def current_layer() -> str | None:
    return _layers[-1] if _layers else None


def as_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES + INT_DTYPES:
        raise DTypeError(f"unsupported dtype {dtype!r}: use one of float32, float64, int32, int64")
    return dt


def require_tensor(op: str, value, loc: str | None = None):
    """A NumPy array or list where a graph tensor belongs would fail deep inside with an AttributeError."""
    if not isinstance(value, Tensor):
        raise located(GraphError, op, loc or user_location(),
                      f"expected a tensor operand (sn.input, sn.param, sn.constant or an op's result), "
                      f"got {type(value).__name__}")


def fmt_shape(shape) -> str:
    return repr(tuple(shape))


class Tensor:
    """A node of the graph; also the symbolic value it computes."""

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "loc", "id", "value", "name", "regularize", "origin",
                 "layer", "trainable")
    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, op, inputs, attrs, shape, dtype, loc, *, value=None, name=None, regularize=False, layer=None,
                 trainable=True):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = dict(attrs)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.loc = loc
        self.id = next(_ids)
        self.value = value
        self.name = name
        self.regularize = regularize
        self.trainable = trainable  # a parameter the optimizer updates; False: frozen, or state an op updates
        self.origin = None  # set by the passes: the ids of the nodes of the graph as built that this one computes
        # the layer builder that made it (layer_scope), None outside one; a parameter made outside any, named
        # "<layer>/<what>" as the builders name theirs, belongs to that layer: a layer written by hand, or
        # read from a file saved before nodes recorded their layer
        self.layer = layer or current_layer() or (name.rpartition("/")[0] or None if op == "param" and name else None)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_leaf(self) -> bool:
        return self.op in ("input", "param", "constant")

    @property
    def kind(self) -> str | None:
        """Its op's fusion kind (registry.OpDef.kind: elementwise, part, random ...); None for a leaf."""
        return None if self.is_leaf else registry[self.op].kind

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    def key(self):
        """Structural identity: equal keys compute equal values (used by CSE)."""
        if self.op in ("input", "param"):
            return (self.op, self.id)
        if self.op == "constant":
            return ("constant", self.dtype.str, self.value.shape, self.value.tobytes())
        return (self.op, tuple(t.id for t in self.inputs), tuple(sorted(self.attrs.items())))

    def __repr__(self):
        label = f"{self.op} {self.name}" if self.name else self.op
        return f"<Tensor {label} {fmt_shape(self.shape)} {self.dtype} at {self.loc}>"

    def __str__(self):
        return describe(self)

    def _repr_html_(self):
        """How a notebook shows a tensor: the graph it is computed by (see graph_html)."""
        return graph_html(self)

    def __bool__(self):
        raise GraphError(f"a symbolic tensor ({self.op} at {self.loc}) has no truth value; "
                         "use sn.where for a choice made per element")

    __hash__ = object.__hash__

    # Python's operators (+ - * / @, comparisons, x.T, x.sum() ...) are given to Tensor by staticnet.ops
    # (ops/operators.py), where the ops they build live.


def make_node(op: str, inputs, attrs=None, *, loc: str | None = None, called: str | None = None) -> Tensor:
    """Create a node after checking its operands with the op's shape rule.

    `called` is the op the user called when a composite makes this node: errors name it (conv2d, not im2col)."""
    attrs = attrs or {}
    loc = loc or user_location()
    opdef = registry[op]
    inputs = tuple(inputs)
    for t in inputs:
        require_tensor(called or op, t, loc)
    try:
        shape, dtype = opdef.shape_rule(*inputs, **attrs)
    except (ShapeError, DTypeError) as e:
        raise located(type(e), called or op, loc, str(e)) from None
    return Tensor(op, inputs, attrs, shape, dtype, loc)


def lift(value, like: Tensor | None = None) -> Tensor:
    """A Python number or array as a constant tensor (numbers take `like`'s dtype)."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "resolve_against") and like is not None:
        return value.resolve_against(like)
    if isinstance(value, (int, float, np.number)) and like is not None:
        return constant(np.asarray(value, dtype=like.dtype))
    return constant(value)


def input(name: str, shape, dtype="float32") -> Tensor:  # noqa: A001 - the user-facing name
    """A value fed at run time; `None` in `shape` marks the batch dimension."""
    checks.name("input", name)
    shape = _check_shape("input", shape)
    if sum(d is None for d in shape) > 1:
        fail(ShapeError, "input", f"{name!r} has shape {fmt_shape(shape)}: only one dimension (the batch) may be None")
    return Tensor("input", (), {}, shape, _checked_dtype("input", dtype), user_location(), name=name)


def param(name: str, shape=None, init=None, *, value=None, dtype=None, regularize=None, trainable=True) -> Tensor:
    """A parameter holding its current value (``W.value``).

    `regularize` says whether sn.l1 / sn.l2 penalise it; by default weights
    (2 or more dimensions) are and biases are not.  `trainable=False` freezes it (Keras's layer.trainable,
    PyTorch's requires_grad=False): autodiff makes no gradient for it and the optimizer no update, and it is
    still saved, loaded, exported and read and written through `net.params`.
    """
    from . import init as initializers

    loc = user_location()
    checks.name("param", name)
    trainable = checks.flag("param", "trainable", trainable)
    if value is not None:
        value = np.array(value)
        value = value.astype(_checked_dtype("param", dtype or (value.dtype if value.dtype in FLOAT_DTYPES else DEFAULT_FLOAT)))
        if shape is not None and tuple(shape) != value.shape:
            raise located(ShapeError, "param", loc, f"{name!r}: shape {fmt_shape(shape)} does not match its value's {fmt_shape(value.shape)}")
    else:
        if shape is None:
            raise located(GraphError, "param", loc, f"{name!r} needs a shape (with an init) or a value")
        shape = _check_shape("param", shape)
        if None in shape:
            raise located(ShapeError, "param", loc, f"{name!r} has shape {fmt_shape(shape)}: parameters have no batch dimension")
        dt = _checked_dtype("param", dtype or DEFAULT_FLOAT)
        init = init or (initializers.normal_scaled() if len(shape) >= 2 else initializers.zeros())
        value = _initial_value(name, shape, dt, init, loc)
    if value.dtype not in FLOAT_DTYPES:
        raise located(DTypeError, "param", loc, f"{name!r} has dtype {value.dtype}: parameters are float32 or float64")
    if value.size == 0:
        raise located(ShapeError, "param", loc, f"{name!r} has shape {fmt_shape(value.shape)}: an empty array "
                                                "(every dimension must be at least 1)")
    if regularize is None:
        regularize = value.ndim >= 2
    return Tensor("param", (), {}, value.shape, value.dtype, loc, value=value, name=name, regularize=regularize,
                  trainable=trainable)


def _initial_value(name: str, shape: tuple, dtype: np.dtype, init, loc: str) -> np.ndarray:
    """A parameter's first value drawn by `init`, checked before and after the draw.

    Before: the memory it needs (the initialisers draw in float64, then the value is cast), so that a shape
    too large for the machine is refused naming the parameter instead of failing in NumPy, or being granted
    by Linux and killing the process when written.  After: every value finite in `dtype`, since an
    initialiser's range can hold numbers that overflow float32 (uniform(1e39) gives infinities)."""
    size = math.prod(shape)
    needed = size * (8 + dtype.itemsize)
    available = checks.memory_available()
    described = (f"{name!r} of shape {fmt_shape(shape)} {dtype} holds {checks.byte_size(size * dtype.itemsize)} "
                 f"({checks.byte_size(needed)} while its initial values are drawn in float64)")
    if available is not None and needed > available:
        raise located(MemoryError, "param", loc, f"{described}, more than the {checks.byte_size(available)} of "
                                                 "memory available")
    try:
        drawn = np.asarray(init(shape))
        with np.errstate(over="ignore", invalid="ignore"):
            value = drawn.astype(dtype)
    except MemoryError:
        raise located(MemoryError, "param", loc, f"{described}, which could not be allocated") from None
    if value.shape != shape:
        raise located(ShapeError, "param", loc, f"{name!r}: its init returned an array of shape "
                                                f"{fmt_shape(value.shape)} for the shape {fmt_shape(shape)}")
    if not np.isfinite(value).all():
        bad = np.flatnonzero(~np.isfinite(value))
        first = tuple(int(i) for i in np.unravel_index(bad[0], shape))
        raise located(GraphError, "param", loc, f"{name!r}: its init gave {bad.size} values of {size} that are not "
                                                f"finite in {dtype} (the first at {first}: {float(drawn[first]):.4g} "
                                                f"became {float(value[first])}); give an init whose values fit {dtype}")
    return value


def constant(value, dtype=None) -> Tensor:
    """A fixed array baked into the graph (float32 unless the array says otherwise)."""
    arr = np.asarray(value)
    if dtype is None:
        typed = isinstance(value, (np.ndarray, np.generic)) and arr.dtype in FLOAT_DTYPES + INT_DTYPES
        dtype = arr.dtype if typed else DEFAULT_FLOAT
    arr = np.array(arr, dtype=_checked_dtype("constant", dtype))
    arr.setflags(write=False)
    return Tensor("constant", (), {}, arr.shape, arr.dtype, user_location(), value=arr)


def _checked_dtype(op, dtype):
    try:
        return as_dtype(dtype)
    except DTypeError as e:
        fail(DTypeError, op, str(e))


def _check_shape(op, shape):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        fail(ShapeError, op, f"shape must be a tuple of ints (None for the batch), got {shape!r}")
    for d in shape:
        if d is not None and (not checks.is_integer(d) or d <= 0):
            fail(ShapeError, op, f"shape {shape!r}: each dimension must be a positive int or None, got {checks.shown(d)}")
    return tuple(None if d is None else int(d) for d in shape)


# ---------------------------------------------------------------- the whole graph

def as_list(outputs) -> list[Tensor]:
    return [outputs] if isinstance(outputs, Tensor) else list(outputs)


def topological(outputs) -> list[Tensor]:
    """Every node the outputs depend on, inputs before users."""
    order, seen = [], set()
    for root in as_list(outputs):
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.id in seen:
                continue
            if expanded:
                seen.add(node.id)
                order.append(node)
            else:
                stack.append((node, True))
                stack.extend((t, False) for t in reversed(node.inputs) if t.id not in seen)
    return order


class Graph:
    """The nodes needed for some outputs, in schedule order; printing lists them."""

    def __init__(self, outputs):
        self.outputs = output_list("Graph", outputs)
        self.nodes = topological(self.outputs)

    @property
    def inputs(self):
        return [n for n in self.nodes if n.op == "input"]

    @property
    def params(self):
        return [n for n in self.nodes if n.op == "param"]

    def __str__(self):
        return describe(self.outputs)

    def __repr__(self):
        return f"<Graph {len(self.nodes)} nodes, {len(self.outputs)} outputs>"

    def _repr_html_(self):
        """How a notebook shows the graph (see graph_html)."""
        return graph_html(self.outputs)


def _node_label(node: Tensor, index) -> str:
    if node.op in ("input", "param"):
        return f"{node.op} {node.name!r}"
    if node.op == "constant":
        v = node.value
        return f"constant {v.item():.{7 if v.dtype == np.float32 else 16}g}" if v.size == 1 else f"constant array{fmt_shape(v.shape)}"
    args = ", ".join(f"%{index[t.id]}" for t in node.inputs)
    attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(node.attrs.items()))
    return f"{node.op}({args}{'; ' + attrs if attrs else ''})"


def output_list(op: str, outputs) -> list[Tensor]:
    """The outputs of a Graph, or a tensor or list of tensors checked as such."""
    if isinstance(outputs, Graph):
        return outputs.outputs
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    for t in outputs:
        require_tensor(op, t)
    return outputs


def _listing(op: str, outputs) -> list[tuple]:
    """The graph's nodes in schedule order, each (%number, label, shape, dtype, source line, is an output)."""
    outputs = output_list(op, outputs)
    nodes = topological(outputs)
    index = {n.id: i for i, n in enumerate(nodes)}
    outs = {t.id for t in outputs}
    return [(f"%{index[n.id]}", _node_label(n, index), fmt_shape(n.shape), str(n.dtype), str(n.loc), n.id in outs)
            for n in nodes]


def describe(outputs) -> str:
    """A listing of the graph: node, op, shape, dtype, source line."""
    rows = [row[:5] + ("  <- output" if row[5] else "",) for row in _listing("describe", outputs)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}{r[5]}"
        for r in rows)


DOT_SECONDS = 10  # how long a notebook waits for Graphviz's drawing before showing the table alone


def graph_html(outputs) -> str:
    """The graph for a notebook (Jupyter's _repr_html_): the node listing as an HTML table, and the graph drawn
    as SVG by Graphviz's `dot` when it is on PATH.  Every text of the graph (labels, source lines such as
    "<ipython-input-3>:1") is escaped."""
    rows = _listing("graph_html", outputs)
    head = "".join(f"<th>{h}</th>" for h in ("node", "op", "shape", "dtype", "made at", ""))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in row[:5])
                   + f"<td>{'output' if row[5] else ''}</td></tr>" for row in rows)
    table = f'<table class="staticnet-graph"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    drawing = _svg(to_dot(outputs))
    return f"<div>{drawing}{table}</div>" if drawing else f"<div>{table}</div>"


def _svg(dot_text: str) -> str | None:
    """Graphviz's SVG drawing of `dot_text` (its <svg> element), or None without `dot` or when it fails."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=DOT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.decode("utf-8", "replace")
    start = text.find("<svg")
    return text[start:] if done.returncode == 0 and start >= 0 else None


def to_dot(outputs, title: str = "staticnet", cluster: str | None = None) -> str:
    """Graphviz DOT text of the graph; with `cluster`, a subgraph (node names prefixed) to embed in another."""
    outputs = output_list("to_dot", outputs)
    nodes = topological(outputs)
    outs = {t.id for t in as_list(outputs)}
    prefix = cluster or "n"
    head = f'subgraph "cluster_{cluster}" {{\n  label="{title}";' if cluster else f'digraph "{title}" {{\n  rankdir=TB;'
    lines = [head, '  node [fontname="monospace", fontsize=10];']
    for n in nodes:
        label = f"{n.op} {n.name}" if n.name else n.op
        shape = {"input": "invhouse", "param": "box", "constant": "note"}.get(n.op, "ellipse")
        style = ', style=bold' if n.id in outs else ""
        text = f"{label}\\n{fmt_shape(n.shape)} {n.dtype}".replace('"', '\\"')
        lines.append(f'  {prefix}{n.id} [label="{text}", shape={shape}{style}];')
    for n in nodes:
        for i, t in enumerate(n.inputs):
            edge = f"  {prefix}{t.id} -> {prefix}{n.id}"
            lines.append(f'{edge} [label="{i}"];' if len(n.inputs) > 1 else f"{edge};")
    lines.append("}")
    return "\n".join(lines) + "\n"
