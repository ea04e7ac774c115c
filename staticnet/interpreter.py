"""The NumPy reference executor: each node run with its op's NumPy definition.

It is the oracle the compiled backend is tested against, so it stays plain.
"""
from __future__ import annotations

import numpy as np

from .errors import GraphError
from .graph import as_list, topological
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
            values[node.id] = out if opdef.returns_many else np.asarray(out, dtype=node.dtype)
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
