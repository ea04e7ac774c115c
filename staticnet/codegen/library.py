"""Hand-written kernels (staticnet.kernels) as kernels of the kernel layer.

Each call site becomes a small wrapper kernel that views its arrays from their addresses and sizes
and calls the @njit function; the wrapper's text depends on the function, the dtypes and ranks, and
the literal arguments (window and stride of convolution and pooling: those loops unroll when their
bounds are constants, kernels/pool.py and kernels/conv.py say what that gains), never on sizes.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from .kernel_layer import ABI_POINTER, KEEP_BLOCK, Kernel
from .source_text import literal

RETURNS = {"void": None, "f64": "np.float64", "i64": "np.int64"}


@dataclass(frozen=True)
class Array:
    """An array argument: its address and the size expressions of its axes."""
    address: str
    dtype: str
    dims: list

    def __hash__(self):
        return hash((self.address, self.dtype, tuple(self.dims)))


@dataclass(frozen=True)
class Literal:
    """A constant written into the wrapper (Numba specialises the kernel on it)."""
    value: object


@dataclass(frozen=True)
class Integer:  # the third kind of argument, after Array and Literal
    """An int64 computed by the caller."""
    expression: str


def wrapper(path: str, items, returns: str = "void", parallel: bool = False):
    """(the wrapper kernel, the caller's arguments) for K.<path>(*items): `path` names a hand-written kernel by
    its module of staticnet.kernels and its name ("pool.max_pool"), as the op's lowering gives it."""
    module, _, name = path.partition(".")
    try:
        found = callable(getattr(importlib.import_module(f"staticnet.kernels.{module}"), name, None))
    except ImportError:
        found = False
    if not (found and name.isidentifier()):
        raise RuntimeError(f"internal error: K.{path} is not a kernel of staticnet.kernels (module.function)")
    params, arguments, body, call = [], [], [], []
    for k, item in enumerate(items):
        if isinstance(item, Array):
            params.append((f"a{k}_p", ABI_POINTER[item.dtype]))
            arguments.append(item.address)
            sizes = [f"a{k}_{d}" for d in range(len(item.dims))]
            params += [(size, "i64") for size in sizes]
            arguments += list(item.dims)
            body.append(f"a{k} = carray(a{k}_p, ({', '.join(sizes)},))")
            call.append(f"a{k}")
        elif isinstance(item, Literal):
            call.append(literal(item.value))
        else:
            params.append((f"i{k}", "i64"))
            arguments.append(item.expression)
            call.append(f"i{k}")
    invocation = f"K.{path}({', '.join(call)})"
    body.append(f"return {RETURNS[returns]}({invocation})" if RETURNS[returns] else invocation)
    kernel = Kernel(name, tuple(params), tuple(body), f"staticnet.kernels.{path} on arrays given by address",
                    returns=returns, parallel=parallel)
    return kernel, arguments


def by_address(arrays):
    """For a kernel taking arrays as (address, sizes...) int64 arguments: its params, the caller's
    arguments and, per array, the expression viewing it (`carray` over the address)."""
    params, arguments, views = [], [], []
    for k, array in enumerate(arrays):
        sizes = [f"a{k}_{d}" for d in range(len(array.dims))]
        params += [(f"a{k}", "i64")] + [(size, "i64") for size in sizes]
        arguments += [array.address] + list(array.dims)
        views.append(f"carray(abi.pointer_{ABI_POINTER[array.dtype][:3]}(a{k}), ({', '.join(sizes)},))")
    return params, arguments, views


def _matrix_view(name: str, dtype: str) -> str:
    return f"carray(abi.pointer_{ABI_POINTER[dtype][:3]}({name}), ({name}0, {name}1))"


def split_gemm(dtype: str) -> tuple[Kernel, Kernel]:
    """(the product kernel, its part): out = alpha op(a) @ op(b) + beta out, cut among the threads when it is
    large (kernels/gemm.py's split_mode).  The product kernel's arguments: a, b, out as (address, rows,
    columns), the flags, alpha, beta, threads, and the addresses of RUN_PARTS and of the part, which
    the runtime compiles and passes only for batches whose products are split (0 otherwise: the product
    runs whole, as split_mode then says it must)."""
    params = [(f"{m}{suffix}", "i64") for m in ("a", "b", "out") for suffix in ("", "0", "1")]
    params += [("ta", "i64"), ("tb", "i64"), ("alpha", "f64"), ("beta", "f64"), ("threads", "i64")]
    views = [f"{m.upper()} = {_matrix_view(m, dtype)}" for m in ("a", "b", "out")]
    shared = [("mode", "i64"), ("partials_at", "i64"), ("partials_size", "i64")]
    values = params + shared
    loads = [f"{name} = abi.load_{'f64' if kind == 'f64' else 'i64'}(block + {8 * k})"
             for k, (name, kind) in enumerate(values)]
    partials = f"carray(abi.pointer_{ABI_POINTER[dtype][:3]}(partials_at), (partials_size,))"
    part = Kernel("gemm_part", (("block", "i64"), ("chunk", "i64"), ("chunks", "i64")), tuple(loads + views + [
        "if chunk < chunks:",
        f"    K.gemm.gemm_chunk(A, B, OUT, ta != 0, tb != 0, alpha, beta, mode, chunk, chunks, {partials})",
        "elif mode == 3:  # after every chunk: the partial products over parts of k added up",
        f"    K.gemm.add_partials({partials}, OUT, alpha, beta)"]),
        "One chunk of a matrix product cut among the threads (chunk `chunks`: the chunks' sum)")
    stores = [f"abi.store_{'f64' if kind == 'f64' else 'i64'}(slots + {8 * k}, {name})"
              for k, (name, kind) in enumerate(values)]
    body = ["k = a0 if ta else a1",
            "mode = K.gemm.split_mode(out0, out1, k, ta != 0)",
            "if mode == 0 or part_at == 0:  # small: the whole product on this thread",
            *("    " + v for v in views),
            "    K.gemm.gemm(A, B, OUT, ta != 0, tb != 0, alpha, beta)",
            "    return",
            "parts = K.gemm.split_parts(out0, out1, k)",
            f"partials = np.empty(parts * out0 * out1 if mode == 3 else 1, np.{dtype})  # BY_DEPTH: a product per chunk",
            "partials_at, partials_size = partials.ctypes.data, partials.size",
            f"block = np.empty({len(values)}, np.int64)",
            "slots = block.ctypes.data",
            *stores,
            "abi.call_runner(runner_at, part_at, slots, parts, threads)",
            "abi.call_part(part_at, slots, parts, parts)",
            "partials[0] = 0  # the partial products stay allocated until here: the parts write them by address",
            KEEP_BLOCK]
    kernel = Kernel("gemm", tuple(params + [("runner_at", "i64"), ("part_at", "i64")]), tuple(body),
                    "A matrix product, large ones cut among the threads")
    return kernel, part


def split_gather(dtype: str) -> tuple[Kernel, Kernel]:
    """(the kernel, its part) copying a shuffled minibatch: out[r] = data[order[s + r]] for its n rows of `width`
    values (kernels/shuffle.py gather_rows), in GATHER_PARTS runs of rows shared among the threads when the batch
    holds SPLIT_VALUES values or more and the runtime passes the part (the step's products are split too); else
    on the calling thread.  A copy: the same bits however it is shared.  Its arguments: data (address, rows,
    width), order's address, s, out's address, n, threads, and the addresses of RUN_PARTS and of the part."""
    pointer = ABI_POINTER[dtype][:3]
    values = [("data", "i64"), ("total", "i64"), ("width", "i64"), ("order", "i64"), ("s", "i64"), ("out", "i64"),
              ("n", "i64")]
    views = [f"DATA = carray(abi.pointer_{pointer}(data), (total, width))",
             "ORDER = carray(abi.pointer_i64(order), (total,))"]
    loads = [f"{name} = abi.load_i64(block + {8 * k})" for k, (name, _) in enumerate(values)]
    part = Kernel("gather_part", (("block", "i64"), ("chunk", "i64"), ("chunks", "i64")), tuple(loads + views + [
        "first, last = n * chunk // chunks, n * (chunk + 1) // chunks",
        f"rows = carray(abi.pointer_{pointer}(out + first * width * {np.dtype(dtype).itemsize}), (last - first, width))",
        "K.shuffle.gather_rows(DATA, ORDER, s + first, rows)"]),
        "One run of rows of a shuffled minibatch")
    body = [*views,
            "if part_at == 0 or threads <= 1 or n * width < K.shuffle.SPLIT_VALUES:",
            f"    K.shuffle.gather_rows(DATA, ORDER, s, carray(abi.pointer_{pointer}(out), (n, width)))",
            "    return",
            f"block = np.empty({len(values)}, np.int64)",
            "slots = block.ctypes.data",
            *(f"abi.store_i64(slots + {8 * k}, {name})" for k, (name, _) in enumerate(values)),
            "abi.call_runner(runner_at, part_at, slots, K.shuffle.GATHER_PARTS, threads)",
            KEEP_BLOCK]
    kernel = Kernel("gather", tuple(values + [("threads", "i64"), ("runner_at", "i64"), ("part_at", "i64")]),
                    tuple(body), "A shuffled minibatch copied into place, large ones by runs of rows among the threads")
    return kernel, part
