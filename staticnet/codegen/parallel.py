"""Batch-parallel segments: runs of consecutive row-wise nodes in a step, split by batch rows
across threads, each thread running the whole run on its rows.

Only runs holding a convolution or pooling op become segments; on the book's CNN at batch 128,
im2col, the convolution product, max-pooling and its gradient took 9-12 ms per step on one
thread and 4.3 ms split in two (more than 2x: each thread's rows also stay in cache), 0.45 vs
0.30 ms at batch 10.  Splitting inside each kernel instead gained nothing (kernels/conv.py).
Reductions over the batch (weight gradients, bias sums, the loss) end a segment; outside
segments, large matrix products are shared among the threads by kernels.gemm_split.
"""
from __future__ import annotations

from ..graph import Tensor
from ..ops import registry


def batch_leading(t: Tensor) -> bool:
    return t.shape[:1] == (None,) and None not in t.shape[1:]


def row_wise(node: Tensor, views) -> bool:
    """Whether each batch row of node depends only on the same rows of its batch-shaped inputs."""
    batched = [t for t in node.inputs if None in t.shape]
    if not batch_leading(node) or not batched or not all(batch_leading(t) for t in batched):
        return False
    opdef = registry[node.op]
    if opdef.row_wise:
        return True
    if node.op == "reshape":
        return node.id in views
    if node.op == "gemm":
        a, b, *extra = node.inputs
        return (not node.attrs["trans_a"] and None in a.shape and None not in b.shape
                and all(t.ndim == node.ndim for t in extra if None in t.shape))
    return opdef.kind in ("elementwise", "broadcast") and all(t.ndim == node.ndim for t in batched)


def parallel_segments(order, views) -> list[list[Tensor]]:
    """The maximal runs of row-wise nodes (leaves skipped) that hold a convolution or pooling op."""
    segments, run = [], []

    def close():
        if any(registry[n.op].row_wise for n in run):
            segments.append(list(run))
        run.clear()

    for node in order:
        if node.is_leaf:
            continue
        if row_wise(node, views):
            run.append(node)
        else:
            close()
    close()
    return segments
