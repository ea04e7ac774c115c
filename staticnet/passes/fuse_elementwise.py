"""Fuse maximal chains of elementwise ops into single loops.

An elementwise node is inlined into its reader when it has exactly one reader,
that reader is elementwise too, and both have the same (non-scalar) shape: then
the loop that computes the reader computes it on the fly, element by element,
and its buffer disappears.
"""
from __future__ import annotations

from ..graph import Tensor, make_node
from ..registry import registry
from ..program import Program, consumers, rebuild


def loopable(node: Tensor) -> bool:
    """Can be computed element by element inside a fused loop."""
    if node.is_leaf:
        return False
    opdef = registry[node.op]
    return node.op == "fused" or (opdef.kind in ("elementwise", "broadcast") and
                                  (opdef.scalar is not None or node.op == "broadcast_like"))


def as_program(node: Tensor, inputs) -> tuple[list, tuple]:
    """(inputs, program) of a loopable node, given its (possibly rebuilt) inputs."""
    if node.op == "fused":
        return list(inputs), node.attrs["program"]
    return list(inputs), ((node.op, tuple(range(len(inputs))), tuple(sorted(node.attrs.items()))),)


class ProgramBuilder:
    """Concatenates programs, numbering shared inputs once."""

    def __init__(self):
        self.inputs: list[Tensor] = []
        self.instructions: list[tuple] = []  # args as ("in", k) or ("op", j)

    def input_ref(self, t: Tensor):
        for k, existing in enumerate(self.inputs):
            if existing is t:
                return ("in", k)
        self.inputs.append(t)
        return ("in", len(self.inputs) - 1)

    def add(self, inputs, program, bound=None):
        """Append a program; `bound` maps some of its input positions to refs already here.

        Returns the ref of the program's last instruction (its result)."""
        bound = bound or {}
        refs = [bound[i] if i in bound else self.input_ref(t) for i, t in enumerate(inputs)]
        local = []
        for op, args, attrs in program:
            mapped = tuple(refs[a] if a < len(inputs) else local[a - len(inputs)] for a in args)
            self.instructions.append((op, mapped, attrs))
            local.append(("op", len(self.instructions) - 1))
        return local[-1]

    def finish(self) -> tuple[list, tuple]:
        k = len(self.inputs)
        program = tuple((op, tuple(ref if kind == "in" else k + ref for kind, ref in args), attrs)
                        for op, args, attrs in self.instructions)
        return list(self.inputs), program


def fuse_elementwise(program: Program) -> Program:
    readers = consumers(program)
    fired = []

    def absorbable(original: Tensor, reader: Tensor) -> bool:
        return (not original.is_leaf and loopable(original) and original.shape == reader.shape and original.shape != ()
                and len(readers.get(original.id, [])) == 1)

    def rule(node, inputs):
        if not loopable(node) or not any(absorbable(o, node) for o in node.inputs):
            return None
        builder = ProgramBuilder()
        bound = {i: builder.add(*as_program(new, new.inputs))
                 for i, (original, new) in enumerate(zip(node.inputs, inputs)) if absorbable(original, node)}
        builder.add(*as_program(node, inputs), bound)
        fused_inputs, fused_program = builder.finish()
        fired.append(node)
        return make_node("fused", fused_inputs, {"program": fused_program, "shape": node.shape,
                                                 "dtype": node.dtype.name}, loc=node.loc)

    out = rebuild(program, rule)
    return out if fired else program
