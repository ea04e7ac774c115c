"""ONNX import: a model written by another tool (torch.onnx, tf2onnx, onnx.helper) as a staticnet graph.

Each ONNX node is translated, in the file's order, by the import form of the op it becomes, which that op's
registration gives (staticnet/ops/): its `onnx_import` forms by ONNX op type, or the ONNX op its `onnx` rule
names. Only Constant and Identity, which compute nothing, are this module's. An initializer
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
file, the ONNX node and its op type. This module holds only the file-level machinery: reading and checking
the file (names, initializers, inputs), the operands and attributes an import form reads, and the walk over
the nodes.
"""
from __future__ import annotations

import os

import numpy as np

from . import checks
from .errors import DataError, GraphError
from .graph import Graph, Tensor, constant, derived_from, input as graph_input, make_node, param
from .onnx_support import Unsupported, require_onnx
from .ops import shape as shape_ops
from .registry import registry

ONNX_DOMAINS = ("", "ai.onnx")


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

    def pads(self, x, kernel, strides) -> tuple:
        """(top, bottom, left, right) zero padding of an NCHW image x from auto_pad and pads (ONNX orders pads
        begins, then ends)."""
        auto_pad = self.require("auto_pad", ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"], "NOTSET")
        pads = self.take("pads", [0, 0, 0, 0])
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

    def positive_pair(self, name, default=(1, 1)) -> tuple[int, int]:
        """A 2-D window's or stride's attribute: two positive integers (0 would divide by zero)."""
        values = self.take(name, default)
        pair = isinstance(values, (list, tuple)) and len(values) == 2
        if not (pair and all(isinstance(v, int) and v > 0 for v in values)):
            raise Unsupported(f"attribute {name}={values!r} must be two positive integers (a 2-D window)")
        return tuple(values)

    def ones(self, name, op: str) -> None:
        """A pair of factors (dilations) that staticnet's `op` takes only as 1s."""
        values = self.take(name, [1, 1])
        if list(values) != [1, 1]:
            raise Unsupported(f"attribute {name}={list(values)} is not supported (staticnet's {op} takes 1s)")

    def left_over(self) -> list[str]:
        return sorted(set(self.values) - self.taken)


class Importer:
    """The values of one ONNX graph as staticnet tensors, built node by node."""

    def __init__(self, onnx, graph, opset: int, arrays: dict):
        self.onnx, self.opset = onnx, opset
        self.arrays = arrays
        self.values: dict[str, Tensor] = {}
        self.param_names: set[str] = set()
        self.transposed: dict[int, tuple] = {}  # a transpose made here: its id -> (its input, its axes)
        self.reshaped: dict[int, Tensor] = {}  # a reshape made here: its id -> its input

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

    def parameter(self, name: str, value, trainable: bool = True) -> Tensor:
        """A parameter named after the initializer it holds (suffixed where a permuted copy needs a new name);
        trainable=False for state (a batch norm's running statistics)."""
        unique, k = name, 1
        while unique in self.param_names:
            unique, k = f"{name}_{k}", k + 1
        self.param_names.add(unique)
        return param(unique, value=np.array(value), trainable=trainable)

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

    def axes(self, operands, attrs, index=1):
        """A reduction's or squeeze's axes: from the attribute (older opsets) or the input (newer), or None for
        all."""
        axes = attrs.take("axes")
        given = self.optional(operands, index)
        if given is not None:
            axes = self.known(given, "axes").tolist()
        return axes

    def numpy_dtype(self, code: int) -> np.dtype:
        """The NumPy dtype of an ONNX element type (a Cast's `to`)."""
        return np.dtype(self.onnx.helper.tensor_dtype_to_np_dtype(code))

    def constant(self, name: str, attrs: Attributes) -> list[Tensor]:
        """A Constant node's value: an array known at import, kept under its output's name."""
        for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
            if key in attrs.values:
                value = attrs.take(key)
                array = self.onnx.numpy_helper.to_array(value) if key == "value" else np.asarray(
                    value, np.float32 if "float" in key else np.int64)
                self.arrays[name] = array
                return [self.tensor(name)] if array.dtype.kind != "f" else [constant(array, array.dtype)]
        raise Unsupported(f"only numeric values are supported (it has {sorted(attrs.values)})")

    # ------------------------------------------------------------ layout moves that cancel
    def transpose(self, x: Tensor, axes) -> Tensor:
        """x transposed; a transposition that only moves axes of size 1 is a reshape (the same order in memory)."""
        axes = tuple(int(a) for a in axes)
        if [a for a in axes if x.shape[a] != 1] == [a for a in range(x.ndim) if x.shape[a] != 1]:
            return self.reshape(x, [x.shape[a] for a in axes])
        made = self.transposed.get(x.id)
        if made is not None and made[1] == tuple(np.argsort(axes).tolist()):
            return made[0]
        out = shape_ops.transpose(x, axes)
        self.transposed[out.id] = (x, axes)
        return out

    def reshape(self, x: Tensor, target) -> Tensor:
        target = tuple(target)
        source = self.reshaped.get(x.id)
        if source is not None and source.shape == target:
            return source
        out = shape_ops.reshape(x, target)
        if out is not x:
            self.reshaped[out.id] = x
        return out

    def to_nhwc(self, x: Tensor, op: str) -> Tensor:
        if x.ndim != 4:
            raise Unsupported(f"input of shape {x.shape}: staticnet's {op} takes 2-D images (N, C, H, W)")
        return self.transpose(x, (0, 2, 3, 1))

    def to_nchw(self, x: Tensor) -> Tensor:
        return self.transpose(x, (0, 3, 1, 2))


# ---------------------------------------------------------------- the import forms, by ONNX op type

def _registered(op: str, attributes: dict):
    """The import form an op's `onnx` rule gives: the same operands, and the attributes of those names
    (ONNX's defaults where the node has none)."""
    def translate(imp, operands, attrs):
        values = {name: type(default)(attrs.take(name, default)) for name, default in attributes.items()}
        return [make_node(op, tuple(imp.tensor(x) for x in operands), values)]
    return translate


def import_forms() -> dict:
    """ONNX op type -> (importer, operand names, attributes) -> its tensors, from every op's registration (its
    `onnx_import` forms, then its `onnx` rule). Identity and Constant compute nothing: they are the importer's."""
    forms = {"Identity": lambda imp, operands, attrs: [imp.tensor(operands[0])]}
    owner = {}
    for name, opdef in registry.items():
        own = dict(opdef.onnx_import or {})
        if opdef.onnx:
            own.setdefault(opdef.onnx[0], _registered(name, opdef.onnx[1]))
        for op_type, translate in own.items():
            if op_type in forms:
                raise RuntimeError(f"ONNX op type {op_type} is imported by both {owner.get(op_type)!r} and {name!r}")
            forms[op_type], owner[op_type] = translate, name
    return forms


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
        from .ops.loss import default_cost
        from .optim import SGD
        p = self.output
        return Model(default_cost(p, graph_input(labels, p.shape, p.dtype)), p, optimizer or SGD(lr=0.1), metrics)


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
    forms = import_forms()
    for index, node in enumerate(graph.node):
        label = _label(node, index)
        standard = node.domain in ONNX_DOMAINS
        if not (standard and (node.op_type in forms or node.op_type == "Constant")):
            domain = f" of domain {node.domain!r}" if not standard else ""
            raise DataError(f"{path}: {label}: op type {node.op_type}{domain} is not supported; staticnet imports "
                            f"{', '.join(sorted([*forms, 'Constant']))}")
        attrs = Attributes(onnx, node)
        try:
            with derived_from(f"{base} {label}"):
                results = (imp.constant(node.output[0], attrs) if node.op_type == "Constant"
                           else forms[node.op_type](imp, list(node.input), attrs))
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
