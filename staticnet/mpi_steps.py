"""Distributed training's steps in one compiled loop: MPI's C functions called from compiled code.

A distributed step is the gradient program on this rank's rows, a collective of the gradients, then the update
program. Made from Python, each step returned to Python between those calls, which cost 9-13% of a step on one
rank (docs/benchmarks.md, "Data-parallel training on MPI", its second table). Here one compiled function runs a
run of steps: it gathers the rows, seeds the dropout masks, calls the two programs' compiled steps and calls
MPI_Allreduce or MPI_Allgatherv with the handles mpi4py gives (pointers in Open MPI, ints in MPICH).

The loop reaches MPI as the programs reach BLAS and the kernels (kernels/abi.py): through symbols registered
with llvmlite at the addresses of the MPI library mpi4py loaded, so its compiled code names no address of this
process and is kept in the compile cache like the programs' (a module per model shape, `load`): a second fit of
the model, in this process or another, on any rank, loads it instead of compiling it (1.3-2 s on the Zen 3
machine of docs/benchmarks.md).

The loop does in each step what distributed.DataParallel's Python step does, in the same order and precision,
so the two give the same bits; the Python step remains for what the loop does not cover (the last, shorter
batch of an epoch, a rank with no rows in a batch, local SGD).  Both may serve one job, one rank in one and
another in the other: they make the same collectives in the same order.  The loop's text is made per model from
its shape (how many inputs and row counts, masks, an accuracy, the float type) and the names of its programs'
modules; it holds only names of its own.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .codegen import cache
from .codegen.source_text import literal
from .kernels import abi

SYMBOLS = {"allreduce": "staticnet_mpi_allreduce", "allgatherv": "staticnet_mpi_allgatherv"}


class MpiFunctions:
    """MPI_Allreduce and MPI_Allgatherv registered for compiled code, and the handles they take."""

    def __init__(self, comm, dtype):
        from mpi4py import MPI
        library = ctypes.CDLL(MPI.__file__)  # the MPI library mpi4py is linked against, already loaded
        for name, symbol in SYMBOLS.items():
            abi.register(symbol, ctypes.cast(getattr(library, f"MPI_{name.capitalize()}"), ctypes.c_void_p).value)
        # Open MPI's handles are pointers, MPICH's ints: the loop's text declares the functions with this type
        self.handle_type = "int32" if MPI._sizeof(MPI.Comm) == ctypes.sizeof(ctypes.c_int) else "int64"
        # MPI_IN_PLACE is an address constant ((void *) 1 in Open MPI, -1 in MPICH)
        self.handles = (ctypes.c_ssize_t(int(MPI.IN_PLACE)).value,
                        MPI._handleof(MPI.FLOAT if np.dtype(dtype) == np.float32 else MPI.DOUBLE),
                        MPI._handleof(MPI.DOUBLE), MPI._handleof(MPI.SUM), MPI._handleof(comm))


NO_HANDLES = (0, 0, 0, 0, 0)  # the handles argument of a loop made without collectives (one rank), not read


def source(programs: tuple[str, str], inputs: int, variants: int, seeded: bool, metric: str | None, exact: bool,
           float_type: str, handle_type: str | None) -> str:
    """The text of the module of `run_steps` for a model whose gradient and update programs are the `step`s of
    the generated modules named in `programs`, of `inputs` data arrays, whose steps run on `variants` row
    counts; `metric`: the kernels.metrics function counting correct predictions, if any; `handle_type`: the
    integer type of MPI's handles (MpiFunctions.handle_type), or None for a loop that calls no MPI function (one
    rank, as fit(mode="exact") runs on its own).

    run_steps(first, stop, ...) runs the steps numbered first .. stop - 1 of an epoch, each on a whole batch of
    batch_size rows, and returns (MPI's error code, 0 if none; the loss sum and count correct carried on from the
    ones given, as the Python step adds them)."""
    collective, counted = handle_type is not None, metric is not None
    head = ["first", "stop", "batch_size", "order", "seeds", "loss_sum", "correct"]
    head += [f"data{i}" for i in range(inputs)]
    for v in range(variants):
        head += [f"rows{v}", f"arguments{v}", f"gradients{v}", f"prediction{v}", f"label{v}"]
        head += [f"buffer{v}_{i}" for i in range(inputs)]
    head += ["flat", "update_arguments", "handles"]
    head += ["bounds", "mine_first", "mine_stop", "gathered", "stats", "counts", "displacements"] if exact \
        else ["share_first"]
    gradient_module, update_module = programs  # generated modules (cache.py), imported by the names they hold
    if not all(name.isidentifier() for name in programs):
        raise RuntimeError(f"internal error: {programs!r} are not the names of generated modules")
    lines = ['"""The steps of one distributed model, in one compiled loop (made by staticnet/mpi_steps.py)."""',
             "import numpy as np",
             "from numba import njit, types",
             "",
             "from staticnet.kernels.gradient_parts import add_parts, scale_into",
             "from staticnet.kernels.shuffle import gather_rows",
             f"from {gradient_module} import step as gradient_step",
             f"from {update_module} import step as update_step"]
    if counted:
        lines.append(f"from staticnet.kernels.metrics import {metric} as count_correct")
    if collective:
        lines += ["", f"HANDLE, ADDRESS, COUNT = types.{handle_type}, types.int64, types.int32",
                  f"allreduce = types.ExternalFunction({literal(SYMBOLS['allreduce'])}, "
                  "types.int32(ADDRESS, ADDRESS, COUNT, HANDLE, HANDLE, HANDLE))",
                  f"allgatherv = types.ExternalFunction({literal(SYMBOLS['allgatherv'])}, "
                  "types.int32(ADDRESS, COUNT, HANDLE, ADDRESS, ADDRESS, ADDRESS, HANDLE, HANDLE))"]
    lines += ["", "", '@njit(cache=True, nogil=True, error_model="numpy")',
              f"def run_steps({', '.join(head)}):",
              "    in_place, values, doubles, add, comm = handles",
              "    for number in range(first, stop):",
              "        start = number * batch_size"]
    if exact:
        lines += ["        stats[:] = 0.0",
                  "        for part in range(mine_first, mine_stop):",
                  "            s = start + bounds[part]",
                  "            rows = bounds[part + 1] - bounds[part]"]
        seed, out, indent = "seeds[number - first, part - mine_first]", "gathered[part]", "            "
    else:
        lines += ["        s = start + share_first",
                  "        rows = rows0"]
        seed, out, indent = "seeds[number - first, 0]", "flat", "        "
    lines += [f"{indent}loss = 0.0", f"{indent}right = 0"]
    if seeded:
        lines.append(f"{indent}np.random.seed({seed})")
    for v in range(variants):
        lines.append(f"{indent}{'if' if v == 0 else 'elif'} rows == rows{v}:")
        lines += [f"{indent}    gather_rows(data{i}, order, s, buffer{v}_{i})" for i in range(inputs)]
        lines.append(f"{indent}    loss = np.float64(gradient_step(*arguments{v})[0])")
        lines.append(f"{indent}    right = count_correct(prediction{v}, label{v})" if counted
                     else f"{indent}    right = 0")
        lines.append(f"{indent}    scale_into(gradients{v}, np.{float_type}(rows / batch_size), {out})")
    if exact:
        lines += [f"{indent}stats[part, 0] = loss * rows",
                  f"{indent}stats[part, 1] = right"]
        if collective:
            lines += ["        code = allgatherv(in_place, 0, values, gathered.ctypes.data, counts.ctypes.data,",
                      "                          displacements.ctypes.data, values, comm)",
                      "        if code == 0:",
                      "            code = allreduce(in_place, stats.ctypes.data, stats.size, doubles, add, comm)",
                      "        if code != 0:",
                      "            return code, loss_sum, correct"]
        lines += ["        add_parts(gathered, flat)",
                  "        update_step(*update_arguments)",
                  "        step_loss = 0.0",
                  "        for part in range(stats.shape[0]):",
                  "            step_loss += stats[part, 0]",
                  "            correct += int(stats[part, 1])",
                  "        loss_sum = loss_sum + step_loss"]
    else:
        lines += ["        loss_sum = loss_sum + loss * rows",
                  "        correct += right"]
        if collective:
            lines += ["        code = allreduce(in_place, flat.ctypes.data, flat.size, values, add, comm)",
                      "        if code != 0:",
                      "            return code, loss_sum, correct"]
        lines.append("        update_step(*update_arguments)")
    lines.append("    return 0, loss_sum, correct")
    return "\n".join(lines) + "\n"


def load(text: str) -> cache.GeneratedModule:
    """The module of `text` (`source`), from the compile cache; its `run_steps` compiles on its first call there,
    once per machine, when the programs it calls and MPI's symbols are registered."""
    return cache.load("staticnet_steps", text)
