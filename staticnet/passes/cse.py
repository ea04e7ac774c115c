"""Common-subexpression elimination: structurally equal nodes become one."""
from ..program import Program, clone, rebuild


def eliminate_common_subexpressions(program: Program) -> Program:
    """Two nodes with the same op, attributes and inputs (equal constants count as equal) compute the same value."""
    seen = {}

    def canonical(t):
        return seen.setdefault(t.key(), t) if t.op == "constant" else t

    def rule(node, inputs):
        candidate = clone(node, [canonical(t) for t in inputs])
        return seen.setdefault(candidate.key(), candidate)

    return rebuild(program, rule)
