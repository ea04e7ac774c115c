"""Fuse maximal chains of elementwise ops into single loops.

An elementwise node is inlined into its reader when it has exactly one reader,
that reader is elementwise too, and both have the same (non-scalar) shape: then
the loop that computes the reader computes it on the fly, element by element,
and its buffer disappears.
"""
from __future__ import annotations

from ..graph import Tensor
from ..loop_body import loop_body_of
from ..ops.fused import fused
from ..registry import registry
from ..program import Program, consumers, rebuild


def loopable(node: Tensor) -> bool:
    """Can be computed element by element inside a fused loop."""
    if node.is_leaf:
        return False
    opdef = registry[node.op]
    return node.op == "fused" or (opdef.kind in ("elementwise", "broadcast") and opdef.scalar is not None)


class LoopBodyBuilder:
    """Concatenates loop bodies, numbering shared inputs once."""

    def __init__(self):
        self.inputs: list[Tensor] = []
        self.instructions: list[tuple] = []  # args as ("in", k) or ("op", j)

    def input_ref(self, t: Tensor):
        for k, existing in enumerate(self.inputs):
            if existing is t:
                return ("in", k)
        self.inputs.append(t)
        return ("in", len(self.inputs) - 1)

    def add(self, inputs, body, bound=None):
        """Append a loop body; `bound` maps some of its input positions to refs already here.

        Returns the ref of the body's last instruction (its result)."""
        bound = bound or {}
        refs = [bound[i] if i in bound else self.input_ref(t) for i, t in enumerate(inputs)]
        local = []
        for op, args, attrs in body:
            mapped = tuple(refs[a] if a < len(inputs) else local[a - len(inputs)] for a in args)
            self.instructions.append((op, mapped, attrs))
            local.append(("op", len(self.instructions) - 1))
        return local[-1]

    def finish(self) -> tuple[list, tuple]:
        k = len(self.inputs)
        body = tuple((op, tuple(ref if kind == "in" else k + ref for kind, ref in args), attrs)
                     for op, args, attrs in self.instructions)
        return list(self.inputs), body


def fuse_elementwise(program: Program) -> Program:
    readers = consumers(program)

    def absorbable(original: Tensor, reader: Tensor) -> bool:
        return (not original.is_leaf and loopable(original) and original.shape == reader.shape and original.shape != ()
                and len(readers.get(original.id, [])) == 1)

    def rule(node, inputs):
        if not loopable(node) or not any(absorbable(o, node) for o in node.inputs):
            return None
        builder = LoopBodyBuilder()
        bound = {i: builder.add(*loop_body_of(new, new.inputs))
                 for i, (original, new) in enumerate(zip(node.inputs, inputs)) if absorbable(original, node)}
        builder.add(*loop_body_of(node, inputs), bound)
        fused_inputs, fused_body = builder.finish()
        return fused(fused_inputs, fused_body, node.shape, node.dtype, node.loc)

    return rebuild(program, rule)
