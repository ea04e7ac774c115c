"""ONNX export: a staticnet prediction graph as an ONNX model that onnxruntime (or any ONNX consumer) runs.

The graph exported is the inference graph: dropout removed and identities such as x * 1 dropped
(passes.strip_dropout, passes.simplify: values unchanged).  Parameters become initializers holding their
current values, inputs keep their names and shapes with the batch dimension symbolic ("batch").

Each node needed by the outputs gets a plan, chosen by the first rule that matches it:
- a PATTERN over the node and its operands, where a staticnet composite has one native ONNX op in the
  chosen opset: LeakyRelu, PRelu, Elu, Gelu (exact and tanh, opset 20), Swish (opset 24), and a
  convolution (im2col then the product with a weight leaf) as one Conv;
- otherwise the TRANSLATION of its op, primitive by primitive, so every composite still exports as an
  exact composition at any opset (gelu through Erf below opset 20, swish as x * Sigmoid(beta x)).
Plans are made from the outputs back to the inputs, so a node inside a matched pattern is translated only
if something else reads it.

Layout: staticnet images are NHWC (batch, height, width, channels); ONNX Conv, MaxPool and AveragePool
work on NCHW.  Each such op is wrapped in explicit Transposes, so every other value keeps staticnet's
layout: the exported model takes the same arrays as the staticnet model, and flatten keeps its
(height, width, channel) order.  A value transposed back to NCHW right after leaving an NCHW op reuses
that op's output, so a convolution followed by pooling has no transposes between them.  Conv weights,
stored as (kh*kw*in_channels, filters) with rows in (i, j, channel) order, are permuted into ONNX's
(filters, in_channels, kh, kw).  The Elman rnn is ONNX's RNN (the same recurrence), its inputs and
outputs transposed between staticnet's batch-first and ONNX's time-first layout.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import GraphError
from .graph import Tensor, located, output_list, topological, user_location
from .predictor import inference_outputs
from .registry import registry
from .onnx_support import checked_opset, require_onnx
from .paths import output_problem

BATCH = "batch"  # the name of the symbolic batch dimension in the exported model
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


@dataclass(frozen=True)
class Plan:
    """How one staticnet node becomes ONNX: the tensors whose ONNX values it reads, and
    emit(builder, their value names, the name its result must take or None) -> its result's name."""
    operands: tuple
    emit: Callable


class Builder:
    """Collects the ONNX nodes and initializers of one export; hands out unique value names."""

    def __init__(self, onnx, opset: int):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.initializers = [], []
        self.taken: set[str] = set()
        self.leaf_names: dict[int, str] = {}
        self.constant_names: dict[tuple, str] = {}  # one initializer per distinct constant
        self.nchw_source: dict[str, str] = {}  # an NHWC value -> the same values in NCHW, once made
        self.current: Tensor | None = None  # the staticnet node being translated (its loc documents the ONNX nodes)

    def reserve(self, name: str) -> str:
        self.taken.add(name)
        return name

    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.taken:
            name, k = f"{hint}_{k}", k + 1
        return self.reserve(name)

    def has(self, op_type: str) -> bool:
        """Whether the export's opset defines op_type."""
        try:
            self.onnx.defs.get_schema(op_type, self.opset)
        except self.onnx.defs.SchemaError:
            return False
        return True

    def takes_axes_input(self, op_type: str) -> bool:
        """Reductions moved `axes` from an attribute to an input (ReduceSum in opset 13, ReduceMax in 18)."""
        return any(i.name == "axes" for i in self.onnx.defs.get_schema(op_type, self.opset).inputs)

    def node(self, op_type: str, inputs, out: str | None = None, **attrs) -> str:
        out = self.reserve(out) if out else self.fresh(op_type.lower())
        doc = f"staticnet {self.current.op} at {self.current.loc}" if self.current is not None else None
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], name=out, doc_string=doc,
                                                     **attrs))
        return out

    def initializer(self, array, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def constant(self, array) -> str:
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.constant_names:
            self.constant_names[key] = self.initializer(array, "constant")
        return self.constant_names[key]

    def ints(self, values) -> str:
        return self.constant(np.asarray(values, np.int64))

    def leaf(self, t: Tensor) -> str:
        if t.id not in self.leaf_names:
            if t.op == "input":
                self.leaf_names[t.id] = t.name  # reserved with the graph's inputs
            elif t.op == "param":
                self.leaf_names[t.id] = self.initializer(t.value, t.name)
            else:
                self.leaf_names[t.id] = self.constant(t.value)
        return self.leaf_names[t.id]

    def drop_unread(self, outputs) -> None:
        """Remove the nodes and initializers nothing reads: the NHWC copy of a convolution whose only reader,
        a pooling, took the NCHW value instead."""
        read = set(outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(name in read for name in node.output):
                kept.append(node)
                read.update(node.input)
        self.nodes = kept[::-1]
        self.initializers = [t for t in self.initializers if t.name in read]

    def reduce(self, op_type: str, x: str, axes, keepdims: bool, out=None) -> str:
        if self.takes_axes_input(op_type):
            return self.node(op_type, [x, self.ints(axes)], out, keepdims=int(keepdims))
        return self.node(op_type, [x], out, axes=list(axes), keepdims=int(keepdims))

    def cast(self, x: str, dtype, out=None) -> str:
        return self.node("Cast", [x], out, to=self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def to_nchw(self, nhwc: str) -> str:
        if nhwc not in self.nchw_source:
            self.nchw_source[nhwc] = self.node("Transpose", [nhwc], perm=list(TO_NCHW))
        return self.nchw_source[nhwc]

    def to_nhwc(self, nchw: str, out=None) -> str:
        nhwc = self.node("Transpose", [nchw], out, perm=list(TO_NHWC))
        self.nchw_source[nhwc] = nchw
        return nhwc


# ---------------------------------------------------------------- translations of single ops

def _same(op_type: str):
    """The ONNX op of the same meaning, on the node's own operands."""
    return lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node(op_type, xs, out))


def _registered(op_type: str, attributes: dict):
    """The ONNX op an op's registration names (its `onnx` rule), with the node's attributes of those names."""
    return lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node(
        op_type, xs, out, **{name: node.attrs[name] for name in attributes}))


COMPARISONS = {"greater": "Greater", "greater_equal": "GreaterOrEqual", "less": "Less", "less_equal": "LessOrEqual",
               "equal": "Equal"}


def _mask(node, b):
    """staticnet comparisons give masks of 0 and 1 in the operands' dtype; ONNX's give booleans."""
    return Plan(node.inputs, lambda b, xs, out: b.cast(b.node(COMPARISONS[node.op], xs), node.dtype, out))


def _where(node, b):
    cond, a, c = node.inputs
    if cond.op in COMPARISONS:  # the comparison's boolean, without the round trip through a mask
        return Plan(cond.inputs + (a, c), lambda b, xs, out: b.node(
            "Where", [b.node(COMPARISONS[cond.op], xs[:2])] + xs[2:], out))
    return Plan(node.inputs, lambda b, xs, out: b.node("Where", [b.cast(xs[0], bool)] + xs[1:], out))


def _step(node, b):
    zero = np.zeros((), node.dtype)
    return Plan(node.inputs, lambda b, xs, out: b.cast(b.node("Greater", [xs[0], b.constant(zero)]), node.dtype, out))


def _square(node, b):
    return Plan(node.inputs, lambda b, xs, out: b.node("Mul", [xs[0], xs[0]], out))


def _softmax(op_type):
    return lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node(op_type, xs, out, axis=node.attrs["axis"]))


def _reshape(node, b):
    target = [-1 if d is None else d for d in node.attrs["shape"]]
    return Plan(node.inputs, lambda b, xs, out: b.node("Reshape", [xs[0], b.ints(target)], out))


def _transpose(node, b):
    return Plan(node.inputs, lambda b, xs, out: b.node("Transpose", xs, out, perm=list(node.attrs["axes"])))


def _reduction(op_type):
    def plan(node, b):
        return Plan(node.inputs, lambda b, xs, out: b.reduce(op_type, xs[0], node.attrs["axes"],
                                                            node.attrs["keepdims"], out))
    return plan


def _count(node, b):
    """How many elements lie along the axes, from the run-time shape (the batch is among them)."""
    def emit(b, xs, out):
        sizes = b.node("Gather", [b.node("Shape", xs), b.ints(node.attrs["axes"])], axis=0)
        return b.cast(b.node("ReduceProd", [sizes], keepdims=0), node.dtype, out)
    return Plan(node.inputs, emit)


def _broadcast_like(node, b):
    return Plan(node.inputs, lambda b, xs, out: b.node("Expand", [xs[0], b.node("Shape", [xs[1]])], out))


def _cast(node, b):
    return Plan(node.inputs, lambda b, xs, out: b.cast(xs[0], node.attrs["dtype"], out))


def _conv_attributes(attrs) -> dict:
    pt, pb, pl, pr = attrs["pads"]
    return {"kernel_shape": [attrs["kh"], attrs["kw"]], "strides": [attrs["sh"], attrs["sw"]],
            "pads": [pt, pl, pb, pr]}


def _im2col(node, b):
    """im2col alone (its product not with a weight leaf) is a Conv whose kernel copies each window
    position and channel to its own output channel, (i, j, c) -> (i*kw + j)*C + c: exact, as every
    output is one input times 1 plus zeros."""
    kh, kw, channels = node.attrs["kh"], node.attrs["kw"], node.inputs[0].shape[3]
    kernel = np.zeros((kh * kw * channels, channels, kh, kw), node.dtype)
    for i in range(kh):
        for j in range(kw):
            for c in range(channels):
                kernel[(i * kw + j) * channels + c, c, i, j] = 1

    def emit(b, xs, out):
        return b.to_nhwc(b.node("Conv", [b.to_nchw(xs[0]), b.constant(kernel)], **_conv_attributes(node.attrs)), out)
    return Plan(node.inputs, emit)


def _pool(op_type):
    def plan(node, b):
        attrs = {"kernel_shape": [node.attrs["ph"], node.attrs["pw"]], "strides": [node.attrs["sh"], node.attrs["sw"]]}
        return Plan(node.inputs, lambda b, xs, out: b.to_nhwc(b.node(op_type, [b.to_nchw(xs[0])], **attrs), out))
    return plan


def _rnn(node, b):
    """h_t = act(x_t Wx + h_{t-1} Wh + b) is ONNX's RNN with W = Wx^T, R = Wh^T and biases (b, 0), run
    time-first: (batch, steps, features) is transposed to (steps, batch, features) and the hidden states
    (steps, 1 direction, batch, hidden) back to (batch, steps, hidden)."""
    x, wx, wh, bias = node.inputs
    for weight in (wx, wh, bias):
        if weight.op not in ("param", "constant"):
            raise located(GraphError, "rnn", node.loc, f"its weights must be parameters or constants to export "
                                                       f"to ONNX's RNN; {weight.op} at {weight.loc} is computed")
    hidden = wh.shape[0]

    def emit(b, xs, out):
        time_first = b.node("Transpose", [xs[0]], perm=[1, 0, 2])
        weights = [b.initializer(wx.value.T[None], f"{wx.name or 'rnn'}/onnx_W"),
                   b.initializer(wh.value.T[None], f"{wh.name or 'rnn'}/onnx_R"),
                   b.initializer(np.concatenate([bias.value, np.zeros(hidden, bias.dtype)])[None],
                                 f"{bias.name or 'rnn'}/onnx_B")]
        states = b.node("RNN", [time_first] + weights, hidden_size=hidden,
                        activations=[node.attrs["activation"].capitalize()])
        return b.node("Transpose", [b.node("Squeeze", [states, b.ints([1])])], out, perm=[1, 0, 2])
    return Plan((x,), emit)


def _step_at(node, b):
    index = np.asarray(node.attrs["index"], np.int64)
    return Plan(node.inputs, lambda b, xs, out: b.node("Gather", [xs[0], b.constant(index)], out, axis=1))


TRANSLATIONS: dict[str, Callable] = {
    **{name: _registered(*opdef.onnx) for name, opdef in registry.items() if opdef.onnx},
    **{op: _mask for op in COMPARISONS},
    "where": _where, "step": _step, "square": _square, "cast": _cast,
    "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
    "matmul": _same("MatMul"), "reshape": _reshape, "transpose": _transpose, "broadcast_like": _broadcast_like,
    "sum": _reduction("ReduceSum"), "max": _reduction("ReduceMax"), "count": _count,
    "im2col": _im2col, "max_pool2d": _pool("MaxPool"), "avg_pool2d": _pool("AveragePool"),
    "rnn": _rnn, "step_at": _step_at,
}


# ---------------------------------------------------------------- patterns: composites with a native ONNX op

def _is_constant(t: Tensor, value=None) -> bool:
    """t is a scalar constant (equal to `value`, as t's dtype holds it, when given)."""
    return t.op == "constant" and t.value.size == 1 and (
        value is None or t.value.item() == np.asarray(value, t.dtype).item())


def _other_factor(t: Tensor, factor: Tensor):
    """y when t is factor * y or y * factor."""
    if t.op == "mul":
        a, c = t.inputs
        if a is factor:
            return c
        if c is factor:
            return a
    return None


def _constant_factor(t: Tensor, value):
    """y when t is y * value or value * y (value a scalar constant)."""
    if t.op == "mul":
        for c, y in (t.inputs, t.inputs[::-1]):
            if _is_constant(c, value):
                return y
    return None


def _positive_branch(node):
    """(z, what it is elsewhere) when node is where(z > 0, z, elsewhere): the shape of relu's relatives."""
    if node.op != "where":
        return None
    cond, z, elsewhere = node.inputs
    if cond.op == "greater" and cond.inputs[0] is z and _is_constant(cond.inputs[1], 0):
        return z, elsewhere
    return None


def _leaky_relu_or_prelu(node, b):
    """where(z > 0, z, z * slope): LeakyRelu for a scalar constant slope, PRelu for a slope tensor."""
    branch = _positive_branch(node)
    slope = _other_factor(branch[1], branch[0]) if branch else None
    if slope is None:
        return None
    z = branch[0]
    if _is_constant(slope):
        alpha = slope.value.item()
        return Plan((z,), lambda b, xs, out: b.node("LeakyRelu", xs, out, alpha=alpha))
    if len(slope.shape) <= len(z.shape) and all(s in (1, d) for s, d in zip(slope.shape[::-1], z.shape[::-1])):
        return Plan((z, slope), lambda b, xs, out: b.node("PRelu", xs, out))
    return None


def _elu(node, b):
    """where(z > 0, z, (exp(min(z, 0)) - 1) * alpha): Elu (the multiplication is gone when alpha is 1)."""
    branch = _positive_branch(node)
    if branch is None:
        return None
    z, elsewhere = branch
    alpha = next((c.value.item() for c in elsewhere.inputs if _is_constant(c)), None) if elsewhere.op == "mul" else 1.0
    expm1 = _constant_factor(elsewhere, alpha) if elsewhere.op == "mul" else elsewhere
    if expm1 is None or expm1.op != "sub" or not _is_constant(expm1.inputs[1], 1.0):
        return None
    exp = expm1.inputs[0]
    if exp.op != "exp" or exp.inputs[0].op != "minimum":
        return None
    low, zero = exp.inputs[0].inputs
    if low is not z or not _is_constant(zero, 0):
        return None
    return Plan((z,), lambda b, xs, out: b.node("Elu", xs, out, alpha=alpha))


def _half_of_one_plus(t: Tensor):
    """u when t is 0.5 * (u + 1): the form both gelus share."""
    inner = _constant_factor(t, 0.5)
    if inner is None or inner.op != "add" or not _is_constant(inner.inputs[1], 1.0):
        return None
    return inner.inputs[0]


def _gelu(node, b):
    """z * (0.5 * (erf(z / sqrt 2) + 1)) and z * (0.5 * (tanh((z + 0.044715 z^3) sqrt(2/pi)) + 1)):
    Gelu from opset 20, exact or with approximate="tanh"."""
    if node.op != "mul" or not b.has("Gelu"):
        return None
    for z, rest in (node.inputs, node.inputs[::-1]):
        u = _half_of_one_plus(rest)
        if u is None:
            continue
        if u.op == "erf" and _constant_factor(u.inputs[0], 1 / math.sqrt(2)) is z:
            return Plan((z,), lambda b, xs, out: b.node("Gelu", xs, out))
        cubic_sum = _constant_factor(u.inputs[0], math.sqrt(2 / math.pi)) if u.op == "tanh" else None
        if cubic_sum is not None and cubic_sum.op == "add" and cubic_sum.inputs[0] is z:
            cubic = cubic_sum.inputs[1]
            if (cubic.op == "mul" and _constant_factor(cubic.inputs[0], 0.044715) is z
                    and cubic.inputs[1].op == "square" and cubic.inputs[1].inputs[0] is z):
                return Plan((z,), lambda b, xs, out: b.node("Gelu", xs, out, approximate="tanh"))
    return None


def _swish(node, b):
    """z * sigmoid(z * beta) (gelu's sigmoid approximation has beta 1.702): Swish from opset 24."""
    if node.op != "mul" or not b.has("Swish"):
        return None
    for z, gate in (node.inputs, node.inputs[::-1]):
        if gate.op != "sigmoid":
            continue
        scaled = gate.inputs[0]
        if scaled is z:
            return Plan((z,), lambda b, xs, out: b.node("Swish", xs, out, alpha=1.0))
        beta = next((c.value.item() for c in scaled.inputs if _is_constant(c)), None) if scaled.op == "mul" else None
        if beta is not None and _constant_factor(scaled, beta) is z:
            return Plan((z,), lambda b, xs, out: b.node("Swish", xs, out, alpha=beta))
    return None


def _convolution(node, b):
    """im2col(x) @ W with W a leaf: one Conv, the weights permuted from (kh*kw*C, F) to (F, C, kh, kw)."""
    if node.op != "matmul":
        return None
    patches, weights = node.inputs
    if patches.op != "im2col" or weights.op not in ("param", "constant"):
        return None
    attrs = patches.attrs
    x = patches.inputs[0]
    kernel = weights.value.reshape(attrs["kh"], attrs["kw"], x.shape[3], weights.shape[1]).transpose(3, 2, 0, 1)

    def emit(b, xs, out):
        w = b.initializer(kernel, weights.name or "conv_weights")
        return b.to_nhwc(b.node("Conv", [b.to_nchw(xs[0]), w], **_conv_attributes(attrs)), out)
    return Plan((x,), emit)


PATTERNS = [_convolution, _leaky_relu_or_prelu, _elu, _gelu, _swish]


def exportable_ops() -> list[str]:
    return sorted(set(TRANSLATIONS) | {"input", "param", "constant"})


def plan_node(node: Tensor, b: Builder) -> Plan:
    for pattern in PATTERNS:
        plan = pattern(node, b)
        if plan is not None:
            return plan
    if node.op not in TRANSLATIONS:
        raise located(GraphError, node.op, node.loc,
                      f"cannot be exported to ONNX; the exportable ops are {', '.join(exportable_ops())} "
                      "(every layer and activation of staticnet is made of these)")
    return TRANSLATIONS[node.op](node, b)


# ---------------------------------------------------------------- the whole model

def _checked_inputs(inputs, outputs, loc) -> list[Tensor]:
    needed = [n for n in topological(outputs) if n.op == "input"]
    if inputs is None:
        return needed
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for t in inputs:
        if not isinstance(t, Tensor) or t.op != "input":
            raise located(GraphError, "export_onnx", loc, f"inputs must be sn.input tensors, got {t!r}")
    missing = [t for t in needed if t not in inputs]
    if missing:
        raise located(GraphError, "export_onnx", loc, f"the outputs read input {missing[0].name!r} (created at "
                                                      f"{missing[0].loc}), which is not in `inputs`")
    return inputs


def _checked_names(inputs, outputs, output_names, loc) -> list[str]:
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise located(GraphError, "export_onnx", loc, f"two inputs share a name: {names}")
    if output_names is None:
        output_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    output_names = list(output_names)
    if len(output_names) != len(outputs) or not all(isinstance(n, str) and n for n in output_names):
        raise located(GraphError, "export_onnx", loc, f"output_names must be {len(outputs)} non-empty strings, "
                                                      f"got {output_names!r}")
    clashes = set(output_names) & set(names)
    if clashes or len(set(output_names)) != len(output_names):
        raise located(GraphError, "export_onnx", loc, f"output names {output_names} must differ from each other "
                                                      f"and from the input names {names}")
    return output_names


def _value_info(onnx, name: str, t: Tensor):
    dims = [BATCH if d is None else d for d in t.shape]
    return onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(t.dtype), dims)


def to_model(outputs, inputs=None, opset=None, output_names=None):
    """The ONNX ModelProto of the graph computing `outputs` (checked with onnx.checker)."""
    from .version import __version__

    loc = user_location()
    onnx = require_onnx("ONNX export")
    outputs = output_list("export_onnx", outputs)
    try:
        opset = checked_opset(onnx, int(opset) if isinstance(opset, np.integer) else opset)
    except ValueError as e:
        raise located(GraphError, "export_onnx", loc, str(e)) from None
    inputs = _checked_inputs(inputs, outputs, loc)
    output_names = _checked_names(inputs, outputs, output_names, loc)
    exported = inference_outputs(outputs)
    b = Builder(onnx, opset)
    for name in [t.name for t in inputs] + output_names:
        b.reserve(name)

    order = topological(exported)
    needed = {t.id for t in exported}
    plans: dict[int, Plan] = {}
    for node in reversed(order):  # outputs first: a pattern's inner nodes are planned only if read elsewhere
        if node.id in needed and not node.is_leaf:
            plans[node.id] = plan_node(node, b)
            needed.update(t.id for t in plans[node.id].operands)
    wanted = {}
    for t, name in zip(exported, output_names):
        wanted.setdefault(t.id, name)
    names: dict[int, str] = {}
    for node in order:
        if node.id not in needed:
            continue
        if node.is_leaf:
            names[node.id] = b.leaf(node)
            continue
        b.current = node
        plan = plans[node.id]
        names[node.id] = plan.emit(b, [names[t.id] for t in plan.operands], wanted.get(node.id))
    b.current = None
    for t, name in zip(exported, output_names):
        if names[t.id] != name:  # an input, a leaf, an output listed twice, or a value dropout left unchanged
            b.node("Identity", [names[t.id]], name)

    b.drop_unread(output_names)
    graph = onnx.helper.make_graph(
        b.nodes, "staticnet", [_value_info(onnx, t.name, t) for t in inputs],
        [_value_info(onnx, name, t) for t, name in zip(exported, output_names)], initializer=b.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="staticnet",
                                   producer_version=__version__,
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    return model


def export(outputs, path, inputs=None, opset=None, output_names=None) -> None:
    """Write the ONNX model of `outputs` (see to_model) to `path`, atomically."""
    from .serialize import write_durably

    problem = output_problem(path)
    if problem is not None:
        given = repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else type(path).__name__
        raise located(GraphError, "export_onnx", user_location(), f"path {given}: {problem}")
    data = to_model(outputs, inputs, opset, output_names).SerializeToString()
    write_durably(path, lambda raw: raw.write(data))
