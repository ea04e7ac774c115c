"""The compile report: what the passes did, the kernels that remain, their cost."""
from __future__ import annotations

import math

from .graph import fmt_shape
from .registry import registry


def flops(node, batch: int) -> int:
    """Floating-point operations of one node for a batch (2 per multiply-add; 1 per elementwise op)."""
    def size(shape):
        return math.prod(batch if d is None else d for d in shape)
    if node.op in ("gemm", "gemm_update"):
        a, b = node.inputs[:2]
        matrix = lambda t: (size(t.shape[:-1]), t.shape[-1])  # noqa: E731  rows of a stack, then K
        rows, inner = matrix(a)[::-1] if node.attrs["trans_a"] else matrix(a)
        cols = matrix(b)[0] if node.attrs["trans_b"] else matrix(b)[1]
        extra = len(node.attrs.get("epilogue", ())) * rows * cols
        return 2 * rows * inner * cols + extra
    if node.op in ("fused", "fused_multi", "fused_update"):
        shape = node.shape if node.op == "fused" else (node.attrs["parts"][0][0] if node.op == "fused_multi"
                                                       else node.inputs[node.attrs["writes"][0][1]].shape)
        return len(node.attrs["program"]) * size(shape)
    if node.inputs:
        return size(node.inputs[0].shape)
    return 0


def describe_kernel(node) -> str:
    if node.op == "gemm":
        ops = [op for op, _, _ in node.attrs["epilogue"]]
        return "gemm" + (f" + epilogue[{', '.join(ops)}]" if ops else "")
    if node.op == "gemm_update":
        return "gemm_update (W <- beta W + alpha a@b, in place)"
    if node.op in ("fused", "fused_multi", "fused_update"):
        ops = ", ".join(op for op, _, _ in node.attrs["program"])
        extra = " + column sums" if node.op == "fused_multi" else (" in place" if node.op == "fused_update" else "")
        return f"{node.op}[{ops}]{extra}"
    return node.op


def kernel_table(program, batch: int) -> list[tuple[str, str, str, int]]:
    """(kernel, shape, source line, FLOPs per step) for every node that does work."""
    rows = []
    for node in program.nodes():
        if node.is_leaf or registry[node.op].kind in ("part", "shape") or node.op == "part":
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
