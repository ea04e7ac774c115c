"""Compiled callables: the Numba backend behind `sn.function`."""
from __future__ import annotations

import time

import numba
import numpy as np

from . import threads
from .codegen import Emitter, load_module, module_source, plan_memory
from .denormals import flushed_to_zero
from .errors import DataError
from .graph import Tensor
from .interpreter import FunctionBase
from .passes import optimize
from .program import Program


def capacity_for(n: int) -> int:
    """Arenas are sized for a power of two at least n, so nearby batch sizes share them."""
    return 1 << max(int(n) - 1, 0).bit_length()


def allocate_arenas(plan, capacity: int, sizes: dict) -> dict:
    """One zeroed arena per dtype, of `sizes` elements; if they cannot fit in memory, a MemoryError naming
    the total and the largest buffers (node, shape, bytes), raised before allocating where the memory
    available is known (NumPy's own error names no node, and Linux may grant an allocation that the
    first step then cannot use)."""
    arena_bytes = {name: max(sizes.get(name, 0), 1) * np.dtype(name).itemsize
                   for name in sorted({b.dtype.name for b in plan.buffers})}
    total, available = sum(arena_bytes.values()), _memory_available()
    if available is not None and total > available:
        raise MemoryError(_workspace_report(plan, capacity, total, f"more than the {_bytes(available)} of memory "
                                                                   "available"))
    try:
        return {name: np.zeros(size // np.dtype(name).itemsize, np.dtype(name)) for name, size in arena_bytes.items()}
    except MemoryError:
        raise MemoryError(_workspace_report(plan, capacity, total, "which could not be allocated")) from None


def _workspace_report(plan, capacity, total, why, shown=3) -> str:
    made_by = {}
    for node in plan.order:
        if node.id in plan.slot_of:
            made_by.setdefault(plan.slot_of[node.id], node)
    largest = sorted(plan.buffers, key=lambda b: -b.elements(capacity) * b.dtype.itemsize)[:shown]
    listed = "; ".join(
        f"{made_by[b.slot].op} at {made_by[b.slot].loc} {tuple(capacity if d is None else d for d in b.shape)} "
        f"{b.dtype.name} {_bytes(b.elements(capacity) * b.dtype.itemsize)}" for b in largest if b.slot in made_by)
    return (f"the workspace for batches of up to {capacity} rows needs {_bytes(total)}, {why}; its largest "
            f"buffers: {listed}. Use smaller batches or smaller layers")


def _memory_available() -> int | None:
    """Bytes of memory the system can still give (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


class Workspace:
    """Arenas (one per dtype) for one memory plan, per batch capacity, and a view of each buffer in
    them: the generated code receives the views (slicing one is cheaper to compile than shaping an
    arena slice), and buffers placed at the same offset share the memory."""

    def __init__(self, plan):
        self.plan = plan
        self.by_capacity = {}

    def get(self, n: int):
        cap = capacity_for(n)
        if cap not in self.by_capacity:
            offsets, sizes = self.plan.layout(cap)
            arenas = allocate_arenas(self.plan, cap, sizes)
            self.by_capacity[cap] = [arenas[b.dtype.name][offsets[b.slot]:offsets[b.slot] + b.elements(cap)]
                                     .reshape(b.view_shape(cap)) for b in self.plan.buffers]
        return self.by_capacity[cap]

    def arguments(self, n: int) -> list:
        """What the generated code takes after the parameters: the buffer views, and the number of
        threads (read per call: it can be changed)."""
        return self.get(n) + [numba.get_num_threads()]


def leaf_argument(leaf: Tensor):
    """The array a generated function receives for a parameter: its value, 0-d ones seen as 1 element."""
    value = leaf.value
    if not (value.flags.c_contiguous and value.flags.writeable):
        value = np.ascontiguousarray(value).copy()
        leaf.value = value
    return value.reshape(1) if value.ndim == 0 else value


class CompiledFunction(FunctionBase):
    """`sn.function` on the Numba backend: the whole graph as one generated @njit step."""

    def __init__(self, inputs, outputs, updates=None, training=False):
        super().__init__(inputs, outputs, updates, training)
        threads.apply_once()
        started = time.perf_counter()
        self.report = []
        self.program = optimize(Program(outputs=tuple(self.outputs), updates=tuple(self.updates)), self.report)
        self.plan = plan_memory(self.program)
        self.emitter = Emitter(self.program, "step", self.inputs, self.plan)
        self.source = module_source("a compiled function", [*self.emitter.helpers(), self.emitter.source()])
        module, self.path, self.cached = load_module(self.source)
        self.step = module.step
        self.workspace = Workspace(self.plan)
        self.compile_seconds = time.perf_counter() - started

    def bind(self, *arrays):
        """A no-argument callable running the step on these arrays with its buffers ready, returning
        the raw outputs: what a benchmark times, free of the per-call checks and conversions."""
        arrays, n = self.checked(arrays)
        n = n or 1
        args = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
        args += [leaf_argument(t) for t in self.emitter.leaves]
        args += [t.value for t in self.emitter.constants]
        args += self.workspace.arguments(n)
        return lambda: self.step(n, *args)

    def __call__(self, *arrays):
        run = self.bind(*arrays)
        try:
            with flushed_to_zero():
                results = run()
        except ValueError as e:  # raised inside the compiled code: a label out of range
            raise DataError(str(e)) from None
        return self.result([np.array(v, dtype=t.dtype) for v, t in zip(results, self.program.outputs)])
