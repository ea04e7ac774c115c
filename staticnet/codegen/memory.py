"""Schedule and memory plan.

Every array a step computes lives in one arena per dtype, allocated once per
batch capacity by the runtime.  Buffers whose lifetimes do not overlap share
storage; an elementwise loop may write over an input it is the last reader of.
The plan is made once per program; offsets are placed per capacity (cheap, in
Python), so one generated module serves every batch size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..graph import Tensor
from ..registry import registry
from ..program import Program
from .parallel import parallel_segments



def schedule(program: Program) -> list[Tensor]:
    """Topological order, with the in-place effects last (after every reader of what they overwrite)."""
    effects = {e.id for e in program.effects}
    body = [n for n in program.nodes() if n.id not in effects]
    return body + list(program.effects)


def is_view(node: Tensor) -> bool:
    """A reshape shows its input's buffer with another shape (every array is contiguous: a transpose that
    no product absorbed is copied); to or from a scalar, a local of the step, it is a copy."""
    return registry[node.op].aliases_input and node.shape != () and node.inputs[0].shape != ()


@dataclass
class Buffer:
    slot: int
    dtype: np.dtype
    per_example: int  # elements per example, for batch-shaped buffers
    fixed: int  # elements, for buffers without a batch dimension
    start: int
    end: int
    shape: tuple = ()  # of the node that made it; None for the batch dimension

    def elements(self, capacity: int) -> int:
        return self.per_example * capacity if self.per_example else self.fixed

    def batch_leading(self) -> bool:
        """Whether a batch of n is the first n rows of the buffer (so `buffer[:n]` is its view)."""
        return None not in self.shape[1:]

    def view_shape(self, capacity: int) -> tuple:
        if self.batch_leading():
            return tuple(capacity if d is None else d for d in self.shape)
        return (self.elements(capacity),)


@dataclass
class MemoryPlan:
    order: list[Tensor]
    buffers: list[Buffer] = field(default_factory=list)
    slot_of: dict[int, int] = field(default_factory=dict)  # node id -> buffer slot
    view_of: dict[int, Tensor] = field(default_factory=dict)  # view node id -> node whose storage it shows
    in_place: dict[int, Tensor] = field(default_factory=dict)  # node id -> input whose buffer it reuses
    segments: list[list[Tensor]] = field(default_factory=list)  # batch-parallel runs of nodes (parallel.py)

    def layout(self, capacity: int):
        """(offsets per slot, arena size per dtype) for batches of up to `capacity` examples."""
        offsets = np.zeros(max(len(self.buffers), 1), np.int64)
        sizes: dict[str, int] = {}
        placed: dict[str, list[Buffer]] = {}
        for buf in sorted(self.buffers, key=lambda b: (b.start, -b.elements(capacity))):
            key = buf.dtype.name
            size = buf.elements(capacity)
            live = sorted(((offsets[b.slot], offsets[b.slot] + b.elements(capacity)) for b in placed.get(key, [])
                           if b.start <= buf.end and buf.start <= b.end))
            offset = 0
            for lo, hi in live:  # first fit below, between or after the live buffers
                if offset + size <= lo:
                    break
                offset = max(offset, hi)
            offsets[buf.slot] = offset
            placed.setdefault(key, []).append(buf)
            sizes[key] = max(sizes.get(key, 0), offset + size)
        return offsets, sizes

    def peak_bytes(self, capacity: int) -> int:
        _, sizes = self.layout(capacity)
        return sum(size * np.dtype(name).itemsize for name, size in sizes.items())


def owns_buffer(node: Tensor) -> bool:
    return not node.is_leaf and node.shape != () and not registry[node.op].returns_many


def plan_memory(program: Program, extra_live=()) -> MemoryPlan:
    """Assign each computed array a slot; `extra_live` nodes (fed inputs in a loop) get slots live throughout.

    A buffer made inside a batch-parallel segment lives through the whole segment: threads run
    the segment on different rows, so one thread may still read rows of a buffer that another
    has finished with."""
    order = schedule(program)
    position = {n.id: i for i, n in enumerate(order)}
    plan = MemoryPlan(order)
    owner: dict[int, Tensor] = {}  # node id -> node that owns its storage (itself unless a view)
    for node in order:
        if owns_buffer(node) and is_view(node):
            owner[node.id] = owner.get(node.inputs[0].id, node.inputs[0])
            plan.view_of[node.id] = owner[node.id]
        else:
            owner[node.id] = node
    last_read: dict[int, int] = {}
    for node in order:
        for t in node.inputs:
            source = owner.get(t.id, t)
            last_read[source.id] = position[node.id]
    end_of_step = len(order)
    for root in program.roots:
        last_read[owner.get(root.id, root).id] = end_of_step

    def new_buffer(node, start, end):
        per_example = math.prod(d for d in node.shape if d is not None) if None in node.shape else 0
        fixed = 0 if per_example else math.prod(node.shape)
        plan.buffers.append(Buffer(len(plan.buffers), node.dtype, per_example, fixed, start, end, node.shape))
        return plan.buffers[-1].slot

    plan.segments = parallel_segments(order, plan.view_of)
    span = {n.id: (position[seg[0].id], position[seg[-1].id]) for seg in plan.segments for n in seg}
    for node in extra_live:
        plan.slot_of[node.id] = new_buffer(node, -1, end_of_step)
    for node in order:
        if not owns_buffer(node) or node.id in plan.view_of:
            continue
        start = position[node.inputs[0].id] if node.kind == "part" else position[node.id]
        end = last_read.get(node.id, start)
        if node.id in span:
            start, end = min(start, span[node.id][0]), max(end, span[node.id][1])
        reused = _reusable_input(node, owner, last_read, position, plan) if registry[node.op].kind == "elementwise" else None
        if reused is not None:
            plan.in_place[node.id] = reused
            slot = plan.slot_of[reused.id]
            plan.slot_of[node.id] = slot
            plan.buffers[slot].end = max(plan.buffers[slot].end, end)
        else:
            plan.slot_of[node.id] = new_buffer(node, start, end)
    return plan


def _reusable_input(node, owner, last_read, position, plan):
    """An input buffer this elementwise loop may overwrite: same shape and dtype, read last here."""
    for t in node.inputs:
        if (not t.is_leaf and t.id in plan.slot_of and owner.get(t.id) is t and t.shape == node.shape and t.dtype == node.dtype
                and last_read.get(t.id) == position[node.id] and t.kind != "part"):
            return t
    return None
