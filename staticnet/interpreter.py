"""The NumPy reference executor: each node run with its op's NumPy definition.

It is the oracle the compiled backend is tested against, so it stays plain.
"""
from __future__ import annotations

import numpy as np

from .errors import DataError, GraphError
from .graph import Tensor, as_list, fmt_shape, located, topological, user_location
from .registry import registry


def run(outputs, feed: dict[int, np.ndarray]) -> list[np.ndarray]:
    """Values of `outputs` given arrays for the inputs, keyed by input node id."""
    values = {node.id: value for node, value in evaluate_nodes(outputs, feed)}
    return [values[t.id] for t in as_list(outputs)]


def evaluate_nodes(outputs, feed: dict[int, np.ndarray]):
    """Yield (node, value) for every node the outputs need, in topological order, one node at a time:
    a caller watching the values (the NaN guard) can stop at the first it is looking for."""
    values: dict[int, np.ndarray] = {}
    for node in topological(outputs):
        if node.op == "input":
            if node.id not in feed:
                raise GraphError(f"input {node.name!r} (created at {node.loc}) is needed but was not given")
            values[node.id] = feed[node.id]
        elif node.op in ("param", "constant"):
            values[node.id] = node.value
        else:
            opdef = registry[node.op]
            out = opdef.numpy(*(values[t.id] for t in node.inputs), **node.attrs)
            values[node.id] = out if opdef.kind in ("multi", "effect") else np.asarray(out, dtype=node.dtype)
        yield node, values[node.id]


def run_program(program, feed: dict[int, np.ndarray]):
    """Run a Program once: its outputs, then its effects and updates on the leaves' values."""
    n_out, n_upd = len(program.outputs), len(program.updates)
    values = run(program.roots, feed)
    new_values = []
    for effect, written in zip(program.effects, values[n_out + n_upd:]):
        targets = [effect.inputs[target] for _, target in effect.attrs["writes"]]
        new_values += list(zip(targets, written))
    new_values += [(leaf, v) for (leaf, _), v in zip(program.updates, values[n_out:n_out + n_upd])]
    for leaf, v in new_values:
        leaf.value = np.array(v, dtype=leaf.dtype)
    return values[:n_out]


def conform(node: Tensor, value, where: str = "") -> np.ndarray:
    """`value` as an array fit for input `node`, or a DataError saying what does not fit."""
    arr = np.asarray(value)
    label = f"input {node.name!r}{where}"
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{label}: expected numbers, got an array of dtype {arr.dtype}")
    if node.dtype.kind == "i" and arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise DataError(f"{label}: expects integer labels ({node.dtype}), got non-integer floats")
    if arr.ndim != node.ndim or any(d is not None and d != s for d, s in zip(node.shape, arr.shape)):
        raise DataError(f"{label} expects shape {fmt_shape(node.shape)}, got {fmt_shape(arr.shape)}")
    batch = [s for d, s in zip(node.shape, arr.shape) if d is None]
    if batch and batch[0] == 0:
        raise DataError(f"{label}: got an empty batch")
    return np.asarray(arr, dtype=node.dtype, order="C")


def batch_size_of(inputs, arrays) -> int | None:
    """The common batch size of the arrays fed to batch-shaped inputs (checked to agree)."""
    sizes = {}
    for node, arr in zip(inputs, arrays):
        if None in node.shape:
            sizes[node.name] = arr.shape[node.shape.index(None)]
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise DataError(f"inputs disagree on the batch size ({listed})")
    return next(iter(sizes.values()), None)


class FunctionBase:
    """What both backends of `sn.function` share: checking the signature and the arrays fed to it,
    and the mode: unless `training`, dropout is the identity, as in Model.evaluate and predict."""

    def __init__(self, inputs, outputs, updates=None, training=False):
        loc = user_location()
        self.inputs = as_list(inputs)
        self.single = isinstance(outputs, Tensor)
        self.outputs = as_list(outputs)
        self.updates = check_updates(list(updates or []), loc)
        if not training:
            from .passes.strip_dropout import strip_dropout  # the passes use this module
            from .program import Program
            inference = strip_dropout(Program(outputs=tuple(self.outputs), updates=tuple(self.updates)))
            self.outputs, self.updates = list(inference.outputs), list(inference.updates)
        for node in self.inputs:
            if not isinstance(node, Tensor) or node.op != "input":
                raise located(GraphError, "function", loc, f"inputs must be sn.input tensors, got {node!r}")
        missing = [n for n in topological(self.outputs + [v for _, v in self.updates])
                   if n.op == "input" and n not in self.inputs]
        if missing:
            raise located(GraphError, "function", loc, f"the outputs need input {missing[0].name!r} "
                                                       f"(created at {missing[0].loc}), which is not in `inputs`")

    def checked(self, arrays):
        """(arrays fit for the inputs, their batch size or None)."""
        if len(arrays) != len(self.inputs):
            names = ", ".join(repr(n.name) for n in self.inputs)
            raise TypeError(f"this function takes {len(self.inputs)} arrays ({names}), got {len(arrays)}")
        arrays = [conform(n, a) for n, a in zip(self.inputs, arrays)]
        return arrays, batch_size_of(self.inputs, arrays)

    def result(self, outs):
        return outs[0] if self.single else outs


class NumpyFunction(FunctionBase):
    """A callable running the graph with the reference executor (Theano's `function`)."""

    def __call__(self, *arrays):
        arrays, _ = self.checked(arrays)
        feed = {n.id: a for n, a in zip(self.inputs, arrays)}
        values = run(self.outputs + [v for _, v in self.updates], feed)
        for (p, _), new in zip(self.updates, values[len(self.outputs):]):
            p.value = np.array(new, dtype=p.dtype)
        return self.result(values[: len(self.outputs)])


def check_updates(updates, loc):
    """Updates as (param, new value) pairs of matching shape and dtype, at most one per parameter
    (two would each read the old value, and which one is kept would be the backend's choice)."""
    first_update = {}
    for pair in updates:
        if len(pair) != 2:
            raise located(GraphError, "function", loc, "updates must be (param, new_value) pairs")
        p, new = pair
        if not isinstance(p, Tensor) or p.op != "param":
            raise located(GraphError, "function", loc, f"an update must target a parameter, got {p!r}")
        if not isinstance(new, Tensor) or new.shape != p.shape or new.dtype != p.dtype:
            got = fmt_shape(new.shape) + f" {new.dtype}" if isinstance(new, Tensor) else type(new).__name__
            raise located(GraphError, "function", loc, f"the update of {p.name!r} {fmt_shape(p.shape)} {p.dtype} "
                                                       f"has the wrong shape or dtype: {got}")
        if p.id in first_update:
            earlier = first_update[p.id]
            raise located(GraphError, "function", loc, f"parameter {p.name!r} is updated twice: to {earlier.op} at "
                                                       f"{earlier.loc} and to {new.op} at {new.loc}; give one update "
                                                       "per parameter")
        first_update[p.id] = new
    return updates
