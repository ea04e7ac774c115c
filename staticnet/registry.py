"""The op registry: each op's rules, registered by the op's module (staticnet/ops/) and looked up by name.

It imports nothing of staticnet, so the graph, the passes and the code generator can all read it, and
only the op modules, which register their ops, sit above it.

A composite (JAX's lax.composite) is an op registered with a `decomposition`: a function building it from
other ops. Its nodes keep its name through the graph (explain, summary and ONNX export see a gelu, not an
erf and four products); passes/inline_composites.py replaces each by its decomposition before the other
passes unless the op has a lowering of its own (kind other than "composite"). ops/composite.py registers
one, deriving from the decomposition the shape rule, reference and gradient it does not give.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class OpDef:
    name: str
    shape_rule: Callable  # (*inputs, **attrs) -> (shape, dtype); raises ShapeError / DTypeError
    numpy: Callable  # (*arrays, **attrs) -> ndarray: the reference definition
    grad: Callable | None  # (node, g) -> one gradient tensor (or None) per input
    kind: str  # fusion pattern: elementwise, broadcast, reduce, gemm, shape, opaque, multi, part, effect, or
    #            composite (no lowering: inlined from its decomposition before the other passes)
    scalar: str | None = None  # elementwise only: one element's Python expression, inputs as {0}, {1}, ...
    lower: Callable | None = None  # opaque ops: (node, driver) -> emits the statements computing node
    row_wise: bool | Callable = False  # each batch row of the output depends only on the same rows of the
    #                                    inputs; a callable (node, views) -> bool decides node by node
    parallel_rows: bool = False  # heavy enough that a step splits the run of row-wise ops holding it across
    #                              threads by batch rows (codegen/parallel.py)
    threads_at: Callable | None = None  # (node, batch) -> whether its kernel shares its own work among the threads
    #                                     at that batch size (the LSTM's runs of examples), so the step has a thread
    #                                     count to choose (codegen/parallel.py threads_matter)
    flops: Callable | None = None  # (node, size) -> floating-point operations, size(shape) counting the
    #                                elements of a shape at the report's batch size; default one per input element
    describe: Callable | None = None  # node -> the kernel's name in reports; default the op's name
    source_ops: Callable | None = None  # node -> the user-level ops whose work a fused node does
    note: str | None = None  # how the op is computed where that is not its formula, and why (a stable form):
    #                          the generated code's comments say it once per step (staticnet/explain.py)
    onnx: tuple | None = None  # (ONNX op type, {attribute: ONNX's default}): the ONNX operator of the same
    #                            meaning on the same operands, whose attributes are the node's of those names;
    #                            onnx_export.py and onnx_import.py translate the op as it says
    onnx_export: Callable | None = None  # (node, onnx_export.Builder) -> onnx_support.Plan, or None where the
    #                                      builder's opset has no form for it (a composite then exports its
    #                                      decomposition): for ops the `onnx` rule cannot say
    onnx_import: dict | None = None  # {ONNX op type: (onnx_import.Importer, operand names, onnx_import.Attributes)
    #                                  -> [tensor per ONNX output]}: the ONNX ops built as this op, where the
    #                                  `onnx` rule cannot say (other attributes, other operands, a layout)
    decomposition: Callable | None = None  # (*inputs, **attrs) -> Tensor: the op written with other ops
    state_updates: Callable | None = None  # node -> [(state parameter, its value after a training step)]: state
    #                                        the training step writes beside the optimizer's updates (batch
    #                                        norm's moving statistics), read at evaluation (`inference` rules)
    # How explain writes the op in the book's notation; without either, op(operands).
    infix: tuple | None = None  # (symbol, precedence): between its two operands, " + " (1), " * " (2), " @ " (2)
    equations: Callable | None = None  # (node, state) -> the lines explain writes above the code computing the
    #                                    op's values (state False: batch norm's normalise, scale and shift) or its
    #                                    state_updates (True: the moving update), as it writes BP1-BP4
    notation: Callable | None = None  # (node, [(operand's text, its precedence)], top) -> (text, precedence), or
    #                                   None for op(operands); `top`: the node is the expression, not inside one
    # Traits: what other code asks about an op, so that it never tests op names (explain, summary, metrics,
    # learning_speed and the passes read these).
    activation: bool = False  # an activation function: a layer's a^l in explain, part of its layer in summary
    classifier_output: bool = False  # its values are class scores or decisions: accuracy is the default metric
    monotone: bool = False  # elementwise and non-decreasing, so max(f(z)) = f(max(z)) (passes/pool_early.py)
    product: bool = False  # a matrix product of its two operands (fuse_gemm, fuse_updates, explain's layers)
    cross_entropy_of: str | None = None  # a cost fused with this activation, whose first input is the logits:
    #                                      sigma'(z) cancels in BP1 (explain, metrics)
    with_activation: str | None = None  # for such a cost: the op computing it and that activation's values in
    #                                     one pass over the logits, as parts 0 and 1 (passes/fuse_losses.py)
    row_weighted: Callable | None = None  # (node, rebuilt inputs, w) -> the node with row i of the batch it
    #                                      reduces weighted by w[i] (sample weights: staticnet/sample_weights.py);
    #                                      an op reducing over the batch rows without one refuses sample weights
    patches: bool = False  # gathers the windows of an image into rows, for a product: a convolution's first step
    associative: bool = False  # an infix op written a + b + c for a + (b + c) (explain)
    aliases_input: bool = False  # its value may be its input's buffer read with another shape (a reshape of a
    #                              contiguous array): the memory plan gives it no buffer (codegen/memory.py)
    takes_labels: bool = False  # its first input holds integer class labels below attrs["classes"] (one_hot):
    #                             labels fed to it are checked against that count (data_checks.check_labels)
    takes_ids: bool = False  # its first input holds integer ids below the rows of its second (embedding): ids fed
    #                          to it are checked against that count (data_checks.check_ids)
    view: bool = False  # its values are its first input's, moved or repeated without arithmetic (reshape,
    #                     transpose, broadcast): explain names what it is a view of
    workspace: bool = False  # a buffer of the step's workspace that computes nothing (a recurrent layer's tape):
    #                          summary, the kernel report and FLOPs leave it out, as they leave out reshapes

    @property
    def does_work(self) -> bool:
        """Whether a node of this op computes anything (parts and reshapes only name other values, a workspace
        buffer only holds what other kernels write)."""
        return self.kind not in ("part", "shape") and not self.workspace

    @property
    def returns_many(self) -> bool:
        """Whether the reference definition returns a tuple of arrays rather than one array."""
        return self.kind in ("multi", "effect")


registry: dict[str, OpDef] = {}

ATOM = 3  # the precedence of a name or a call in explain's notation: never put in parentheses


def register(name, *, shape, numpy, grad, kind="opaque", **rules) -> OpDef:
    """Register op `name`: its shape rule, NumPy reference, gradient and fusion kind, and any of OpDef's
    other rules by keyword."""
    if name in registry:
        raise RuntimeError(f"op {name!r} registered twice")
    if isinstance(rules.get("onnx"), str):  # an ONNX op without attributes
        rules["onnx"] = (rules["onnx"], {})
    registry[name] = OpDef(name, shape, numpy, grad, kind, **rules)
    return registry[name]


def has_trait(node, trait: str):
    """The value of one of OpDef's traits for a node's op (False for the leaves, which have no OpDef)."""
    return node.op in registry and getattr(registry[node.op], trait)


def state_updates_of(nodes) -> list:
    """The (state parameter, its value after a training step) pairs the ops among `nodes` write each step, such
    as a batch norm's moving statistics (their `state_updates` rules), in the nodes' order."""
    return [pair for node in nodes if has_trait(node, "state_updates") for pair in registry[node.op].state_updates(node)]


def no_gradient(node, g):
    """For ops whose derivative is zero almost everywhere (step, sign, masks)."""
    return (None,) * len(node.inputs)
