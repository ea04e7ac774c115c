"""Per-example weights of the loss: fit's sample_weight= and class_weight=, evaluate's sample_weight=.

The convention is Keras's: a batch of n rows costs 1/n sum_i w_i C_i, divided by the row count, not by the sum
of the weights, so integer weights act as repeated rows counted once in n (the weighted mean over an epoch is
sum_i w_i C_i / N).  L1 and L2 terms, which sum over weights rather than rows, are not weighted.

The weights are one more input of the training and evaluation steps, `sample_weight` of shape (batch,), fed and
gathered with the rows by the compiled loop as every input is.  A model gets that second pair of steps when a fit
or an evaluate is first given weights (`weighted_loops`): the loss is rebuilt with each sum over the batch rows
that only the loss reads taking the weights (each op's `row_weighted` rule: a cross-entropy's third operand, a
sum's multiplied rows, a row count left as it is), differentiated again, and the optimizer's updates of the same
parameters and state are rebuilt on those gradients.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import checks
from .autodiff import gradients
from .codegen.driver import Driver, Sizes
from .codegen.loops import BINARY, epoch_loop, metric_kind
from .codegen.memory import plan_memory
from .errors import ArgumentError, GraphError
from .graph import Tensor, input as graph_input, located, topological
from .metrics import true_classes
from .passes import optimize
from .passes.strip_dropout import strip_dropout
from .program import Program, rebuild
from .registry import registry
from .runtime import Generated, Workspace, kernels_called

WEIGHT_INPUT = "sample_weight"


def weighted_loss(loss: Tensor, outputs, w: Tensor) -> Tensor:
    """`loss` with each of its sums over the batch rows (outside the outputs' graph) weighting row i by w[i];
    a GraphError naming the op and its line where one reduces the rows without a rule for weights."""
    forward = {t.id for t in topological(list(outputs))}

    def rule(node, inputs):
        reduces_rows = any(None in t.shape for t in node.inputs) and None not in node.shape
        if node.id in forward or not reduces_rows:
            return None
        form = registry[node.op].row_weighted if node.op in registry else None
        if form is None:
            raise located(GraphError, node.op, node.loc, "reduces over the batch rows in the loss in a way sample "
                                                         "weights cannot weight: write the loss with sums over the "
                                                         "rows (sn.mse, the cross-entropies) to train with weights")
        return form(node, inputs, w)
    return rebuild(Program(outputs=(loss,)), rule).outputs[0]


@dataclass
class CompiledLoops:
    """Compiled loops and what calling them takes: their steps' inputs (with row weights, the last), the steps,
    the generated module and the workspaces."""
    inputs: list
    steps: dict
    generated: Generated
    workspaces: dict


def weighted_loops(model) -> CompiledLoops:
    """Build and compile (or load) the weighted training and evaluation loops of `model`."""
    taken = [t for t in model.inputs if t.name == WEIGHT_INPUT]
    if taken:
        raise located(GraphError, "fit", taken[0].loc, f"an input is named {WEIGHT_INPUT!r}, the name of the row "
                                                       "weights' input: rename it to train with sample weights")
    w = graph_input(WEIGHT_INPUT, (None,), model.loss.dtype)
    loss = weighted_loss(model.loss, model.outputs, w)
    grads, _ = gradients(loss, model.trainable, model.loss.loc)
    new_gradient = {old.id: new for old, new in zip(model.gradients, grads)}
    updates = rebuild(Program(updates=model.update_pairs), lambda node, inputs: new_gradient.get(node.id)).updates
    outputs = (loss, *model.outputs)
    train = optimize(Program(outputs=outputs, updates=updates), [])
    evaluate = optimize(strip_dropout(Program(outputs=outputs)), [])
    inputs = model.inputs + [w]
    sizes = Sizes()
    steps = {"train": Driver(train, inputs, plan_memory(train, extra_live=inputs), sizes, model.notes),
             "eval": Driver(evaluate, inputs, sizes=sizes, notes=model.notes)}
    metric = model.accuracy_metric
    for _ in range(2):  # as Model._compile: the second time every signature lists every size
        functions = [epoch_loop("train_epoch", steps["train"], train=True, loss_index=0, metric=metric),
                     epoch_loop("eval_epoch", steps["eval"], train=False, loss_index=0, metric=metric)]
    generated = Generated("staticnet_weighted_model", functions, "a model trained with sample weights: "
                          "train_epoch and eval_epoch", list(steps.values()),
                          {function: kernels_called(steps[step]) for function, step in
                           (("train_epoch", "train"), ("eval_epoch", "eval"))})
    return CompiledLoops(inputs, steps, generated, {name: Workspace(s.plan) for name, s in steps.items()})


def row_weights(model, arrays, sample_weight, class_weight, op: str) -> np.ndarray | None:
    """One weight per row of `arrays` (the model's inputs), in the loss's dtype, from sample_weight (an array of
    one weight per row) times class_weight ({class: weight} of each row's label; classes left out weigh 1);
    None when neither is given.  An ArgumentError names the first bad row or class."""
    if sample_weight is None and class_weight is None:
        return None
    rows = arrays[0].shape[0]
    weights = np.ones(rows)
    if sample_weight is not None:
        weights *= _checked_sample_weight(sample_weight, rows, op)
    if class_weight is not None:
        weights *= _class_weights(model, arrays, class_weight, op)
    return weights.astype(model.loss.dtype)


def _checked_sample_weight(sample_weight, rows: int, op: str) -> np.ndarray:
    try:
        given = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        checks.refuse(op, f"sample_weight must be an array of numbers, one per row, got {checks.shown(sample_weight)}",
                      ArgumentError)
    if given.ndim == 2 and given.shape[1] == 1:
        given = given[:, 0]
    if given.shape != (rows,):
        checks.refuse(op, f"sample_weight has shape {given.shape}; expected one weight per row of the data, "
                          f"({rows},)", ArgumentError)
    bad = np.flatnonzero(~(given >= 0) | ~np.isfinite(given))
    if bad.size:
        checks.refuse(op, f"sample_weight of row {bad[0]} is {float(given[bad[0]])!r}: weights must be finite and >= 0 "
                          f"({bad.size} row{'s' if bad.size > 1 else ''} not)", ArgumentError)
    return given


def _class_weights(model, arrays, class_weight, op: str) -> np.ndarray:
    """Each row's weight from its class: the integer label, the largest entry of a one-hot row, or a binary
    label above 0.5 (class 1) or not (class 0), as accuracy reads the labels."""
    label = model.labels[0] if model.labels else None
    kind = metric_kind(model.outputs[0], label)
    if kind is None:
        checks.refuse(op, f"class_weight needs a classifier's output and a label; the output is "
                          f"{model.outputs[0].shape} and the model has {'a label' if label else 'no label'}: use "
                          "sample_weight", ArgumentError)
    if not isinstance(class_weight, dict):
        checks.refuse(op, f"class_weight must be a dict {{class: weight}}, got {checks.shown(class_weight)}",
                      ArgumentError)
    classes = model.outputs[0].shape[1] if kind != BINARY else 2
    table = np.ones(classes)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < classes:
            checks.refuse(op, f"class_weight names class {key!r}, which the model does not have: its classes are "
                              f"0 to {classes - 1}", ArgumentError)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not (np.isfinite(value) and value >= 0):
            checks.refuse(op, f"class_weight of class {key} is {value!r}: weights must be finite numbers >= 0",
                          ArgumentError)
        table[key] = value
    labels = arrays[model.inputs.index(label)]
    classes_of_rows = true_classes(labels, kind)  # as accuracy and the metrics read the label
    outside = np.flatnonzero((classes_of_rows < 0) | (classes_of_rows >= classes))
    if outside.size:
        checks.refuse(op, f"the label of row {outside[0]} is class {classes_of_rows[outside[0]]}, outside the "
                          f"model's classes 0 to {classes - 1}: class_weight cannot weigh it", ArgumentError)
    return table[classes_of_rows]
