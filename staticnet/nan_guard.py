"""The NaN guard: training whose numbers stop being finite stops at the step and the node that did it.

Watching costs next to nothing, so it is on by default in `fit`: the compiled loop already returns each
chunk's loss sum, which fit checks per chunk (never per step in Python); the weights and optimizer state
are copied once per epoch, when it starts, and checked once, when it ends.

Only when a chunk's loss or an epoch's final weights are not finite does the guard do real work.  It
puts back the epoch's first weights and replays the epoch on the compiled loop one step per call (the
same batches in the same order, on the same thread counts, so the same values bit for bit) until a step's
loss or new weights are not finite.  It then runs that one step on the NumPy reference executor from the
weights before it, node by node in topological order, to name the first node that produced a non-finite
value: its op, shape and the user's file:line.  The model keeps the weights from before that step, and
fit raises a NumericalError.  (Dropout masks are drawn differently by the reference executor, so in a
network with dropout the node it names is found with other masks.)
"""
from __future__ import annotations

import math

import numpy as np

from .errors import NumericalError
from .graph import topological
from .interpreter import evaluate_nodes


def non_finite_leaves(leaves) -> list[str]:
    """Names of the leaves (parameters, optimizer state) holding a NaN or an infinity."""
    return [t.name for t in leaves if not np.isfinite(t.value).all()]


def _arrays_of(value) -> list[np.ndarray]:
    """The arrays of a node's value (a multi-output node's value is a tuple of them)."""
    return [np.asarray(v) for v in (value if isinstance(value, (tuple, list)) else (value,))]


def _is_finite(value) -> bool:
    return all(a.dtype.kind != "f" or np.isfinite(a).all() for a in _arrays_of(value))


def first_non_finite(roots, feed: dict[int, np.ndarray]):
    """(node, value, {input id: value}) of the first node, in topological order, whose value is not finite
    when the roots are run on the reference executor with `feed`; None when every value is finite."""
    values = {}
    with np.errstate(all="ignore"):  # the overflow is what is being looked for, not a warning
        for node, value in evaluate_nodes(roots, feed):
            values[node.id] = value
            if not _is_finite(value):
                return node, value, {t.id: values[t.id] for t in node.inputs}
    return None


def describe_value(node, value, inputs: dict, role: str = "") -> str:
    """`exp at model.py:12 (forward pass): shape (10, 10) float32, of its 100 values 4 inf, from finite
    inputs (largest magnitude 95.3)`: what a non-finite value is and where it came from."""
    bad = next(a for a in _arrays_of(value) if a.dtype.kind == "f" and not np.isfinite(a).all())
    nan, inf = int(np.isnan(bad).sum()), int(np.isinf(bad).sum())
    kinds = " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "") if part)
    label = f"{node.op} {node.name!r}" if node.name else node.op
    where = f" ({role})" if role else ""
    text = f"{label} at {node.loc}{where}: shape {tuple(bad.shape)} {bad.dtype}, of its {bad.size} values {kinds}"
    magnitudes = [float(np.abs(a).max()) for v in inputs.values() for a in _arrays_of(v) if a.dtype.kind == "f"
                  and a.size]
    if magnitudes:
        text += f", from finite inputs (largest magnitude {max(magnitudes):.3g})"
    return text


class NanGuard:
    """The guard of one `fit`: told of every chunk, it raises NumericalError at the first non-finite one."""

    def __init__(self, model, arrays, batch_size: int):
        self.model, self.arrays, self.batch_size = model, arrays, batch_size
        self.leaves = model.parameters + model.state
        self.roots = [model.loss] + model.outputs + [new for _, new in model.update_pairs]

    def check_before_training(self) -> None:
        """Weights that are already not finite (set by hand, loaded) would be blamed on the first step."""
        bad = non_finite_leaves(self.leaves)
        if bad:
            raise NumericalError(f"fit: {_names(bad)} {'holds' if len(bad) == 1 else 'hold'} NaN or infinite "
                                 "values before training starts; set finite values, or fit(nan_guard=False) "
                                 "trains regardless", parameters=bad)

    def start_epoch(self, epoch: int, order, seed) -> None:
        self.epoch, self.order, self.seed = epoch, order, seed
        self.first_weights = self.model._snapshot()
        self.chunks: list[tuple[int, int, int | None]] = []  # (start, stop, thread count) as trained

    def after_chunk(self, start: int, stop: int, threads: int | None, loss_sum: float) -> None:
        self.chunks.append((start, stop, threads))
        if not math.isfinite(loss_sum):
            self.diagnose()

    def end_epoch(self) -> None:
        if non_finite_leaves(self.leaves):  # the last step's update can overflow while every loss was finite
            self.diagnose()

    def diagnose(self):
        """Replay the epoch step by step to the first non-finite one; keep the weights before it; raise."""
        model, batch = self.model, self.batch_size
        model._restore(self.first_weights)
        for start, stop, threads in self.chunks:
            for s in range(start, stop, batch):
                e = min(s + batch, stop)
                before = model._snapshot()
                loss_sum, _ = model._train_rows(self.arrays, self.order, self.seed, s, e, batch, threads)
                bad = non_finite_leaves(self.leaves)
                if math.isfinite(loss_sum) and not bad:
                    continue
                model._restore(before)
                raise self._error(s, e, loss_sum / (e - s), bad)
        model._restore(self.first_weights)
        raise NumericalError(
            f"fit: epoch {self.epoch + 1} gave values that are not finite, but replaying it step by step from "
            "its first weights did not (the run is not repeatable, e.g. threads were changed while it ran); the "
            f"weights are those from the start of epoch {self.epoch + 1}", epoch=self.epoch + 1)

    def _error(self, start: int, stop: int, loss: float, bad_leaves: list[str]) -> NumericalError:
        batch, total = self.batch_size, self.arrays[0].shape[0]
        step, steps = start // batch + 1, math.ceil(total / batch)
        rows = self.order[start:stop]
        feed = {t.id: a[rows] for t, a in zip(self.model.inputs, self.arrays)}
        found = first_non_finite(self.roots, feed)
        outcome = (f"its loss was {loss:g}" if not math.isfinite(loss) else
                   f"its loss was finite ({loss:.4g}) but it left {_listed(bad_leaves)} not finite")
        head = (f"fit: training diverged in epoch {self.epoch + 1}, step {step} of {steps} (rows {start}-{stop - 1} "
                f"of the epoch's order): {outcome}.")
        if found is None:
            cause = ("The NumPy reference executor computes every value of this step finite from the same weights "
                     "(its rounding, and any dropout masks, differ from the compiled step's).")
            node = None
        else:
            node, value, inputs = found
            cause = f"The first value that is not finite: {describe_value(node, value, inputs, self._role(node))}."
        keep = (f"The weights and optimizer state are those from before step {step} (all finite); "
                "fit(nan_guard=False) trains regardless.")
        return NumericalError(f"{head}\n{cause}\n{keep}", epoch=self.epoch + 1, step=step, node=node,
                              parameters=bad_leaves)

    def _role(self, node) -> str:
        """Where in the training step a node is: the forward pass, the gradient, or a parameter's update."""
        model = self.model
        if node.op == "input":
            return "a value fed in"
        if node.id in {n.id for n in topological([model.loss] + model.outputs)}:
            return "forward pass"
        if node.id in {n.id for n in topological(model.gradients)}:
            return "backward pass"
        updated = next(leaf.name for leaf, new in model.update_pairs if node.id in {n.id for n in topological(new)})
        return f"the optimizer's update of {updated!r}"


def _names(names) -> str:
    return ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _listed(names) -> str:
    return f"{_names(names)} {'is' if len(names) == 1 else 'are'}"


class FiniteChecked:
    """`sn.function(..., check_finite=True)`: a function that raises NumericalError instead of returning a
    value that is not finite or leaving a parameter so, naming the first node (reference executor) that
    produced one; the parameters it updates are put back as they were before the call."""

    def __init__(self, function):
        self.function = function

    def __getattr__(self, name):  # program, source, report...: the wrapped function's
        return getattr(self.function, name)

    def __call__(self, *arrays):
        updated = [leaf for leaf, _ in self.function.updates]
        before = [leaf.value.copy() for leaf in updated]
        with np.errstate(all="ignore"):  # a value that is not finite is reported below, by the error
            result = self.function(*arrays)
        bad_outputs = [i for i, v in enumerate(self.function.flat(result)) if not _is_finite(v)]
        bad_leaves = non_finite_leaves(updated)
        if not bad_outputs and not bad_leaves:
            return result
        for leaf, value in zip(updated, before):
            leaf.value = value
        checked, _ = self.function.checked(arrays)
        feed = {t.id: a for t, a in zip(self.function.inputs, checked)}
        roots = list(self.function.outputs) + [new for _, new in self.function.updates]
        found = first_non_finite(roots, feed)
        what = [f"output {bad_outputs[0]}"] if bad_outputs else []
        what += [f"the new value of {_names(bad_leaves)}"] if bad_leaves else []
        if found is None:
            cause = "the NumPy reference executor computes every value finite (the compiled rounding differs)"
            node = None
        else:
            node, value, inputs = found
            cause = f"the first value that is not finite: {describe_value(node, value, inputs)}"
        verb = "is" if len(what) == 1 and len(bad_leaves) <= 1 else "are"
        raise NumericalError(f"function: {' and '.join(what)} {verb} not finite; {cause}; the parameters are left as "
                             "they were before the call", node=node, parameters=bad_leaves)
