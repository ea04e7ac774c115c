"""What a compiled function computes: outputs, Theano-style updates, and in-place effects.

Passes map a Program to a Program.  `rebuild` is the one rewriting mechanism: it
walks the nodes bottom-up, lets a rule replace each node given its rebuilt inputs,
and keeps everything else.
"""
from __future__ import annotations

from dataclasses import dataclass

from .graph import Tensor, make_node, topological


@dataclass(frozen=True)
class Program:
    outputs: tuple = ()
    updates: tuple = ()  # (param or state leaf, new value) pairs, applied after the outputs
    effects: tuple = ()  # nodes that write their results into leaves in place (fused updates)

    @property
    def roots(self) -> list[Tensor]:
        return list(self.outputs) + [v for _, v in self.updates] + list(self.effects)

    def nodes(self) -> list[Tensor]:
        """Every node the program reads or writes: a leaf an update only writes (a record of the last step's
        learning rate) is one too, and so an argument of the compiled step."""
        return topological(self.roots + [leaf for leaf, _ in self.updates])

    def count_ops(self) -> int:
        return sum(1 for n in self.nodes() if not n.is_leaf)

    def replace(self, **changes) -> "Program":
        fields = dict(outputs=self.outputs, updates=self.updates, effects=self.effects)
        fields.update(changes)
        return Program(**fields)


def origins(node: Tensor) -> frozenset:
    """The ids of the nodes, as the graph was built, whose values `node` computes (itself, if it was built so)."""
    return node.origin if node.origin is not None else frozenset((node.id,))


def clone(node: Tensor, inputs) -> Tensor:
    """node with new inputs (same op, attrs and source line); node itself if nothing changed."""
    inputs = tuple(inputs)
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    copy = make_node(node.op, inputs, node.attrs, loc=node.loc)
    copy.origin = origins(node)
    copy.layer = node.layer
    return copy


def _absorbed_origins(node: Tensor, replacement: Tensor, mapped: dict, known: set) -> frozenset:
    """What a rule's new node computes: the node it replaces, and the inputs of that node which the new node
    no longer reads (a fused loop took them in), looking through the other nodes the rule made."""
    read, stack, made = set(), [replacement], set()
    while stack:
        for t in stack.pop().inputs:
            if t.id in read or t.id in made:
                continue
            if t.origin is None and t.id not in known and not t.is_leaf:
                made.add(t.id)  # made by the rule too
                stack.append(t)
            else:
                read.add(t.id)

    def taken(t):  # a part of a node the rule made is read with it (the sibling of a column sum)
        return not t.is_leaf and t.id not in read and not (t.kind == "part" and t.inputs[0].id in made)
    return origins(node).union(*(origins(mapped[x.id]) for x in node.inputs if taken(mapped[x.id])))


def rebuild(program: Program, rule) -> Program:
    """Apply `rule(node, new_inputs) -> Tensor | None` bottom-up; None keeps the node (re-linked).

    Returns `program` itself when no node changed, so a pass says whether it fired by identity."""
    mapped: dict[int, Tensor] = {}
    changed = False
    nodes = program.nodes()
    known = {n.id for n in nodes}  # the program's nodes, then the rebuilt ones: what a rule did not make
    for node in nodes:
        if node.is_leaf:
            mapped[node.id] = node
            continue
        inputs = [mapped[t.id] for t in node.inputs]
        replacement = rule(node, inputs)
        if replacement is not None and replacement.origin is None and replacement.id not in known:
            replacement.origin = _absorbed_origins(node, replacement, mapped, known)
        mapped[node.id] = replacement if replacement is not None else clone(node, inputs)
        known.add(mapped[node.id].id)
        changed = changed or mapped[node.id] is not node
    if not changed:
        return program
    return program.replace(
        outputs=tuple(mapped[t.id] for t in program.outputs),
        updates=tuple((p, mapped[v.id]) for p, v in program.updates),
        effects=tuple(mapped[e.id] for e in program.effects))


def consumers(program: Program) -> dict[int, list[Tensor]]:
    """For each node id, the nodes that read it (roots count as one extra reader each)."""
    readers: dict[int, list[Tensor]] = {}
    for node in program.nodes():
        for t in node.inputs:
            readers.setdefault(t.id, []).append(node)
    for root in program.roots:
        readers.setdefault(root.id, []).append(None)
    return readers
