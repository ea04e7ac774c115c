"""What `sn.function` makes: a graph as a callable of its inputs, with Theano-style updates of its
parameters after each call; the NumPy reference backend here, the compiled one in staticnet/runtime.py."""
from __future__ import annotations

import numpy as np

from .checks import shown
from .errors import GraphError
from .feeds import batch_size_of, conform
from .graph import Graph, Tensor, as_list, fmt_shape, located, topological, user_location
from .interpreter import run
from .passes.strip_dropout import strip_dropout
from .program import Program
from .registry import state_updates_of


class FunctionBase:
    """What both backends of `sn.function` share: checking the signature and the arrays fed to it,
    and the mode: unless `training`, dropout is the identity, as in Model.evaluate and predict.  With
    `training`, each call also writes the state its ops keep (a batch norm's moving statistics, from the
    batch's), as fit's step does, unless `updates` sets that parameter itself: a training step written by hand
    with a batch norm would otherwise evaluate with the moving statistics it started with."""

    def __init__(self, inputs, outputs, updates=None, training=False):
        loc = user_location()
        self.inputs = as_list(inputs)
        self.outputs, self.layout = flattened_outputs(outputs, loc)
        self.updates = check_updates(list(updates or []), loc)
        if training:
            updated = {p.id for p, _ in self.updates}
            roots = self.outputs + [v for _, v in self.updates]
            self.updates += [(p, v) for p, v in state_updates_of(Graph(roots).nodes) if p.id not in updated]
        if not training:
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
        """The values of the flat outputs in the nesting the outputs were given in."""
        return filled(self.layout, outs)

    def flat(self, result) -> list:
        """A call's result as the flat list of output values (the inverse of `result`)."""
        found = []
        walk(self.layout, result, found.append)
        return found


class NumpyFunction(FunctionBase):
    """A callable running the graph with the reference executor (Theano's `function`)."""

    def __call__(self, *arrays):
        arrays, _ = self.checked(arrays)
        feed = {n.id: a for n, a in zip(self.inputs, arrays)}
        values = run(self.outputs + [v for _, v in self.updates], feed)
        for (p, _), new in zip(self.updates, values[len(self.outputs):]):
            p.value = np.array(new, dtype=p.dtype)
        return self.result(values[: len(self.outputs)])


def flattened_outputs(outputs, loc) -> tuple[list[Tensor], object]:
    """(the output tensors in order, their layout): `outputs` is a tensor or a list or tuple of outputs, nested
    as deep as the user likes (`[loss, [g1, g2]]` returns `[loss_value, [g1_value, g2_value]]`); the layout is
    that nesting with each tensor replaced by its index in the flat list."""
    flat = []

    def visit(item, position):
        if isinstance(item, Tensor):
            flat.append(item)
            return len(flat) - 1
        if isinstance(item, (list, tuple)):
            return type(item)(visit(inner, f"{position}[{i}]") for i, inner in enumerate(item))
        raise located(GraphError, "function", loc, f"{position} must be a tensor, or a list or tuple of outputs, "
                                                   f"got {shown(item)}")
    return flat, visit(outputs, "outputs")


def filled(layout, values):
    """`layout` with each index replaced by values[index]."""
    if isinstance(layout, int):
        return values[layout]
    return type(layout)(filled(inner, values) for inner in layout)


def walk(layout, result, visit) -> None:
    """visit(value) for each output value of `result`, a result nested as `layout`, in flat order."""
    if isinstance(layout, int):
        visit(result)
    else:
        for inner_layout, inner in zip(layout, result):
            walk(inner_layout, inner, visit)


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
