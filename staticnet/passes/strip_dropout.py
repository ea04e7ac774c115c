"""For evaluation and prediction: dropout is the identity."""
from ..graph import lift
from ..program import Program, rebuild


def strip_dropout(program: Program) -> Program:
    """x * dropout_mask(x) -> x * 1 (which simplification then removes)."""
    stripped = []

    def rule(node, inputs):
        if node.op == "dropout_mask":
            stripped.append(node)
            return lift(1.0, node)
        return None

    out = rebuild(program, rule)
    return out if stripped else program
