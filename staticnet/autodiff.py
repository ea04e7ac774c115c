"""Reverse-mode differentiation over the graph.

`grad` walks the nodes from the output back to the leaves, asking each op's
gradient rule for its inputs' gradients.  The results are ordinary nodes, so they
can be printed, compiled and fused like the rest of the graph.
"""
from __future__ import annotations

from .errors import DTypeError, GraphError
from .graph import Tensor, as_list, derived_from, fmt_shape, located, topological, user_location
from .registry import registry


def grad(y: Tensor, wrt):
    """dy/dx for each x in `wrt` (one tensor or a list); y must be a scalar."""
    result, _ = gradients(y, wrt, user_location())
    return result if isinstance(wrt, (list, tuple)) else result[0]


def gradients(y: Tensor, wrt, loc=None) -> tuple[list[Tensor], dict[int, Tensor]]:
    """(dy/dx for each x in `wrt`, the gradient of every node between them and y by node id): the second
    tells staticnet/explain.py which node of the backward pass is whose gradient (a delta, dC/dW)."""
    loc = loc or user_location()
    if not isinstance(y, Tensor):
        raise located(GraphError, "grad", loc, f"y must be a tensor, got {type(y).__name__}")
    if y.shape != ():
        raise located(GraphError, "grad", loc, f"y must be a scalar (shape ()), got {fmt_shape(y.shape)}; reduce it "
                                               "with sn.sum or sn.mean first")
    if not y.is_float:
        raise located(DTypeError, "grad", loc, f"y has dtype {y.dtype}; only float outputs can be differentiated")
    targets = as_list(wrt)
    for x in targets:
        if not isinstance(x, Tensor):
            raise located(GraphError, "grad", loc, f"wrt must hold tensors, got {type(x).__name__}")
        if not x.is_float:
            raise located(DTypeError, "grad", loc, f"cannot differentiate with respect to {x!r}: "
                                                   f"it has integer dtype {x.dtype}")
    grads = backprop(y, targets)
    return [grads.get(x.id) if x.id in grads else _zeros_like(x) for x in targets], grads


def backprop(y: Tensor, targets) -> dict[int, Tensor]:
    """Gradient of y for every node between the targets and y, keyed by node id."""
    from .graph import lift

    nodes = topological(y)
    return _propagate(nodes, _on_path(nodes, {t.id for t in targets}), {y.id: lift(1.0, y)})


def vjp(y: Tensor, xs, g: Tensor) -> tuple:
    """The gradient of each of xs given g, the gradient of y, a value computed from them: a composite's
    gradient from its decomposition (registry.py). Only the nodes between xs and y are visited."""
    stop = {x.id for x in xs}
    nodes, seen, stack = [], set(), [(y, False)]
    while stack:  # topological order of y's graph, not entering xs
        node, expanded = stack.pop()
        if node.id in seen:
            continue
        if expanded or node.id in stop:
            seen.add(node.id)
            nodes.append(node)
        else:
            stack.append((node, True))
            stack.extend((t, False) for t in reversed(node.inputs) if t.id not in seen)
    grads = _propagate(nodes, _on_path(nodes, stop), {y.id: g})
    return tuple(grads.get(x.id) for x in xs)


def _propagate(nodes, needed: set, grads: dict) -> dict[int, Tensor]:
    """Each node's gradient from its readers', from the last node back (grads holds the seed)."""
    for node in reversed(nodes):
        g = grads.get(node.id)
        if g is None or node.is_leaf:
            continue
        if not any(t.id in needed for t in node.inputs):
            continue
        rule = registry[node.op].grad
        if rule is None:
            raise located(GraphError, node.op, node.loc, "has no gradient rule")
        with derived_from(node.loc):
            input_grads = rule(node, g)
        for x, gx in zip(node.inputs, input_grads):
            if gx is None or x.id not in needed or not x.is_float:
                continue
            if x.id in grads:
                with derived_from(x.loc):
                    grads[x.id] = grads[x.id] + gx
            else:
                grads[x.id] = gx
    return grads


def _on_path(nodes, target_ids) -> set[int]:
    """Ids of the nodes through which some target reaches the output."""
    reaches = set()
    for node in nodes:
        if node.id in target_ids or any(t.id in reaches for t in node.inputs):
            reaches.add(node.id)
    return reaches


def _zeros_like(x: Tensor) -> Tensor:
    from .ops.reduce import broadcast_like
    from .graph import lift
    return broadcast_like(lift(0.0, x), x)
