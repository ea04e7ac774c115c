"""Dead-code elimination: drop updates that change nothing and nodes nothing reads."""
from ..program import Program, rebuild


def eliminate_dead_code(program: Program) -> Program:
    """update (p, p) -> nothing; nodes unreachable from outputs, updates and effects vanish on rebuild."""
    live = tuple((leaf, value) for leaf, value in program.updates if value is not leaf)
    if len(live) == len(program.updates):
        return program
    return rebuild(program.replace(updates=live), lambda node, inputs: None)
