"""The compiled loops around a step: a whole epoch (or a chunk of it) per call.

train_epoch walks the minibatches in the given order (the last may be partial),
gathers each batch into preallocated input buffers, runs the step and keeps the
running loss and number correct.  Python is entered once per call.  The order is
shuffled before the call (kernels/shuffle.py says why).
"""
from __future__ import annotations

from ..ops import registry
from .emit import JIT, Emitter

METRIC_KERNELS = {"one_hot": "K.correct_one_hot", "index": "K.correct_index", "binary": "K.correct_binary"}


def metric_kind(prediction, label) -> str | None:
    """How to count correct rows for this prediction and label, or None if accuracy has no meaning here."""
    if prediction is None or label is None or prediction.ndim not in (1, 2):
        return None
    classes = prediction.shape[1] if prediction.ndim == 2 else 1
    if classes > 1:
        if label.dtype.kind == "i" and label.ndim == 1:
            return "index"
        return "one_hot" if label.shape == prediction.shape else None
    return "binary"


def epoch_loop(name: str, step: Emitter, *, train: bool, loss_index: int | None, metric: tuple | None) -> str:
    """Source of a loop over minibatches of the data arrays, calling `step`'s function for each."""
    data = [f"data_{step.arg_name(t)}" for t in step.inputs]
    rest = step.shared_args()
    head = ["order", "seed", "start", "stop", "batch"] if train else ["start", "stop", "batch"]
    lines = [JIT,
             f"def {name}({', '.join(data + head + rest)}):"]
    body = []
    if train and any(registry[n.op].kind == "random" for n in step.plan.order if not n.is_leaf):
        body += ["if start == 0:",
                 "    np.random.seed(seed)  # seeds every random mask of the epoch"]
    body += ["loss_sum = 0.0", "correct = 0", "for s in range(start, stop, batch):",
             "    n = min(batch, stop - s)"]
    for t, d in zip(step.inputs, data):
        name = step.arg_name(t)
        if train:  # gather the shuffled rows into the batch buffer
            body += [f"    {name} = {step.buffer_view(step.plan.slot_of[t.id], 'n')}", "    for r in range(n):"]
            body += copy_row(f"{name}[r", f"{d}[order[s + r]", t.shape[1:], "        ")
        else:
            body.append(f"    {name} = {d}[s:s + n]")
    body += step_inline(step, "    ")
    if loss_index is not None:
        body.append(f"    loss_sum += out[{loss_index}] * n")
    if metric is not None:
        kind, pred_index, label = metric
        body.append(f"    correct += {METRIC_KERNELS[kind]}(out[{pred_index}], {step.arg_name(label)})")
    body.append("return loss_sum, correct")
    return "\n".join(lines + ["    " + b for b in body]) + "\n"


def copy_row(target: str, source: str, row_shape, indent: str) -> list[str]:
    """Element loops copying one row (explicit loops: array slice assignment compiles slowly)."""
    lines, index = [], ""
    for axis, dim in enumerate(row_shape):
        lines.append(f"{indent}{'    ' * axis}for c{axis} in range({dim}):")
        index += f", c{axis}"
    lines.append(f"{indent}{'    ' * len(row_shape)}{target}{index}] = {source}{index}]")
    return lines


def step_inline(step: Emitter, indent: str) -> list[str]:
    """The step's statements placed inside a loop body (one big function compiles faster than
    a step plus a loop that calls it, which LLVM would inline and optimize a second time)."""
    lines = [indent + "# ---- the step, inline ----"]
    lines += [indent + line[4:] if line else "" for line in step.body()]
    lines.append(f"{indent}out = {step.results()}")
    return lines


def predict_loop(name: str, step: Emitter) -> str:
    """Source of a loop writing every output of `step` for all rows into result arrays."""
    data = [f"data_{step.arg_name(t)}" for t in step.inputs]
    results = [f"result{i}" for i in range(len(step.program.outputs))]
    rest = step.shared_args()
    lines = [JIT, f"def {name}({', '.join(data + results + ['batch'] + rest)}):",
             f"    total = {data[0]}.shape[0]", "    for s in range(0, total, batch):", "        n = min(batch, total - s)"]
    for t, d in zip(step.inputs, data):
        lines.append(f"        {step.arg_name(t)} = {d}[s:s + n]")
    lines += step_inline(step, "        ")
    for i, (r, t) in enumerate(zip(results, step.program.outputs)):
        lines.append("        for r in range(n):")
        lines += copy_row(f"{r}[s + r", f"out[{i}][r", t.shape[1:], "            ")
    lines.append("    return 0")
    return "\n".join(lines) + "\n"
