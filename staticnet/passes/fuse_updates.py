"""Each parameter's optimizer step as one in-place pass.

The updates of a parameter and its optimizer state (momentum velocity, Adam's m
and v) read each other's new values; they become one `fused_update` node whose
loop reads the gradient once and writes parameter and state in place.  An elementwise value that only
the group's updates read (a clipped gradient, g * c / max(||g||, c), which Adam's m and v both read) is
computed inside that loop too, instead of in a loop and a buffer of its own.
"""
from __future__ import annotations

from ..loop_body import loop_body_of
from ..ops.fused import fused_update
from ..program import Program, consumers, origins
from ..registry import has_trait
from .fuse_elementwise import LoopBodyBuilder, loopable


def _groups(updates):
    """Updates linked through their value nodes, as lists of indices (union-find)."""
    parent = list(range(len(updates)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    value_index = {v.id: i for i, (_, v) in enumerate(updates)}
    for i, (_, value) in enumerate(updates):
        for t in value.inputs:
            if t.id in value_index:
                parent[find(i)] = find(value_index[t.id])
    groups = {}
    for i in range(len(updates)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def fuse_updates(program: Program) -> Program:
    """(p, f(p, g, m')), (m, h(m, g)) -> fused_update(p, g, m; results f, h written to p, m)."""
    updates = list(program.updates)
    fusable = [i for i, (leaf, value) in enumerate(updates)
               if leaf.shape != () and loopable(value) and value.shape == leaf.shape]
    if not fusable:
        return program
    sub = [updates[i] for i in fusable]
    effects, kept = list(program.effects), [u for i, u in enumerate(updates) if i not in fusable]
    fused_count = len(effects)
    readers = consumers(program)
    for indices in _groups(sub):
        group = _dependency_order([sub[i] for i in indices])
        if len(group) == 1 and _reads_a_product(group[0][1]):
            kept.append(group[0])  # a lone W <- f(W, a @ b) is better done in place by BLAS (fuse_gemm_update)
            continue
        builder = LoopBodyBuilder()
        result_of = {}
        values = {value.id for _, value in group}
        for leaf, value in group:
            for t in value.inputs:
                if t.id not in result_of and _read_only_by(t, values, readers) and t.shape == leaf.shape:
                    result_of[t.id] = builder.add(*loop_body_of(t))
            inputs, body = loop_body_of(value)
            bound = {k: result_of[t.id] for k, t in enumerate(inputs) if t.id in result_of}
            result_of[value.id] = builder.add(inputs, body, bound)
        leaf_refs = [builder.input_ref(leaf) for leaf, _ in group]
        inputs, body = builder.finish()
        writes = tuple((result_of[value.id][1], ref[1]) for (_, value), ref in zip(group, leaf_refs))
        effect = fused_update(inputs, body, writes, group[-1][1].loc)
        effect.origin = frozenset().union(*(origins(value) for _, value in group))
        effects.append(effect)
    if len(effects) == fused_count:
        return program
    return program.replace(updates=tuple(kept), effects=tuple(effects))


def _read_only_by(t, values: set, readers) -> bool:
    """Whether t is an elementwise value that no node but the updates `values` reads (nor the program's
    outputs), so that their loop may compute it; not one that a product's epilogue can compute instead (a
    weight gradient plus its L2 term: fuse_gemm folds that into the product, which only t reads)."""
    epilogue = any(has_trait(u, "product") and len(readers.get(u.id, ())) == 1 for u in t.inputs)
    return loopable(t) and not epilogue and all(r is not None and r.id in values for r in readers.get(t.id, ()))


def _reads_a_product(value):
    return any(has_trait(t, "product") for t in value.inputs)


def _dependency_order(group):
    """Updates whose value others read come first."""
    ids = {value.id for _, value in group}
    ordered, placed = [], set()
    while len(ordered) < len(group):
        for leaf, value in group:
            if value.id not in placed and all(t.id not in ids or t.id in placed for t in value.inputs):
                ordered.append((leaf, value))
                placed.add(value.id)
    return ordered
