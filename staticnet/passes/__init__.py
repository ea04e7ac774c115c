"""The rewrite pipeline: Program -> Program passes, run in named phases.

A pass is either a rule set (passes/rules.py: local rewrites, each registered for the ops it
rewrites) or a function over the whole program (dead code, common subexpressions, the fusions that
group several nodes). Every pass returns its input itself when it changes nothing.

BEFORE_DIFFERENTIATION rewrites the forward graph, so that the gradient is derived from the
cheaper form.  Then the composites are inlined, canonicalize runs to a fixed point and the fusion
passes run once, in this order.
"""
from __future__ import annotations

from .constant_folding import fold_constants
from .cse import eliminate_common_subexpressions
from .dead_code import eliminate_dead_code
from .fuse_bias_grad import fuse_bias_grad
from .fuse_elementwise import fuse_elementwise
from .fuse_gemm import fuse_gemm
from .fuse_gemm_update import fuse_gemm_update
from .fuse_pool_contract import fuse_pool_contract
from .fuse_losses import fuse_losses
from .fuse_updates import fuse_updates
from .inline_composites import inline_composites
from .pool_early import pool_early
from .simplify import simplify

BEFORE_DIFFERENTIATION = [pool_early]

PHASES = [
    ("inline", [inline_composites], False),
    ("canonicalize", [eliminate_dead_code, fold_constants, simplify, eliminate_common_subexpressions], True),
    ("fuse", [fuse_pool_contract, fuse_losses, fuse_elementwise, fuse_bias_grad, fuse_updates, fuse_gemm, fuse_gemm_update], False),
    ("tidy", [simplify, eliminate_common_subexpressions], True),
]


def rewrite_forward(program):
    for rewrite in BEFORE_DIFFERENTIATION:
        program = rewrite(program)
    return program


def optimize(program, report=None):
    """Run every phase; `report`, if given, receives (pass name, ops before, ops after) for each pass run."""
    for _, passes, to_fixed_point in PHASES:
        while True:
            changed = False
            for rewrite in passes:
                before = program.count_ops()
                out = rewrite(program)
                if out is not program:
                    changed = True
                if report is not None:
                    report.append((rewrite.__name__, before, out.count_ops(), out is not program))
                program = out
            if not (to_fixed_point and changed):
                break
    return program
