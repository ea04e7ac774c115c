"""Batch-parallel segments: runs of consecutive row-wise nodes in a step, split by batch rows
across threads, each thread running the whole run on its rows.

Only runs holding a convolution or pooling op become segments.  Split in two, such a run (on the
book's CNN: im2col, the convolution product, max-pooling and its gradient) runs more than twice as
fast as on one thread at batch 128, as each thread's rows also stay in its cache.  Splitting inside
each kernel instead gained nothing (kernels/conv.py).  Reductions over the batch (weight gradients,
bias sums, the loss) end a segment; outside segments, large matrix products are cut among the
threads (kernels/gemm.py, split_mode).  A segment's tiles are SEGMENT_TILE rows whatever the thread
count, and each row is computed alone, so the results do not depend on which threads run them.
"""
from __future__ import annotations

import math

from ..graph import Tensor
from ..registry import registry

SEGMENT_TILE = 8  # each thread runs the segment on this many of its rows at a time, so that what one node writes
#                   is still in cache when the next reads it: on the book's CNN's forward segment (2 threads) tiles
#                   of 8 rows were about 8% faster than whole halves of the batch, and tiles of 4 to 32 rows alike.
PARALLEL_ROWS = SEGMENT_TILE + 1  # from this many rows a batch has two tiles, which the threads share
SHARED_WEIGHTS = 65_536  # a node with weights (inputs without a batch) this large stays out of segments: there each
#                         thread would read all of them; a product cut among the threads gives each its own rows.


def batch_leading(t: Tensor) -> bool:
    return t.shape[:1] == (None,) and None not in t.shape[1:]


def row_wise(node: Tensor, views) -> bool:
    """Whether each batch row of node depends only on the same rows of its batch-shaped inputs (the op's
    row_wise rule), and its weights are few enough for every thread to read them all."""
    batched = [t for t in node.inputs if None in t.shape]
    if not batch_leading(node) or not batched or not all(batch_leading(t) for t in batched):
        return False
    if any(math.prod(t.shape) >= SHARED_WEIGHTS for t in node.inputs if None not in t.shape):
        return False
    rule = registry[node.op].row_wise
    if callable(rule):
        return rule(node, views)
    return rule or (registry[node.op].kind in ("elementwise", "broadcast")
                    and all(t.ndim == node.ndim for t in batched))


def parallel_segments(order, views) -> list[list[Tensor]]:
    """The maximal runs of row-wise nodes (leaves skipped) that hold a convolution or pooling op."""
    segments, run = [], []

    def close():
        if any(registry[n.op].parallel_rows for n in run):
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


def threads_matter(plan, batch: int) -> bool:
    """Whether a step of this batch size gives the threads any work: a segment of more than one tile, a
    product outside segments large enough to be cut among them, or a kernel that shares its own work
    (the op's threads_at rule)."""
    return (bool(plan.segments and batch >= PARALLEL_ROWS) or products_split(plan, batch)
            or any(registry[n.op].threads_at(n, batch) for n in plan.order
                   if not n.is_leaf and registry[n.op].threads_at))


def products_split(plan, batch: int) -> bool:
    """Whether some product outside the segments is large enough, at this batch size, for kernels/gemm.py's
    split_mode to cut it among the threads."""
    from ..kernels.gemm import SPLIT_WORK  # not at import: loading the kernels finds and binds BLAS

    in_segments = {n.id for segment in plan.segments for n in segment}
    for node in plan.order:
        if node.op in ("gemm", "gemm_update") and node.id not in in_segments:
            a, out = node.inputs[0], (node.inputs[2] if node.op == "gemm_update" else node)
            rows_by_depth = math.prod(batch if d is None else d for d in a.shape)  # m k of op(a)
            if rows_by_depth * out.shape[-1] >= SPLIT_WORK:
                return True
    return False


def product_calls(plan, batch: int) -> set[tuple]:
    """The products a step of `batch` rows computes, as the kernel that runs each sees it: (m, n, k, op(a)
    transposed, op(b) transposed, beta zero) for every call of kernels/gemm.py's product_at, that is the whole
    product, or each chunk of one cut among the threads (split_mode), or, inside a batch segment, its product
    on a tile of SEGMENT_TILE rows (and on the rows left over).  A gemm_update's beta is a value known only
    when it runs (the optimizer's): it counts as an update, as it is in every optimizer step."""
    from ..kernels.gemm import BY_COLUMNS, BY_DEPTH, BY_ROWS, split_mode, split_parts

    def matrix(t, rows):  # t as the matrix the kernel sees: its leading axes (batch = rows) by its last
        return math.prod(rows if d is None else d for d in t.shape[:-1]), t.shape[-1]

    def shares(size, parts):
        return {size * (c + 1) // parts - size * c // parts for c in range(parts)} - {0}

    in_segments = {n.id for segment in plan.segments for n in segment}
    calls = set()
    for node in plan.order:
        if node.op not in ("gemm", "gemm_update"):
            continue
        trans_a, trans_b, beta_zero = node.attrs["trans_a"], node.attrs["trans_b"], node.op == "gemm"
        a, out = node.inputs[0], (node.inputs[2] if node.op == "gemm_update" else node)
        row_counts = {batch}
        if node.id in in_segments and batch >= PARALLEL_ROWS:
            row_counts = {SEGMENT_TILE} | ({batch % SEGMENT_TILE} - {0})
        for rows in row_counts:
            m, n = matrix(out, rows)
            k = matrix(a, rows)[0 if trans_a else 1]
            if min(m, n, k) == 0 or m == 1 or n == 1:
                continue  # nothing to compute, or a matrix-vector product (BLAS's gemv, no choice)
            mode, parts = split_mode(m, n, k, trans_a), split_parts(m, n, k)
            if node.id in in_segments or parts == 1:
                calls.add((m, n, k, trans_a, trans_b, beta_zero))
            elif mode == BY_ROWS:
                calls.update((share, n, k, trans_a, trans_b, beta_zero) for share in shares(m, parts))
            elif mode == BY_COLUMNS:
                calls.update((m, share, k, trans_a, trans_b, beta_zero) for share in shares(n, parts))
            elif mode == BY_DEPTH:
                calls.update((m, n, share, trans_a, trans_b, True) for share in shares(k, parts))
    return calls
