"""Local rewrites as rules: each a small function registered for the ops it rewrites, in a named set.

A rule `(node, inputs, context) -> Tensor | None` sees one node and its rebuilt inputs and returns the
node's replacement, or None. A rule set runs as one pass: a bottom-up `rebuild` asking, at each node,
the rules registered for its op (then those for every op) in the order they were registered; the first
answer wins. The pipeline (passes/__init__.py) runs the passes of a phase to a fixed point.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..program import Program, consumers, rebuild

EVERY_OP = "*"


@dataclass(frozen=True)
class Rule:
    name: str
    ops: tuple[str, ...]
    apply: Callable  # (node, inputs, context) -> Tensor | None
    formula: str  # the rewrite in one line, from the rule's docstring


class Context:
    """What a rule may ask about the program being rewritten (the original, not the rebuilt one)."""

    def __init__(self, program: Program):
        self.program = program
        self._readers = None

    def readers(self, node) -> list:
        """The nodes reading `node` (None for each root it is)."""
        if self._readers is None:
            self._readers = consumers(self.program)
        return self._readers.get(node.id, [])


@dataclass
class RuleSet:
    """A named set of rules, run as one pass. With `keep_shape`, a replacement of another shape or dtype
    than its node's is refused (an identity like x * 1 -> x does not hold where the 1 broadcasts x)."""
    name: str
    keep_shape: bool = True
    rules: list[Rule] = field(default_factory=list)

    def rule(self, *ops: str):
        """Register the decorated function as a rule for nodes of `ops` (EVERY_OP for all)."""
        def register(function):
            formula = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
            self.rules.append(Rule(function.__name__.lstrip("_"), ops, function, formula))
            return function
        return register

    @property
    def __name__(self) -> str:  # the pipeline's report names passes by __name__
        return self.name

    def __call__(self, program: Program) -> Program:
        """The program with every rule applied once per node, bottom-up; `program` itself if none fired."""
        by_op: dict[str, list[Rule]] = {}
        for r in self.rules:
            for op in r.ops:
                by_op.setdefault(op, []).append(r)
        context = Context(program)

        def apply(node, inputs):
            for r in by_op.get(node.op, []) + by_op.get(EVERY_OP, []):
                out = r.apply(node, inputs, context)
                if out is not None and (not self.keep_shape or (out.shape == node.shape and out.dtype == node.dtype)):
                    return out
            return None

        return rebuild(program, apply)
