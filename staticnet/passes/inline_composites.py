"""Composites become their decomposition: the first pass, so that every later one sees only ops with a
lowering.

A composite op (registry.py: registered with a `decomposition`, kind "composite") keeps its name in the
graph as built, where explain, summary and the ONNX export read it; the code generator has no lowering for
it. Each node made here computes the composite it replaces, as far as explain's comments are concerned.
"""
from __future__ import annotations

from ..program import Program, origins, rebuild
from ..registry import registry


def inline_composites(program: Program) -> Program:
    """gelu(z) -> z * (0.5 * (erf(z / sqrt 2) + 1)), and likewise for every composite without a lowering."""
    def rule(node, inputs):
        return expand(node, inputs) if registry[node.op].kind == "composite" else None

    return rebuild(program, rule)


def expand(node, inputs):
    """The decomposition of a composite node on `inputs`, its nodes marked as computing the node, made on
    its line, in its layer."""
    known = {t.id for t in inputs}
    out = registry[node.op].decomposition(*inputs, **node.attrs)
    stack = [out]
    while stack:
        t = stack.pop()
        if t.id in known or t.is_leaf:
            continue
        known.add(t.id)
        t.origin, t.loc, t.layer = origins(node), node.loc, node.layer
        stack.extend(t.inputs)
    return out
