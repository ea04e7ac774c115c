"""The compile report: what the passes did, the kernels that remain, their cost."""
from __future__ import annotations

import math

from .graph import fmt_shape
from .registry import registry


def flops(node, batch: int) -> int:
    """Floating-point operations of one node for a batch: the op's flops rule, else one per input element."""
    def size(shape):
        return math.prod(batch if d is None else d for d in shape)
    rule = registry[node.op].flops
    if rule is not None:
        return rule(node, size)
    return size(node.inputs[0].shape) if node.inputs else 0


def describe_kernel(node) -> str:
    rule = registry[node.op].describe
    return node.op if rule is None else rule(node)


def kernel_table(program, batch: int) -> list[tuple[str, str, str, int]]:
    """(kernel, shape, source line, FLOPs per step) for every node that does work."""
    rows = []
    for node in program.nodes():
        if node.is_leaf or not registry[node.op].does_work:
            continue
        rows.append((describe_kernel(node), fmt_shape(node.shape), node.loc, flops(node, batch)))
    return rows


def format_report(model, batch: int, compile_seconds: float, cached: bool) -> str:
    lines = []
    for name, passes in model.report.items():
        lines.append(f"passes on the {name} program (ops before -> after):")
        for pass_name, before, after, fired in passes:
            if fired:
                lines.append(f"  {pass_name:<34} {before:>4} -> {after:<4}")
    program = model.programs["train"]
    table = kernel_table(program, batch)
    lines.append(f"kernels of one training step at batch size {batch}:")
    width = max(len(r[0]) for r in table)
    for kernel, shape, loc, count in table:
        lines.append(f"  {kernel:<{width}}  {shape:<14} {count:>14,} FLOPs   {loc}")
    lines.append(f"  {'total':<{width}}  {'':<14} {sum(r[3] for r in table):>14,} FLOPs")
    params = sum(t.value.size for t in model.trainable)
    lines.append(f"parameters: {params:,}")
    peak = model.steps["train"].plan.peak_bytes(batch)
    lines.append(f"peak workspace: {peak:,} bytes (training step, batch {batch})")
    lines.append(f"compile time: {compile_seconds:.2f} s ({'from the cache' if cached else 'cold'})")
    return "\n".join(lines)
