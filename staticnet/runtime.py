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
            arenas = {name: np.zeros(max(sizes.get(name, 0), 1), np.dtype(name)) for name in
                      sorted({b.dtype.name for b in self.plan.buffers})}
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
