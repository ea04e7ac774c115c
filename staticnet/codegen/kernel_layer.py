"""The kernel layer: shape-generic kernels, each compiled once per machine and shared by every model.

A kernel is the source of one Numba `cfunc`: a loop nest of a fused node's loop body, a call of a
hand-written kernel (staticnet.kernels) on arrays given by address, or a batch-parallel segment.  Its
text names no sizes (they are arguments) and no user file or layer, so a model whose layers only
change size, or another model with the same fused groups, finds it compiled.  Each lives in the
compile cache under a name hashed from its text (cache.py) and is called by the per-model driver
through a symbol (kernels/abi.py says why that keeps the driver small to compile).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from . import cache
from .source_text import docstring, literal

ABI_POINTER = {"float32": "f32*", "float64": "f64*", "int64": "i64*", "int32": "i32*"}  # kernels/abi.py
ABI_VALUE = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i64"}

FLAGS = ("cache=True, nogil=True, error_model='numpy', "
         # fastmath without nnan and ninf: NaN and Inf keep their IEEE meaning.  error_model="numpy":
         # a division by zero gives inf instead of raising (no branch in every loop with a division).
         "fastmath={'contract', 'arcp', 'afn', 'reassoc', 'nsz'}")

HEADER = '''"""{doc}

A kernel of staticnet's kernel layer (staticnet/codegen/kernel_layer.py): arrays arrive as
pointers followed by their sizes, so one compiled copy serves every size.
"""
import math

import numpy as np
from numba import carray, cfunc, prange

import staticnet.kernels as K
from staticnet.kernels import abi

f32 = np.float32
'''


@dataclass(frozen=True)
class Kernel:
    """The source of one kernel: parameters as (name, ABI type) pairs (kernels/abi.py), body lines."""

    stem: str  # the readable start of its name: loop, gemm, im2col, segment, ...
    params: tuple
    body: tuple
    doc: str
    returns: str = "void"
    parallel: bool = False
    calls: tuple = ()  # kernels it calls through their symbols (a segment's kernels)

    @cached_property
    def source(self) -> str:
        declarations = [f"{callee.local_name} = abi.external({literal(callee.symbol)}, {literal(callee.returns)}, "
                        f"{literal(tuple(t for _, t in callee.params))})" for callee in self.calls]
        flags = FLAGS + (", parallel=True" if self.parallel else "")
        types = tuple(t for _, t in self.params)
        lines = [HEADER.format(doc=docstring(self.doc)), *declarations, "" if declarations else None,
                 f"@cfunc(abi.kernel_signature({literal(self.returns)}, {literal(types)}), {flags})",
                 f"def kernel({', '.join(name for name, _ in self.params)}):",
                 *("    " + line if line else "" for line in self.body)]
        return "\n".join(line for line in lines if line is not None) + "\n"

    @cached_property
    def name(self) -> str:
        return f"staticnet_{self.stem}_{cache.key_of(self.source)}"

    @property
    def symbol(self) -> str:
        return self.name

    @property
    def local_name(self) -> str:
        """What a driver or segment calls it: the stem and a short part of the hash."""
        return f"{self.stem}_{self.name.rsplit('_', 1)[1][:8]}"


@dataclass
class LoadReport:
    """What loading a set of kernels took: how many were compiled, how many found compiled."""
    compiled: list = field(default_factory=list)
    found: list = field(default_factory=list)
    seconds: float = 0.0


_addresses: dict[str, int] = {}  # symbol -> address, for the kernels registered in this process


def loaded(kernel: Kernel) -> bool:
    """Whether `kernel` is registered in this process already (load would compile or read nothing)."""
    return kernel.symbol in _addresses


def load(kernel: Kernel, report: LoadReport | None = None) -> int:
    """Compile (or load from the cache) `kernel` and register its symbol; returns its address."""
    from ..kernels import abi

    if kernel.symbol in _addresses:
        return _addresses[kernel.symbol]
    for callee in kernel.calls:
        load(callee, report)
    started = time.perf_counter()
    module = cache.load(f"staticnet_{kernel.stem}", kernel.source).module
    compiled = module.kernel
    address = compiled.address
    abi.register(kernel.symbol, address)
    _addresses[kernel.symbol] = address
    if report is not None:
        (report.found if compiled.cache_hits else report.compiled).append(kernel.stem)
        report.seconds += time.perf_counter() - started
    return address


# ---------------------------------------------------------------- work split between threads

RUN_PARTS = Kernel(
    "run_parts", (("function", "i64"), ("block", "i64"), ("chunks", "i64"), ("threads", "i64")),
    ("if threads <= 1 or chunks <= 1:",
     "    for chunk in range(chunks):",
     "        abi.call_part(function, block, chunk, chunks)",
     "    return",
     "workers = min(threads, chunks)",
     "for worker in prange(workers):",
     "    for chunk in range(chunks * worker // workers, chunks * (worker + 1) // workers):",
     "        abi.call_part(function, block, chunk, chunks)"),
    "Run chunks 0..chunks-1 of the part at address `function`, shared among `threads` threads in runs of "
    "consecutive chunks.\n\nThe one parallel kernel: everything split between threads is a part it runs "
    "(kernels/abi.py), so no other kernel pays for compiling Numba's parallel loops.",
    parallel=True)


# Numba frees an array after the last statement that names it, and the parts read the block through its address
# only: a last write to it keeps it allocated until every part has run (freed earlier, the parts read freed
# memory, which crashed once the allocator gave pages back to the system, MALLOC_TRIM_THRESHOLD_ small)
KEEP_BLOCK = "block[0] = 0  # the block stays allocated until here: the parts read it by address"


def split_kernel(stem: str, params, shared, part_body, doc: str, before=(), finish=(), chunks="chunks",
                 calls=(), keep=()) -> Kernel:
    """A kernel whose work RUN_PARTS cuts into chunks.  `params` are its (int64 or f64) arguments; `before`
    runs first (and may return, or define the extra `shared` (name, type) values); the part kernel gets
    every param and shared value from a block, then runs `part_body` with `chunk` and `chunks` in scope;
    `finish` runs in the part too, once every chunk is done (as chunk number `chunks`), so that what it
    calls is compiled with the part.  `keep`: arrays `before` allocates whose addresses the parts use, kept
    allocated until every part and `finish` have run (as the block is: KEEP_BLOCK)."""
    values = list(params) + list(shared)
    loads = [f"{name} = abi.load_{'f64' if kind == 'f64' else 'i64'}(block + {8 * k})"
             for k, (name, kind) in enumerate(values)]
    body = list(part_body)
    if finish:
        body = ["if chunk < chunks:", *("    " + line for line in body), "else:", *("    " + line for line in finish)]
    part = Kernel(f"{stem}_part", (("block", "i64"), ("chunk", "i64"), ("chunks", "i64")),
                  tuple(loads) + tuple(body), f"One chunk of: {doc}", calls=tuple(calls))
    stores = [f"abi.store_{'f64' if kind == 'f64' else 'i64'}(slots + {8 * k}, {name})"
              for k, (name, kind) in enumerate(values)]
    run = [f"{RUN_PARTS.local_name}(abi.address_of({literal(part.symbol)}), slots, {chunks}, threads)"]
    if finish:
        run.append(f"abi.call_part(abi.address_of({literal(part.symbol)}), slots, {chunks}, {chunks})")
    kept = [f"{name}.reshape({name}.size)[0] = 0  # allocated until here: the parts use it by address"
            for name in keep]
    entry = (list(before) + [f"block = np.empty({len(values)}, np.int64)", "slots = block.ctypes.data"] + stores + run
             + kept + [KEEP_BLOCK])
    return Kernel(stem, tuple(params), tuple(entry), doc, calls=(RUN_PARTS, part) + tuple(calls))
