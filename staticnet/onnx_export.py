"""ONNX export: a staticnet prediction graph as an ONNX model that onnxruntime (or any ONNX consumer) runs.

The graph exported is the inference graph: dropout removed and identities such as x * 1 dropped
(passes.strip_dropout, passes.simplify: values unchanged).  Parameters become initializers holding their
current values, inputs keep their names and shapes with the batch dimension symbolic ("batch").

Each node needed by the outputs is planned by its op's registration (staticnet/ops/): its `onnx_export`
rule, or the ONNX op its `onnx` rule names. A composite (gelu, elu, swish, ...) whose rule has no form at
the chosen opset (Gelu before opset 20, Swish before 24) is replaced by its decomposition first, so it
still exports as an exact composition. Plans are made from the outputs back to the inputs, so a node
whose value a plan reads past (im2col under a Conv) is translated only if something else reads it.

Layout: staticnet images are NHWC (batch, height, width, channels); ONNX Conv, MaxPool and AveragePool
work on NCHW.  Each such op is wrapped in explicit Transposes, so every other value keeps staticnet's
layout: the exported model takes the same arrays as the staticnet model, and flatten keeps its
(height, width, channel) order.  A value transposed back to NCHW right after leaving an NCHW op reuses
that op's output, so a convolution followed by pooling has no transposes between them.  Conv weights,
stored as (kh*kw*in_channels, filters) with rows in (i, j, channel) order, are permuted into ONNX's
(filters, in_channels, kh, kw).  The Elman rnn is ONNX's RNN (the same recurrence), its inputs and
outputs transposed between staticnet's batch-first and ONNX's time-first layout. This module holds only
the file-level machinery: the builder, the opset, initializers and the walk over the graph.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import GraphError
from .graph import Tensor, located, output_list, topological, user_location
from .passes.inline_composites import expand
from .predictor import inference_outputs
from .program import Program, rebuild
from .registry import registry
from .onnx_support import TO_NCHW, TO_NHWC, Plan, checked_opset, require_onnx
from .paths import output_problem

BATCH = "batch"  # the name of the symbolic batch dimension in the exported model


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
        """An ONNX node; its value is named after the staticnet node's layer, where it has one (dense1/matmul)."""
        layer = self.current.layer if self.current is not None else None
        out = self.reserve(out) if out else self.fresh(f"{layer}/{op_type.lower()}" if layer else op_type.lower())
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


# ---------------------------------------------------------------- each node's plan, from its registration

def _registered(node, op_type: str, attributes: dict) -> Plan:
    """The ONNX op an op's `onnx` rule names, with the node's attributes of those names."""
    return Plan(node.inputs, lambda b, xs, out: b.node(op_type, xs, out,
                                                       **{name: node.attrs[name] for name in attributes}))


def plan_node(node: Tensor, b: Builder) -> Plan | None:
    """The node's plan at the builder's opset, or None where its op has no ONNX form there."""
    opdef = registry[node.op]
    if opdef.onnx_export is not None:
        return opdef.onnx_export(node, b)
    return _registered(node, *opdef.onnx) if opdef.onnx else None


def exportable_ops() -> list[str]:
    return sorted({name for name, opdef in registry.items() if opdef.onnx_export or opdef.onnx or opdef.decomposition}
                  | {"input", "param", "constant"})


def _decomposed_where_needed(outputs, b: Builder) -> list[Tensor]:
    """The outputs with every composite that has no ONNX form at this opset replaced by its decomposition
    (which may hold composites in turn)."""
    def rule(node, inputs):
        if registry[node.op].decomposition is None or plan_node(node, b) is not None:
            return None
        return expand(node, inputs)

    program = Program(outputs=tuple(outputs))
    while True:
        rewritten = rebuild(program, rule)
        if rewritten is program:
            return list(program.outputs)
        program = rewritten


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
    b = Builder(onnx, opset)
    exported = _decomposed_where_needed(inference_outputs(outputs), b)
    for name in [t.name for t in inputs] + output_names:
        b.reserve(name)

    order = topological(exported)
    needed = {t.id for t in exported}
    plans: dict[int, Plan] = {}
    for node in reversed(order):  # outputs first: what a plan reads past is planned only if read elsewhere
        if node.id in needed and not node.is_leaf:
            plan = plan_node(node, b)
            if plan is None:
                raise located(GraphError, node.op, node.loc,
                              f"cannot be exported to ONNX; the exportable ops are {', '.join(exportable_ops())} "
                              "(every layer and activation of staticnet is made of these)")
            plans[node.id] = plan
            needed.update(t.id for t in plan.operands)
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
    from .durable import write_durably

    problem = output_problem(path)
    if problem is not None:
        given = repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else type(path).__name__
        raise located(GraphError, "export_onnx", user_location(), f"path {given}: {problem}")
    data = to_model(outputs, inputs, opset, output_names).SerializeToString()
    write_durably(path, lambda raw: raw.write(data))
