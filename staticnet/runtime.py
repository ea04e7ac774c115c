"""Compiled callables: the Numba backend behind `sn.function`."""
from __future__ import annotations

import time

import numpy as np

from . import threads
from .codegen import Emitter, load_module, module_source, plan_memory
from .denormals import flushed_to_zero
from .errors import DataError, GraphError
from .graph import Tensor, as_list, located, topological, user_location
from .interpreter import batch_size_of, check_updates, conform
from .passes import optimize
from .program import Program


def capacity_for(n: int) -> int:
    """Arenas are sized for a power of two at least n, so nearby batch sizes share them."""
    return 1 << max(int(n) - 1, 0).bit_length()


class Workspace:
    """Arenas (one per dtype) and buffer offsets for one memory plan, per batch capacity."""

    def __init__(self, plan):
        self.plan = plan
        self.by_capacity = {}

    def get(self, n: int):
        cap = capacity_for(n)
        if cap not in self.by_capacity:
            offsets, sizes = self.plan.layout(cap)
            arenas = {name: np.zeros(max(sizes.get(name, 0), 1), np.dtype(name)) for name in
                      sorted({b.dtype.name for b in self.plan.buffers})}
            self.by_capacity[cap] = (arenas, offsets)
        return self.by_capacity[cap]


def leaf_argument(leaf: Tensor):
    """The array a generated function receives for a parameter: its value, 0-d ones seen as 1 element."""
    value = leaf.value
    if not (value.flags.c_contiguous and value.flags.writeable):
        value = np.ascontiguousarray(value).copy()
        leaf.value = value
    return value.reshape(1) if value.ndim == 0 else value


class CompiledFunction:
    """`sn.function` on the Numba backend: the whole graph as one generated @njit step."""

    def __init__(self, inputs, outputs, updates=None):
        loc = user_location()
        self.inputs = as_list(inputs)
        self.single = isinstance(outputs, Tensor)
        self.outputs = as_list(outputs)
        for node in self.inputs:
            if not isinstance(node, Tensor) or node.op != "input":
                raise located(GraphError, "function", loc, f"inputs must be sn.input tensors, got {node!r}")
        updates = check_updates(list(updates or []), loc)
        missing = [n for n in topological(self.outputs + [v for _, v in updates]) if n.op == "input" and n not in self.inputs]
        if missing:
            raise located(GraphError, "function", loc, f"the outputs need input {missing[0].name!r} "
                                                       f"(created at {missing[0].loc}), which is not in `inputs`")
        threads.apply_once()
        started = time.perf_counter()
        self.report = []
        self.program = optimize(Program(outputs=tuple(self.outputs), updates=tuple(updates)), self.report)
        self.plan = plan_memory(self.program)
        emitter = Emitter(self.program, "step", self.inputs, self.plan)
        self.source = module_source("a compiled function", [emitter.source()])
        self.emitter = emitter
        module, self.path, self.cached = load_module(self.source)
        self.step = module.step
        self.workspace = Workspace(self.plan)
        self.compile_seconds = time.perf_counter() - started

    def __call__(self, *arrays):
        if len(arrays) != len(self.inputs):
            names = ", ".join(repr(n.name) for n in self.inputs)
            raise TypeError(f"this function takes {len(self.inputs)} arrays ({names}), got {len(arrays)}")
        arrays = [conform(node, a) for node, a in zip(self.inputs, arrays)]
        n = batch_size_of(self.inputs, arrays) or 1
        arenas, offsets = self.workspace.get(n)
        args = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
        args += [leaf_argument(t) for t in self.emitter.leaves]
        args += [t.value for t in self.emitter.constants]
        args += [arenas[name] for name in self.emitter.arenas]
        try:
            with flushed_to_zero():
                results = self.step(n, *args, offsets)
        except ValueError as e:  # raised inside the compiled code: a label out of range
            raise DataError(str(e)) from None
        outs = [np.array(v, dtype=t.dtype) for v, t in zip(results, self.program.outputs)]
        return outs[0] if self.single else outs
