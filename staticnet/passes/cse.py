"""Common-subexpression elimination: structurally equal nodes become one."""
from ..program import Program, clone, rebuild


def eliminate_common_subexpressions(program: Program) -> Program:
    """Two nodes with the same op, attributes and inputs compute the same value: keep the first."""
    seen = {}

    def rule(node, inputs):
        candidate = clone(node, inputs)
        return seen.setdefault(candidate.key(), candidate)

    out = rebuild(program, rule)
    return program if out.count_ops() == program.count_ops() else out
