"""What runs generated code: workspaces, the generated functions with their kernels, `sn.function`."""
from __future__ import annotations

import time

import numba
import numpy as np

from . import checks, threads
from .codegen import cache, kernel_layer
from .codegen.driver import Driver, Sizes, code_only, module_source
from .codegen.source_text import check_source
from .codegen.memory import plan_memory
from .codegen.product_choice import Recorded
from .denormals import flushed_to_zero
from .errors import DataError
from .graph import Tensor
from .function import FunctionBase
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
    total, available = sum(arena_bytes.values()), checks.memory_available()
    if available is not None and total > available:
        raise MemoryError(_workspace_report(plan, capacity, total,
                                            f"more than the {checks.byte_size(available)} of memory available"))
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
        f"{b.dtype.name} {checks.byte_size(b.elements(capacity) * b.dtype.itemsize)}"
        for b in largest if b.slot in made_by)
    return (f"the workspace for batches of up to {capacity} rows needs {checks.byte_size(total)}, {why}; its largest "
            f"buffers: {listed}. Use smaller batches or smaller layers")


class Workspace:
    """Arenas (one per dtype) for one memory plan, per batch capacity: the generated code receives the
    address of each buffer in them; buffers placed at the same offset share the memory."""

    def __init__(self, plan):
        self.plan = plan
        self.by_capacity = {}

    def get(self, n: int) -> list[np.ndarray]:
        """A view of each buffer (by slot), in arenas sized for batches of up to n."""
        cap = capacity_for(n)
        if cap not in self.by_capacity:
            offsets, sizes = self.plan.layout(cap)
            arenas = allocate_arenas(self.plan, cap, sizes)
            views = [arenas[b.dtype.name][offsets[b.slot]:offsets[b.slot] + b.elements(cap)]
                     .reshape(b.view_shape(cap)) for b in self.plan.buffers]
            self.by_capacity[cap] = (views, [v.ctypes.data for v in views])
        return self.by_capacity[cap][0]

    def addresses(self, n: int) -> list[int]:
        """The address of each buffer (by slot), in arenas sized for batches of up to n."""
        self.get(n)
        return self.by_capacity[capacity_for(n)][1]

    def array(self, node: Tensor, n: int) -> np.ndarray:
        """The buffer holding `node`'s value for a batch of n, seen with the node's shape."""
        owner = self.plan.view_of.get(node.id, node)
        view = self.get(n)[self.plan.slot_of[owner.id]]
        shape = tuple(n if d is None else d for d in node.shape)
        return view.reshape(-1)[:int(np.prod(shape))].reshape(shape)


def leaf_argument(leaf: Tensor) -> int:
    """The address a generated function receives for a parameter (its value made contiguous and writeable)."""
    value = leaf.value
    if not (value.flags.c_contiguous and value.flags.writeable):
        value = np.ascontiguousarray(value).copy()
        leaf.value = value
    return value.ctypes.data


def shared_arguments(driver, workspace: Workspace, capacity: int, report=None, choices=None) -> dict:
    """The values of a driver's shared parameter groups (Driver.shared_groups) for batches of up to
    `capacity` rows; the thread count is read per call, since it can be changed between calls.  `choices`
    (product_choice.Recorded): the routines the step's products run on, put in place for this run."""
    if choices is not None:
        choices.use(driver.plan, capacity)
    return dict(params=[leaf_argument(t) for t in driver.leaves], constants=[t.value.ctypes.data for t in driver.constants],
                buffers=workspace.addresses(capacity), threads=numba.get_num_threads(),
                part_addresses=part_addresses(driver, capacity, report), sizes=driver.sizes.values)


class Generated:
    """A generated module of driver functions and, per function, its signature and the kernels it calls:
    they are compiled (or loaded from the cache) and their symbols registered before its first call."""

    def __init__(self, prefix: str, functions: list, title: str, drivers: list, kernels_of: dict[str, list]):
        """`functions`: (signature, source) pairs."""
        self.signatures = {signature.function: signature for signature, _ in functions}
        self.source = module_source(title, drivers, [source for _, source in functions])  # with the reader's comments
        check_source(self.source)  # the reader's source too: --emit writes it, a user may run it
        self.code = code_only(self.source)
        self.kernels_of = kernels_of
        self.report = kernel_layer.LoadReport()
        self._ready: set[str] = set()
        self.module = cache.load(prefix, self.code)

    @property
    def path(self) -> str:
        return self.module.path

    def prepare(self, function: str) -> None:
        """Compile or load the kernels `function` calls."""
        if function not in self._ready:
            for kernel in self.kernels_of[function]:
                kernel_layer.load(kernel, self.report)
            self._ready.add(function)

    def compiled(self, function: str) -> bool:
        return function in self._ready and bool(getattr(self.module.module, function).signatures)

    def from_cache(self, function: str) -> bool:
        return sum(getattr(self.module.module, function).stats.cache_hits.values()) > 0

    def arguments(self, function: str, **groups) -> list:
        """The positional arguments of `function` for these values of its parameter groups."""
        return self.signatures[function].bind(**groups)

    def run(self, function: str, arguments: list):
        """Call `function` with positional arguments made by `arguments`."""
        self.prepare(function)
        return self.module.run(function, *arguments)

    def __call__(self, function: str, **groups):
        return self.run(function, self.arguments(function, **groups))


def part_addresses(driver, batch: int, report=None) -> list[int]:
    """The addresses of RUN_PARTS and of `driver`'s parts compiled on demand, for a batch of `batch` rows:
    compiled (once) when some product of the step is large enough to be cut among the threads at that batch,
    else zeros (the products then run whole, as kernels/gemm.py's split_mode says they must)."""
    needed = parts_needed(driver, batch)
    if not needed:
        return [0] * (1 + len(driver.lazy_parts))
    return [kernel_layer.load(kernel, report) for kernel in needed]


def parts_needed(driver, batch: int) -> list:
    """RUN_PARTS and `driver`'s parts compiled on demand, if a batch of `batch` rows needs them; else none."""
    from .codegen.parallel import products_split
    if not driver.lazy_parts or not products_split(driver.plan, batch):
        return []
    return [kernel_layer.RUN_PARTS, *driver.lazy_parts.values()]


def kernels_called(*drivers) -> list:
    seen = {}
    for driver in drivers:
        seen.update(driver.kernels)
    return list(seen.values())


class CompiledFunction(FunctionBase):
    """`sn.function` on the Numba backend: the graph as one generated step."""

    def __init__(self, inputs, outputs, updates=None, training=False):
        super().__init__(inputs, outputs, updates, training)
        threads.apply_once()
        started = time.perf_counter()
        self.report = []
        self.program = optimize(Program(outputs=tuple(self.outputs), updates=tuple(self.updates)), self.report)
        self.plan = plan_memory(self.program)
        self.driver = Driver(self.program, self.inputs, self.plan, Sizes())
        self.generated = Generated("staticnet_function", [self.driver.source("step")], "a compiled function",
                                   [self.driver], {"step": kernels_called(self.driver)})
        self.source, self.path = self.generated.source, self.generated.path
        self.workspace = Workspace(self.plan)
        self.product_choices = Recorded()
        self._choosers, self._warm = {}, set()
        self.compile_seconds = time.perf_counter() - started

    def _conformed(self, arrays):
        """(the arrays checked and conformed to the inputs, the batch size)."""
        arrays, n = self.checked(arrays)
        return arrays, n or 1

    def _arguments(self, arrays, n, count=None):
        """The step's arguments on conformed `arrays` of batch n, on `count` threads (None: as set); they hold
        the arrays' addresses, so the arrays must outlive them."""
        shared = shared_arguments(self.driver, self.workspace, n, self.generated.report, self.product_choices)
        if count is not None:
            shared["threads"] = count
        args = self.generated.arguments("step", n=n, inputs=[a.ctypes.data for a in arrays], **shared)
        self.generated.prepare("step")
        return args

    def _chooser(self, n: int):
        """The thread chooser for calls on batches of n, as fit has one per batch size (None: the count is fixed,
        or a step of n rows gives the threads no work).  A call is its chunk: sn.function's users call it in
        loops too, and a step split between threads can be many times slower than on one while the other core
        is busy (threads.ThreadChooser)."""
        from .codegen.parallel import threads_matter
        if n not in self._choosers:
            self._choosers[n] = (threads.chooser_for((self.generated.path, n), threads.LONGEST_WAIT_CALLS)
                                 if threads_matter(self.plan, n) else None)
        return self._choosers[n]

    def _run_chosen(self, chooser, n, run_on):
        """run_on(count) on the count the chooser picks, timed for it, except the first call on each count:
        the first parallel call of a process starts Numba's threads (70 ms against 0.6 ms after, a dense
        forward at batch 128), and a chooser that timed it would not try that count again for many calls."""
        count = chooser.choose()
        if (n, count) not in self._warm:
            self._warm.add((n, count))
            return run_on(count)
        started = time.perf_counter()
        result = run_on(count)
        chooser.record(count, time.perf_counter() - started, n)
        return result

    def compiled_call(self, *arrays):
        """(the compiled step, its arguments on `arrays` as a tuple, the arrays they point into) for compiled code
        that calls the step itself (distributed training's loop, staticnet/mpi_steps.py), on the thread count as
        set; the arrays returned must outlive the arguments."""
        conformed, n = self._conformed(arrays)
        return self.generated.module.module.step, tuple(self._arguments(conformed, n)), conformed

    def bind(self, *arrays):
        """A no-argument callable running the step on these arrays with its buffers ready, returning
        the scalar outputs: what a benchmark times, free of the per-call checks and conversions (the thread
        count is chosen as in a call)."""
        conformed, n = self._conformed(arrays)
        run = self.generated.module.run
        chooser = self._chooser(n)
        if chooser is None:
            args = self._arguments(conformed, n)

            def step():
                with threads.blas_restored():  # NumPy's products after it (a benchmark's peers) keep BLAS's threads
                    return run("step", *args)
        else:
            on = {count: self._arguments(conformed, n, count) for count in chooser.options}

            def step():
                with threads.blas_restored():
                    return self._run_chosen(chooser, n, lambda count: run("step", *on[count]))
        # what owns the memory at the addresses it passes (arrays, workspace, parameters) lives as long as it
        step.arrays, step.function = conformed, self
        return step

    def __call__(self, *arrays):
        arrays, n = self._conformed(arrays)
        chooser = self._chooser(n)
        args = self._arguments(arrays, n) if chooser is None else None
        try:
            with flushed_to_zero(), threads.blas_restored():
                if chooser is None:
                    scalars = list(self.generated.run("step", args))
                else:
                    scalars = list(self._run_chosen(chooser, n, lambda count: self.generated.run(
                        "step", self._arguments(arrays, n, count))))
        except ValueError as e:  # raised inside the compiled code: a label out of range
            raise DataError(str(e)) from None
        fed = {t.id: a for t, a in zip(self.inputs, arrays)}
        results = []
        for t in self.program.outputs:
            owner = self.plan.view_of.get(t.id, t)  # a reshape shows its input's memory
            shape = tuple(n if d is None else d for d in t.shape)
            if t.shape == ():
                results.append(np.array(scalars.pop(0), dtype=t.dtype))
            elif owner.is_leaf:
                results.append(np.array(fed[owner.id] if owner.op == "input" else owner.value).reshape(shape))
            else:
                results.append(self.workspace.array(t, n).copy())
        return self.result(results)
