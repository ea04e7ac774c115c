"""The compiled loops around a step: a whole epoch (or a chunk of it) per call.

train_epoch walks the minibatches in the given order (the last may be partial), gathers each
batch's rows into the input buffers, runs the step and keeps the running loss and the number
correct.  Python is entered once per call.  The order is shuffled before the call (kernels/shuffle.py
says why).  eval_epoch and predict_all read their batches in place, where they lie in the data.
"""
from __future__ import annotations

from ..loop_body import COPY
from .driver import JIT, Driver, product
from .library import split_gather
from .signature import Group, Signature, one

# How a label gives each row's class, as accuracy and the metrics computed from predictions read it
ONE_HOT_ROWS, CLASS_INDEX, BINARY = "one_hot_rows", "index", "binary"
METRIC_KERNELS = {ONE_HOT_ROWS: "metrics.correct_one_hot", CLASS_INDEX: "metrics.correct_index",
                  BINARY: "metrics.correct_binary"}


def metric_kind(prediction, label) -> str | None:
    """How to count correct rows for this prediction and label, or None if accuracy has no meaning here."""
    if prediction is None or label is None or prediction.ndim not in (1, 2):
        return None
    classes = prediction.shape[1] if prediction.ndim == 2 else 1
    if classes > 1:
        if label.dtype.kind == "i" and label.ndim == 1:
            return CLASS_INDEX
        return ONE_HOT_ROWS if label.shape == prediction.shape else None
    return BINARY


def _data_name(step: Driver, t) -> str:
    return f"data_{step.leaf_name(t)}"


def epoch_loop(name: str, step: Driver, *, train: bool, loss_index: int | None,
               metric: tuple | None) -> tuple[Signature, str]:
    """A loop over minibatches of the data arrays (`total` rows), calling the step for each: rows [start, stop)
    of the data (train: of `order`, the epoch's shuffled row indices), in batches of `batch`."""
    data = [_data_name(step, t) for t in step.inputs]
    head = ["total", "order", "seed", "start", "stop", "batch"] if train else ["total", "start", "stop", "batch"]
    signature = Signature(name, (Group("data", tuple(data), many=True), *map(one, head), *step.shared_groups()))
    lines = [JIT, f"def {name}({', '.join(signature.parameters)}):"]
    body = []
    if train and any(n.kind == "random" for n in step.order):
        body += ["if start == 0:", "    np.random.seed(seed)  # seeds every random mask of the epoch"]
    body += ["loss_sum = 0.0", "correct = 0", "for s in range(start, stop, batch):", "    n = min(batch, stop - s)"]
    saved, step.lines = step.lines, []
    step.depth = 2
    for t, d in zip(step.inputs, data):
        rows = product(step.dims(t)[1:])
        if train:
            buffer = f"b{step.plan.slot_of[t.id]}"
            gather, part = split_gather(t.dtype.name)
            step.call(gather, [d, "total", rows, "order", "s", buffer, "n", "threads", "runner_at",
                               step.lazy_part(part)])
            step.line(f"{step.leaf_name(t)} = {buffer}")
        else:
            step.line(f"{step.leaf_name(t)} = {d} + s * {step.row_bytes(t)}")
    body += [line[4:] for line in step.lines]
    step.lines = saved
    body += ["    # ---- the step ----"] + [line for line in step.body()]
    tail, step.lines = step.lines, []
    if loss_index is not None:
        step.line(f"loss_sum += {step.value(step.program.outputs[loss_index])} * n")
    if metric is not None:
        kind, pred_index, label = metric
        prediction = step.program.outputs[pred_index]
        step.library(METRIC_KERNELS[kind], [step.array(prediction), step.array(label)], "i64", "right")
        step.line("correct += right")
    body += [line[4:] for line in step.lines]
    step.lines, step.depth = tail, 1
    body.append("return loss_sum, correct")
    return signature, "\n".join(lines + ["    " + b if b else "" for b in body]) + "\n"


def predict_loop(name: str, step: Driver) -> tuple[Signature, str]:
    """A loop writing every output of `step` for all `total` rows into result arrays."""
    data = [_data_name(step, t) for t in step.inputs]
    results = [f"result{i}" for i in range(len(step.program.outputs))]
    signature = Signature(name, (Group("data", tuple(data), many=True), Group("results", tuple(results), many=True),
                                 one("total"), one("batch"), *step.shared_groups()))
    lines = [JIT, f"def {name}({', '.join(signature.parameters)}):",
             "    for s in range(0, total, batch):", "        n = min(batch, total - s)"]
    for t, d in zip(step.inputs, data):
        lines.append(f"        {step.leaf_name(t)} = {d} + s * {step.row_bytes(t)}")
    lines.append("        # ---- the step ----")
    lines += ["    " + line if line else "" for line in step.body()]
    saved, step.lines, step.depth = step.lines, [], 2
    for result, t in zip(results, step.program.outputs):
        step.loop(t.shape, [t], COPY, [(0, "map")],
                  [f"{result} + s * {step.row_bytes(t)}"], [t.dtype])
    lines += step.lines
    step.lines, step.depth = saved, 1
    lines.append("    return 0")
    return signature, "\n".join(lines) + "\n"
