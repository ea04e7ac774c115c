"""Gradient checks: the gradient staticnet derives against central finite differences, in float64.

    report = sn.gradcheck(loss, [W, b], {"x": xs, "y": ys})    # prints a table; report.ok is the verdict
    report = net.gradcheck({"x": xs, "y": ys})                  # a compiled model: its compiled gradient too

The graph is copied in float64 first (a float32 graph's finite differences would drown in rounding), with
dropout as the identity (a random mask has no derivative to check).  Each element of each parameter is
moved by +eps and -eps and the loss run on the NumPy reference executor: (f(w + eps) - f(w - eps)) / 2 eps
is the numerical derivative; an element passes where |analytic - numeric| <= atol + rtol |numeric|, as
np.allclose decides.  Where an activation has a kink (relu at 0) a step of eps can cross it and the two
disagree there honestly: the worst element's index says where to look.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import checks
from .errors import ArgumentError
from .autodiff import grad
from .graph import Tensor, as_list, constant, fmt_shape, make_node, topological
from .feeds import conform
from .interpreter import run

FLOAT64 = np.dtype("float64")


def as_float64(outputs) -> dict[int, Tensor]:
    """A float64 copy of the graph of `outputs`, keyed by the original nodes' ids: float inputs, parameters
    (holding a float64 copy of their value) and constants become float64, casts to float32 cast to float64,
    and dropout is the identity.  Names and source lines are kept, so messages still point at the model."""
    copies: dict[int, Tensor] = {}
    for node in topological(outputs):
        dtype = FLOAT64 if node.is_float else node.dtype
        if node.op in ("input", "param"):
            value = None if node.value is None else node.value.astype(FLOAT64)
            copies[node.id] = Tensor(node.op, (), {}, node.shape, dtype, node.loc, value=value, name=node.name,
                                     regularize=node.regularize, trainable=node.trainable)
        elif node.op == "constant":
            copies[node.id] = constant(node.value.astype(dtype), dtype=dtype)
        elif node.kind == "random":  # a dropout mask: gradients are checked without dropout
            copies[node.id] = constant(np.ones((), FLOAT64), dtype=FLOAT64)
        else:
            attrs = {k: ("float64" if k == "dtype" and v == "float32" else v) for k, v in node.attrs.items()}
            copies[node.id] = make_node(node.op, [copies[t.id] for t in node.inputs], attrs, loc=node.loc)
    return copies


@dataclass
class Checked:
    """One parameter's check: the analytic and numerical gradients over the elements checked."""
    name: str
    shape: tuple
    gradient: str  # "reference" (sn.grad on the NumPy executor) or "compiled" (the same on the Numba backend)
    indices: np.ndarray  # flat indices of the elements checked
    analytic: np.ndarray  # the analytic gradient, of the parameter's shape
    numeric: np.ndarray  # central differences, of the parameter's shape: NaN at the elements not checked
    rtol: float
    atol: float

    @property
    def checked(self) -> tuple[np.ndarray, np.ndarray]:
        """(analytic, numeric) at the elements checked, flat."""
        return self.analytic.reshape(-1)[self.indices], self.numeric.reshape(-1)[self.indices]

    @property
    def errors(self) -> np.ndarray:
        analytic, numeric = self.checked
        return np.abs(analytic - numeric)

    @property
    def max_abs(self) -> float:
        return float(self.errors.max())

    @property
    def max_rel(self) -> float:
        """The largest |analytic - numeric| / max(|analytic|, |numeric|), over elements larger than atol."""
        scale = np.maximum(*np.abs(self.checked))
        big = scale > self.atol
        return float((self.errors[big] / scale[big]).max()) if big.any() else 0.0

    @property
    def worst(self) -> tuple:
        """The index (in the parameter's shape) of the element farthest outside the tolerance."""
        flat = self.indices[int(np.argmax(self.errors / (self.atol + self.rtol * np.abs(self.checked[1]))))]
        return tuple(int(i) for i in np.unravel_index(flat, self.shape))

    @property
    def ok(self) -> bool:
        return bool((self.errors <= self.atol + self.rtol * np.abs(self.checked[1])).all())


class GradCheckReport:
    """The result of a gradient check: `ok`, a row per parameter (and gradient kind), a printable table.
    `report[name]` is the row for one parameter (for a compiled model, its compiled gradient's)."""

    def __init__(self, rows: list[Checked]):
        self.rows = rows

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def __bool__(self):
        return self.ok

    def __getitem__(self, name: str) -> Checked:
        rows = [r for r in self.rows if r.name == name]
        if not rows:
            raise KeyError(f"no parameter {name!r} was checked; the report has {[r.name for r in self.rows]}")
        return rows[-1]

    def __str__(self):
        table = [("parameter", "gradient", "checked", "max abs err", "max rel err", "worst at", "")]
        for r in self.rows:
            table.append((r.name, r.gradient, f"{len(r.indices):,}/{int(np.prod(r.shape)):,}", f"{r.max_abs:.2e}",
                          f"{r.max_rel:.2e}", fmt_shape(r.worst), "ok" if r.ok else "WRONG"))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        verdict = ("every gradient agrees with central differences" if self.ok else
                   "gradients marked WRONG differ from central differences beyond the tolerance")
        tolerance = f"(|analytic - numeric| <= {self.rows[0].atol:g} + {self.rows[0].rtol:g} |numeric|)"
        return "\n".join(lines + [f"{verdict} {tolerance}"])

    def __repr__(self):
        return f"<GradCheckReport {'ok' if self.ok else 'WRONG'}: {len(self.rows)} rows>"


def gradcheck(loss: Tensor, wrt, feeds: dict, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
              max_elements: int | None = None, print_fn=print) -> GradCheckReport:
    """Check sn.grad(loss, wrt) against central differences of `loss` in float64.

    wrt: parameters or inputs (one tensor or a list); feeds: an array for every input the loss needs,
    keyed by the input tensor or its name; max_elements: check at most this many elements of each
    (chosen at random, seeded), instead of all; print_fn: where the table goes (None: nowhere)."""
    wrt = as_list(wrt)
    _check_arguments(loss, wrt, eps, rtol, atol, max_elements)
    copies = as_float64([loss] + wrt)
    loss64, wrt64 = copies[loss.id], [copies[t.id] for t in wrt]
    feed = _feed(loss, feeds, copies)
    analytic = run(grad(loss64, wrt64), feed)
    report = GradCheckReport(_compare(loss64, wrt64, feed, {"reference": analytic}, eps, rtol, atol, max_elements))
    if print_fn is not None:
        print_fn(str(report))
    return report


def check_model(model, arrays, eps, rtol, atol, max_elements, print_fn) -> GradCheckReport:
    """Model.gradcheck: the model's loss and parameters, the gradient compiled on the Numba backend and
    the reference's, each against central differences."""
    from .runtime import CompiledFunction  # the Numba backend: imported only when a model is checked

    copies = as_float64([model.loss])
    loss64, wrt64 = copies[model.loss.id], [copies[t.id] for t in model.trainable]
    feed = _feed(model.loss, {t.name: a for t, a in zip(model.inputs, arrays)}, copies)
    inputs64 = [n for n in topological(loss64) if n.op == "input"]
    gradients = grad(loss64, wrt64)
    # a training step's gradient (a batch norm's batch statistics), as the differences are of the training loss
    compiled = CompiledFunction(inputs64, gradients, training=True)(*[feed[t.id] for t in inputs64])
    analytic = {"reference": run(gradients, feed), "compiled": compiled}
    report = GradCheckReport(_compare(loss64, wrt64, feed, analytic, eps, rtol, atol, max_elements))
    if print_fn is not None:
        print_fn(str(report))
    return report


def _compare(loss64, wrt64, feed, analytic: dict, eps, rtol, atol, max_elements) -> list[Checked]:
    """One row per parameter and kind of analytic gradient, sharing one set of central differences."""
    rows = []
    for i, leaf in enumerate(wrt64):
        target = feed[leaf.id] if leaf.op == "input" else leaf.value
        indices = _chosen(target.size, max_elements)
        numeric = np.full(target.shape, np.nan)
        numeric.reshape(-1)[indices] = _central_differences(loss64, feed, target, indices, eps)
        for kind, grads in analytic.items():
            whole = np.asarray(grads[i], FLOAT64).reshape(target.shape)
            rows.append(Checked(leaf.name, target.shape, kind, indices, whole, numeric, rtol, atol))
    return rows


def _central_differences(loss64, feed, target: np.ndarray, indices, eps) -> np.ndarray:
    """(f(x + eps) - f(x - eps)) / 2 eps for each flat index of `target` (a value the loss reads), moved in
    place and put back."""
    flat = target.reshape(-1)
    numeric = np.empty(len(indices))
    for k, i in enumerate(indices):
        kept = flat[i]
        flat[i] = kept + eps
        up = float(run([loss64], feed)[0])
        flat[i] = kept - eps
        down = float(run([loss64], feed)[0])
        flat[i] = kept
        numeric[k] = (up - down) / (2 * eps)
    return numeric


def _chosen(size: int, max_elements: int | None) -> np.ndarray:
    if max_elements is None or size <= max_elements:
        return np.arange(size)
    return np.sort(np.random.default_rng(0).choice(size, max_elements, replace=False))


def _check_arguments(loss, wrt, eps, rtol, atol, max_elements):
    if not isinstance(loss, Tensor) or loss.shape != () or not loss.is_float:
        got = (f"a tensor of shape {fmt_shape(loss.shape)} {loss.dtype}" if isinstance(loss, Tensor)
               else checks.shown(loss))
        checks.refuse("gradcheck", f"loss must be a scalar float tensor, got {got}")
    if not wrt:  # a report of no rows would say ok having checked nothing
        checks.refuse("gradcheck", "wrt is empty: nothing would be checked; pass the parameters (or inputs) to "
                                   "check, e.g. sn.Graph(loss).params for all of them")
    needed = {n.id for n in topological(loss)}
    for t in wrt:
        if not isinstance(t, Tensor) or t.op not in ("param", "input") or not t.is_float:
            checks.refuse("gradcheck", f"wrt must hold float parameters or inputs, got {checks.shown(t)}")
        if t.id not in needed:
            checks.refuse("gradcheck", f"the loss does not depend on {t.op} {t.name!r} (made at {t.loc})")
    check_tolerances("gradcheck", eps, rtol, atol, max_elements)


def check_tolerances(op, eps, rtol, atol, max_elements):
    checks.real(op, "eps", eps, checks.POSITIVE, error=ArgumentError)
    checks.real(op, "rtol", rtol, checks.NON_NEGATIVE, error=ArgumentError)
    checks.real(op, "atol", atol, checks.NON_NEGATIVE, error=ArgumentError)
    if max_elements is not None:
        checks.count(op, "max_elements", max_elements, error=ArgumentError)


def _feed(loss, feeds, copies) -> dict[int, np.ndarray]:
    """The float64 copies' feed from `feeds` (keyed by input tensor or name), every input checked."""
    if not isinstance(feeds, dict):
        checks.refuse("gradcheck", f"feeds must be a dict of arrays keyed by input (or its name), got "
                                   f"{checks.shown(feeds)}")
    by_name = {(k.name if isinstance(k, Tensor) else k): v for k, v in feeds.items()}
    feed = {}
    for node in topological(loss):
        if node.op != "input":
            continue
        if node.name not in by_name:
            checks.refuse("gradcheck", f"feeds has no array for input {node.name!r} (the loss needs "
                                       f"{sorted(n.name for n in topological(loss) if n.op == 'input')})")
        copy = copies[node.id]
        feed[copy.id] = conform(copy, by_name[node.name], " in the gradcheck feeds").copy()
    return feed

