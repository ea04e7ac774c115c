"""ONNX import: a model written by another tool (torch.onnx, tf2onnx, onnx.helper) as a staticnet graph.

Each ONNX node is translated, in the file's order, by the builder of the same meaning: an initializer
becomes a parameter (trainable, holding the file's values, named as in the file) the first time a node
reads it as a tensor, and stays a plain array where a node needs a value known at import (a Reshape's
shape, a Conv's kernel, which is permuted first).  A node's staticnet tensors record it as their source
line ("model.onnx node 'fc1' (Gemm)"), so any later error names the ONNX node.

Layout: the imported graph takes and computes the same arrays as the ONNX model, NCHW images included.
ONNX's Conv and pools become staticnet's NHWC im2col products and pools between two explicit
transposes; a transpose that undoes the one just made is skipped (a pool feeding a conv stays NHWC
between them), and one that only moves axes of size 1 (single-channel images) is a reshape.  ONNX
booleans (comparisons) are staticnet masks of 0 and 1 in the compared dtype.

Anything without a translation, and any attribute a translation does not read, is a DataError naming the
file, the ONNX node and its op type.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import checks
from .errors import DataError, GraphError
from .graph import Graph, Tensor, constant, derived_from, input as graph_input, make_node, param
from .onnx_support import require_onnx
from .ops import activations, elementwise, reduce, shape as shape_ops
from .ops.linalg import matmul
from .registry import registry

ONNX_DOMAINS = ("", "ai.onnx")


class Unsupported(Exception):
    """What a translation cannot take; the importer adds the file, the node and its op type."""


class Attributes:
    """A node's attributes; a translation takes the ones it understands, and any left over is refused."""

    def __init__(self, onnx, node):
        self.values = {}
        for a in node.attribute:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, list):
                value = [v.decode() if isinstance(v, bytes) else v for v in value]
            self.values[a.name] = value.decode() if isinstance(value, bytes) else value
        self.taken = set()

    def take(self, name, default=None):
        self.taken.add(name)
        return self.values.get(name, default)

    def require(self, name, allowed, default):
        """An attribute whose only supported values are `allowed`."""
        value = self.take(name, default)
        if value not in allowed:
            raise Unsupported(f"attribute {name}={value!r} is not supported (staticnet takes {allowed})")
        return value

    def left_over(self) -> list[str]:
        return sorted(set(self.values) - self.taken)


class Importer:
    """The values of one ONNX graph as staticnet tensors, built node by node."""

    def __init__(self, onnx, graph, opset: int, arrays: dict):
        self.onnx, self.opset = onnx, opset
        self.arrays = arrays
        self.values: dict[str, Tensor] = {}
        self.param_names: set[str] = set()
        self.made: dict[int, tuple] = {}  # a transpose or reshape made here: its id -> (its input, op, axes or shape)

    # ------------------------------------------------------------ operands
    def tensor(self, name: str) -> Tensor:
        """The operand `name` as a tensor: float initializers become parameters, others constants."""
        if name not in self.values:
            if name not in self.arrays:
                raise Unsupported(f"reads {name!r}, which no earlier node, input or initializer defines")
            value = self.arrays[name]
            self.values[name] = (self.parameter(name, value) if value.dtype.kind == "f"
                                 else constant(value, value.dtype if value.dtype.kind == "i" else None))
        return self.values[name]

    def parameter(self, name: str, value) -> Tensor:
        """A parameter named after the initializer it holds (suffixed where a permuted copy needs a new name)."""
        unique, k = name, 1
        while unique in self.param_names:
            unique, k = f"{name}_{k}", k + 1
        self.param_names.add(unique)
        return param(unique, value=np.array(value))

    def known(self, name: str, what: str) -> np.ndarray:
        """An operand whose value must be known at import (an initializer or a Constant)."""
        if name in self.arrays:
            return self.arrays[name]
        raise Unsupported(f"its {what} ({name!r}) must be an initializer or a Constant; computed {what}s are "
                          "not supported")

    @staticmethod
    def optional(inputs, index):
        """The name given for optional input `index`, or None where it is left out (absent or empty)."""
        return inputs[index] if len(inputs) > index and inputs[index] else None

    # ------------------------------------------------------------ layout moves that cancel
    def transpose(self, x: Tensor, axes) -> Tensor:
        """x transposed; a transposition that only moves axes of size 1 is a reshape (the same order in memory)."""
        axes = tuple(int(a) for a in axes)
        if [a for a in axes if x.shape[a] != 1] == [a for a in range(x.ndim) if x.shape[a] != 1]:
            return self.reshape(x, [x.shape[a] for a in axes])
        made = self.made.get(x.id)
        if made is not None and made[1] == "transpose" and made[2] == tuple(np.argsort(axes).tolist()):
            return made[0]
        out = shape_ops.transpose(x, axes)
        self.made[out.id] = (x, "transpose", axes)
        return out

    def reshape(self, x: Tensor, target) -> Tensor:
        target = tuple(target)
        made = self.made.get(x.id)
        if made is not None and made[1] == "reshape" and made[0].shape == target:
            return made[0]
        out = shape_ops.reshape(x, target)
        if out is not x:
            self.made[out.id] = (x, "reshape", target)
        return out

    def to_nhwc(self, x: Tensor, op: str) -> Tensor:
        if x.ndim != 4:
            raise Unsupported(f"input of shape {x.shape}: staticnet's {op} takes 2-D images (N, C, H, W)")
        return self.transpose(x, (0, 2, 3, 1))

    def to_nchw(self, x: Tensor) -> Tensor:
        return self.transpose(x, (0, 3, 1, 2))


# ---------------------------------------------------------------- translations, by ONNX op type

def _same(build):
    """An op whose staticnet builder takes the same operands (as tensors) and no attributes."""
    return lambda imp, node, xs, attrs: [build(*(imp.tensor(x) for x in xs))]


def _variadic(build):
    """Max / Min of any number of operands, folded pairwise."""
    def translate(imp, node, xs, attrs):
        out = imp.tensor(xs[0])
        for x in xs[1:]:
            out = build(out, imp.tensor(x))
        return [out]
    return translate


def _gemm(imp, node, xs, attrs):
    """alpha op(A) op(B) + beta C; a transposed B initializer is stored transposed, (in, out) like dense's W."""
    alpha, beta = attrs.take("alpha", 1.0), attrs.take("beta", 1.0)
    a = imp.tensor(xs[0])
    if attrs.take("transA", 0):
        a = imp.transpose(a, (1, 0))
    if attrs.take("transB", 0):
        b = imp.parameter(xs[1], imp.arrays[xs[1]].T) if xs[1] in imp.arrays else imp.transpose(imp.tensor(xs[1]), (1, 0))
    else:
        b = imp.tensor(xs[1])
    y = matmul(a, b)
    if alpha != 1.0:
        y = y * alpha
    c = imp.optional(xs, 2)
    if c is not None:
        c = imp.tensor(c)
        y = y + (c * beta if beta != 1.0 else c)
    return [y]


def _pow(imp, node, xs, attrs):
    exponent = imp.known(xs[1], "exponent")
    if exponent.size != 1 or exponent.item() not in (2.0, 0.5):
        raise Unsupported(f"exponent {exponent.tolist()!r}: staticnet imports x**2 and x**0.5")
    x = imp.tensor(xs[0])
    return [elementwise.square(x) if exponent.item() == 2.0 else elementwise.sqrt(x)]


def _with_alpha(build, default):
    return lambda imp, node, xs, attrs: [build(imp.tensor(xs[0]), attrs.take("alpha", default))]


def _gelu(imp, node, xs, attrs):
    return [activations.gelu(imp.tensor(xs[0]), attrs.require("approximate", ["none", "tanh"], "none"))]


def _softmax(build):
    def translate(imp, node, xs, attrs):
        x = imp.tensor(xs[0])
        axis = attrs.take("axis", -1 if imp.opset >= 13 else 1) % max(x.ndim, 1)
        if imp.opset < 13 and axis != x.ndim - 1:
            raise Unsupported(f"axis={axis} before opset 13 normalises over every axis from {axis} on; staticnet "
                              "imports that only for the last axis")
        return [build(x, axis)]
    return translate


def _flatten(imp, node, xs, attrs):
    x = imp.tensor(xs[0])
    axis = attrs.take("axis", 1)
    if axis % x.ndim != 1:
        raise Unsupported(f"axis={axis}: staticnet flattens everything after the batch axis (axis=1)")
    return [imp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))]


def _reshape(imp, node, xs, attrs):
    x = imp.tensor(xs[0])
    allow_zero = attrs.take("allowzero", 0)
    target = [int(d) for d in imp.known(xs[1], "shape")]
    target = [x.shape[i] if d == 0 and not allow_zero else d for i, d in enumerate(target)]
    if None in target and -1 in target:  # the batch copied by a 0 and one size to infer: infer it here
        rest = math.prod(d for d in x.shape if d is not None) // math.prod(d for d in target if d not in (None, -1))
        target = [rest if d == -1 else d for d in target]
    return [imp.reshape(x, target)]


def _transpose(imp, node, xs, attrs):
    x = imp.tensor(xs[0])
    return [imp.transpose(x, attrs.take("perm", list(reversed(range(x.ndim)))))]


def _axes(imp, xs, attrs, index=1):
    """Axes from the attribute (older opsets) or the input (newer), or None for all."""
    axes = attrs.take("axes")
    given = imp.optional(xs, index)
    if given is not None:
        axes = imp.known(given, "axes").tolist()
    return axes


def _squeeze(imp, node, xs, attrs):
    x = imp.tensor(xs[0])
    axes = _axes(imp, xs, attrs)
    axes = {a % x.ndim for a in axes} if axes is not None else {i for i, d in enumerate(x.shape) if d == 1}
    return [imp.reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])]


def _unsqueeze(imp, node, xs, attrs):
    x = imp.tensor(xs[0])
    axes = _axes(imp, xs, attrs)
    rank = x.ndim + len(axes)
    axes = {a % rank for a in axes}
    dims = iter(x.shape)
    return [imp.reshape(x, [1 if i in axes else next(dims) for i in range(rank)])]


def _reduction(build):
    def translate(imp, node, xs, attrs):
        x = imp.tensor(xs[0])
        keepdims = bool(attrs.take("keepdims", 1))
        attrs.require("noop_with_empty_axes", [0], 0)
        axes = _axes(imp, xs, attrs)
        return [build(x, tuple(axes) if axes else None, keepdims)]
    return translate


def _cast(imp, node, xs, attrs):
    x = imp.tensor(xs[0])
    target = imp.onnx.helper.tensor_dtype_to_np_dtype(attrs.take("to"))
    if target == np.bool_:  # a nonzero test, as ONNX casts numbers to booleans
        return [elementwise.greater(elementwise.abs(x), 0.0)]
    return [x if target == x.dtype else elementwise.cast(x, target)]


def _not(imp, node, xs, attrs):
    return [1.0 - imp.tensor(xs[0])]


def _dropout(imp, node, xs, attrs):
    attrs.take("seed")
    training = imp.optional(xs, 2)
    if training is not None and bool(imp.known(training, "training_mode")):
        raise Unsupported("training_mode is true; staticnet imports the inference graph (dropout the identity)")
    return [imp.tensor(xs[0])]


def _constant(imp, node, xs, attrs):
    onnx = imp.onnx
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs.values:
            value = attrs.take(key)
            array = onnx.numpy_helper.to_array(value) if key == "value" else np.asarray(
                value, np.float32 if "float" in key else np.int64)
            imp.arrays[node.output[0]] = array
            return [imp.tensor(node.output[0])] if array.dtype.kind != "f" else [constant(array, array.dtype)]
    raise Unsupported(f"only numeric values are supported (it has {sorted(attrs.values)})")


def _pads(attrs, x, kernel, strides):
    """(top, bottom, left, right) zero padding from auto_pad and pads (ONNX orders pads begins, then ends)."""
    auto_pad = attrs.require("auto_pad", ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"], "NOTSET")
    pads = attrs.take("pads", [0, 0, 0, 0])
    if auto_pad == "VALID":
        return 0, 0, 0, 0
    if auto_pad == "NOTSET":
        top, left, bottom, right = pads
        return top, bottom, left, right
    sizes = []
    for size, k, s in zip(x.shape[2:], kernel, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        small, large = total // 2, total - total // 2
        sizes += [small, large] if auto_pad == "SAME_UPPER" else [large, small]
    return tuple(sizes)


def _positive_pair(attrs, name, default=(1, 1)) -> tuple[int, int]:
    """A 2-D window's or stride's attribute: two positive integers (0 would divide by zero)."""
    values = attrs.take(name, default)
    pair = isinstance(values, (list, tuple)) and len(values) == 2
    if not (pair and all(isinstance(v, int) and v > 0 for v in values)):
        raise Unsupported(f"attribute {name}={values!r} must be two positive integers (a 2-D window)")
    return tuple(values)


def _ones(attrs, name, op_type):
    values = attrs.take(name, [1, 1])
    if list(values) != [1, 1]:
        raise Unsupported(f"attribute {name}={list(values)} is not supported (staticnet's {op_type} takes 1s)")


def _conv(imp, node, xs, attrs):
    """NCHW Conv as staticnet's NHWC im2col product: the kernel (F, C, kh, kw) becomes (kh*kw*C, F)."""
    x = imp.tensor(xs[0])
    kernel = imp.known(xs[1], "kernel")
    if kernel.ndim != 4:
        raise Unsupported(f"kernel of shape {kernel.shape}: staticnet imports 2-D convolutions")
    filters, channels, kh, kw = kernel.shape
    attrs.require("group", [1], 1)
    _ones(attrs, "dilations", "conv2d")
    shape = attrs.take("kernel_shape", [kh, kw])
    if list(shape) != [kh, kw]:
        raise Unsupported(f"kernel_shape {list(shape)} differs from the kernel's {[kh, kw]}")
    sh, sw = _positive_pair(attrs, "strides")
    pads = _pads(attrs, x, (kh, kw), (sh, sw))
    images = imp.to_nhwc(x, "conv2d")
    patches = make_node("im2col", (images,), {"kh": kh, "kw": kw, "sh": sh, "sw": sw, "pads": pads}, called="conv2d")
    weights = imp.parameter(xs[1], kernel.transpose(2, 3, 1, 0).reshape(kh * kw * channels, filters))
    y = matmul(patches, weights)
    bias = imp.optional(xs, 2)
    if bias is not None:
        y = y + imp.tensor(bias)
    return [imp.to_nchw(y)]


def _pool(op):
    def translate(imp, node, xs, attrs):
        x = imp.tensor(xs[0])
        ph, pw = _positive_pair(attrs, "kernel_shape", None)
        sh, sw = _positive_pair(attrs, "strides")
        if any(_pads(attrs, x, (ph, pw), (sh, sw))):
            raise Unsupported("padding is not supported (staticnet pools unpadded windows)")
        if attrs.take("ceil_mode", 0) and ((x.shape[2] - ph) % sh or (x.shape[3] - pw) % sw):
            raise Unsupported("ceil_mode=1 adds a partial window here; staticnet pools whole windows only")
        _ones(attrs, "dilations", op)
        if op == "max_pool2d":
            attrs.require("storage_order", [0], 0)
        else:
            attrs.take("count_include_pad")  # no padding: every window counts the same
        pooled = make_node(op, (imp.to_nhwc(x, op),), {"ph": ph, "pw": pw, "sh": sh, "sw": sw})
        return [imp.to_nchw(pooled)]
    return translate


def _global_pool(op):
    def translate(imp, node, xs, attrs):
        x = imp.tensor(xs[0])
        nhwc = imp.to_nhwc(x, op)
        window = {"ph": nhwc.shape[1], "pw": nhwc.shape[2], "sh": 1, "sw": 1}
        return [imp.to_nchw(make_node(op, (nhwc,), window))]
    return translate


def _rnn(imp, node, xs, attrs):
    """ONNX's RNN (time-first, one direction, biases Wb + Rb) as staticnet's Elman rnn, batch-first."""
    activation = attrs.take("activations", ["Tanh"])
    if len(activation) != 1 or activation[0] not in ("Tanh", "Relu", "Sigmoid"):
        raise Unsupported(f"activations={activation}: staticnet's rnn takes one of Tanh, Relu, Sigmoid")
    attrs.require("direction", ["forward"], "forward")
    attrs.require("layout", [0], 0)
    for unsupported in ("clip", "activation_alpha", "activation_beta"):
        if unsupported in attrs.values:
            raise Unsupported(f"attribute {unsupported} is not supported")
    hidden = attrs.take("hidden_size")
    w, r = imp.known(xs[1], "W"), imp.known(xs[2], "R")
    biases = imp.known(xs[3], "B") if imp.optional(xs, 3) else np.zeros((1, 2 * hidden), w.dtype)
    if imp.optional(xs, 4):
        raise Unsupported("sequence_lens is not supported (staticnet runs every sequence to its full length)")
    initial = imp.optional(xs, 5)
    if initial is not None and np.any(imp.known(initial, "initial_h")):
        raise Unsupported("a nonzero initial_h is not supported (staticnet's rnn starts from zeros)")
    x = imp.transpose(imp.tensor(xs[0]), (1, 0, 2))
    bias_name = imp.optional(xs, 3) or f"{xs[1]}_bias"
    states = make_node("rnn", (x, imp.parameter(xs[1], w[0].T), imp.parameter(xs[2], r[0].T),
                               imp.parameter(bias_name, biases[0, :hidden] + biases[0, hidden:])),
                       {"activation": activation[0].lower()})
    steps = x.shape[1]
    sequence = imp.reshape(imp.transpose(states, (1, 0, 2)), (steps, 1, None, hidden))
    last = imp.reshape(make_node("step_at", (states,), {"index": steps - 1}), (1, None, hidden))
    return [sequence, last]


def _gather(imp, node, xs, attrs):
    """One position along axis 1 (a time step of a sequence), as staticnet's step_at."""
    x = imp.tensor(xs[0])
    axis = attrs.take("axis", 0)
    index = imp.known(xs[1], "index")
    if axis % x.ndim != 1 or index.ndim != 0:
        raise Unsupported(f"staticnet imports Gather of one index (a scalar) along axis 1, got axis {axis} and "
                          f"indices of shape {index.shape}")
    size = x.shape[1]
    if not -size <= int(index) < size:  # ONNX (and onnxruntime) refuse it; wrapped, it would pick another step
        raise Unsupported(f"index {int(index)} is out of range for axis 1 of size {size} (from {-size} to {size - 1})")
    return [make_node("step_at", (x,), {"index": int(index) % size})]


def _registered(op: str, attributes: dict):
    """The staticnet op whose registration names this ONNX op (its `onnx` rule): the same operands, and the
    attributes of those names (ONNX's defaults where the node has none)."""
    def translate(imp, node, xs, attrs):
        values = {name: type(default)(attrs.take(name, default)) for name, default in attributes.items()}
        return [make_node(op, tuple(imp.tensor(x) for x in xs), values)]
    return translate


IMPORTS = {
    **{opdef.onnx[0]: _registered(name, opdef.onnx[1]) for name, opdef in registry.items() if opdef.onnx},
    "Gemm": _gemm, "MatMul": _same(matmul), "Pow": _pow,
    "Max": _variadic(elementwise.maximum), "Min": _variadic(elementwise.minimum),
    "Greater": _same(elementwise.greater), "GreaterOrEqual": _same(elementwise.greater_equal),
    "Less": _same(elementwise.less), "LessOrEqual": _same(elementwise.less_equal),
    "Equal": _same(elementwise.equal), "Not": _not, "Where": _same(elementwise.where), "Cast": _cast,
    "LeakyRelu": _with_alpha(activations.leaky_relu, 0.01),
    "Elu": _with_alpha(activations.elu, 1.0), "PRelu": _same(activations.prelu), "Gelu": _gelu,
    "Swish": _with_alpha(activations.swish, 1.0),
    "Softmax": _softmax(activations.softmax), "LogSoftmax": _softmax(activations.log_softmax),
    "Flatten": _flatten, "Reshape": _reshape, "Transpose": _transpose, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "ReduceSum": _reduction(reduce.sum), "ReduceMax": _reduction(reduce.max), "ReduceMean": _reduction(reduce.mean),
    "Conv": _conv, "MaxPool": _pool("max_pool2d"), "AveragePool": _pool("avg_pool2d"),
    "GlobalMaxPool": _global_pool("max_pool2d"), "GlobalAveragePool": _global_pool("avg_pool2d"),
    "RNN": _rnn, "Gather": _gather, "Identity": _same(lambda x: x), "Dropout": _dropout, "Constant": _constant,
}


# ---------------------------------------------------------------- the whole model

class ImportedGraph:
    """An imported ONNX model: its inputs and outputs as staticnet tensors, and its parameters.

    Fine-tune with sn.compile(cost of .outputs, outputs=..., optimizer=...), or .compile() for the usual
    cost; .predict runs it with NumPy (staticnet.inference), .compile().predict with Numba."""

    def __init__(self, source: str, inputs, outputs, output_names):
        self.source, self.inputs, self.outputs, self.output_names = source, inputs, outputs, output_names

    def __repr__(self):
        shown = ", ".join(f"{t.name} {t.shape}" for t in self.inputs)
        return f"<ImportedGraph {self.source}: ({shown}) -> {', '.join(self.output_names)}>"

    @property
    def output(self) -> Tensor:
        if len(self.outputs) != 1:
            raise GraphError(f"{self.source} has {len(self.outputs)} outputs ({', '.join(self.output_names)}); "
                             "use .outputs")
        return self.outputs[0]

    @property
    def params(self) -> list[Tensor]:
        return Graph(self.outputs).params

    def predictor(self):
        from .predictor import Predictor
        return Predictor(self.inputs, self.outputs, single_output=len(self.outputs) == 1,
                         output_names=self.output_names)

    def predict(self, data, batch_size: int = 1000):
        """The outputs for every row of `data`, with the NumPy reference interpreter (no Numba)."""
        return self.predictor().predict(data, batch_size)

    def compile(self, optimizer=None, labels: str = "y", metrics=None):
        """A Model of the single output, trained against input `labels` by cross-entropy where the output is a
        softmax or sigmoid, else by the quadratic cost; ready to predict, or to fit to fine-tune."""
        from .model import Model
        from .ops.loss import cross_entropy, mse
        from .optim import SGD
        p = self.output
        y = graph_input(labels, p.shape, p.dtype)
        cost = cross_entropy(p, y) if p.op in ("softmax", "sigmoid") else mse(p, y)
        return Model(cost, p, optimizer or SGD(lr=0.1), metrics)


def _read(onnx, path):
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise DataError(f"{path}: no such ONNX model file")
    try:
        model = onnx.load(os.fspath(path))
    except Exception as e:  # noqa: BLE001  protobuf's decode errors have no common public base
        raise DataError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise DataError(f"{path}: not a valid ONNX model ({str(e).splitlines()[0]})") from None
    return model


def _opset(model, path) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ONNX_DOMAINS]
    if not versions:
        raise DataError(f"{path}: imports no version of the standard ONNX operator set")
    return versions[0]


def _graph_input(onnx, value_info, path) -> Tensor:
    tensor_type = value_info.type.tensor_type
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    except (KeyError, TypeError):
        dtype = None
    if dtype not in (np.float32, np.float64, np.int32, np.int64):
        raise DataError(f"{path}: input {value_info.name!r} has element type {tensor_type.elem_type} "
                        f"({dtype}); staticnet takes float32, float64, int32 and int64")
    if not tensor_type.HasField("shape"):
        raise DataError(f"{path}: input {value_info.name!r} has no shape; staticnet needs every size but the batch")
    dims = [int(d.dim_value) if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    if dims.count(None) > 1:
        raise DataError(f"{path}: input {value_info.name!r} has {dims.count(None)} symbolic sizes; staticnet "
                        "lets one vary (the batch)")
    return graph_input(value_info.name, tuple(dims), dtype)


def _check_name(path, field: str, name: str) -> None:
    """A name the graph takes for an input or a parameter follows staticnet's rule (checks.NAME_RULE), which
    admits the names exporters write (PyTorch's input.1, onnx::Gemm_0, /fc1/Gemm_output_0)."""
    problem = checks.name_problem(name)
    if problem is not None:
        raise DataError(f"{path}: field {field} {problem}")


def _initializers(onnx, graph, path) -> dict:
    """The initializers' arrays by name, each name checked (a float one becomes a parameter's) and each array
    read whole: data of the wrong length for its dims, or of a type NumPy has no array of, is refused here."""
    arrays = {}
    for i, t in enumerate(graph.initializer):
        _check_name(path, f"graph.initializer[{i}].name", t.name)
        try:
            arrays[t.name] = onnx.numpy_helper.to_array(t)
        except Exception as e:  # noqa: BLE001  onnx raises ValueError, TypeError or its own errors
            raise DataError(f"{path}: initializer {t.name!r} (graph.initializer[{i}]) cannot be read: "
                            f"{type(e).__name__}: {e}") from None
    return arrays


def _label(node, index: int) -> str:
    """How messages name an ONNX node: by its name, or (unnamed) by its position and first output."""
    if node.name:
        return f"node {node.name!r} ({node.op_type})"
    return f"node #{index} ({node.op_type}, output {node.output[0]!r})"


def import_model(path) -> ImportedGraph:
    """Read an ONNX file and build its graph (see the module docstring)."""
    onnx = require_onnx("ONNX import")
    model = _read(onnx, path)
    opset = _opset(model, path)
    graph = model.graph
    imp = Importer(onnx, graph, opset, _initializers(onnx, graph, path))
    for i, v in enumerate(graph.input):
        _check_name(path, f"graph.input[{i}].name", v.name)
    inputs = [_graph_input(onnx, v, path) for v in graph.input if v.name not in imp.arrays]
    for t in inputs:
        imp.values[t.name] = t
    read_later = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    base = os.path.basename(os.fspath(path))
    for index, node in enumerate(graph.node):
        label = _label(node, index)
        translate = IMPORTS.get(node.op_type) if node.domain in ONNX_DOMAINS else None
        if translate is None:
            domain = f" of domain {node.domain!r}" if node.domain not in ONNX_DOMAINS else ""
            raise DataError(f"{path}: {label}: op type {node.op_type}{domain} is not supported; staticnet imports "
                            f"{', '.join(sorted(IMPORTS))}")
        attrs = Attributes(onnx, node)
        try:
            with derived_from(f"{base} {label}"):
                results = translate(imp, node, list(node.input), attrs)
        except Unsupported as e:
            raise DataError(f"{path}: {label}: {e}") from None
        except GraphError as e:  # a builder's message names the node: it is the tensors' source line
            raise DataError(f"{path}: {e}") from None
        except (ValueError, TypeError, ArithmeticError, IndexError) as e:  # attributes of a kind no check foresaw
            raise DataError(f"{path}: {label}: {type(e).__name__}: {e}") from None
        if attrs.left_over():
            raise DataError(f"{path}: {label}: attribute {attrs.left_over()[0]} is not supported")
        for k, name in enumerate(node.output):
            if k < len(results):
                imp.values[name] = results[k]
            elif name and name in read_later:
                raise DataError(f"{path}: {label}: its output {k} ({name!r}) is not supported")
    outputs = []
    for o in graph.output:
        if o.name not in imp.values:
            raise DataError(f"{path}: output {o.name!r} is computed by no node")
        outputs.append(imp.values[o.name])
    return ImportedGraph(os.fspath(path), inputs, outputs, [o.name for o in graph.output])
