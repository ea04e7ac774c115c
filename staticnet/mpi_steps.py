"""Distributed training's steps in one compiled loop: MPI's C functions called from compiled code.

A distributed step is the gradient program on this rank's rows, a collective of the gradients, then the update
program. Made from Python, each step returned to Python between those calls, which cost 9-13% of a step on one
rank (docs/benchmarks.md, "Data-parallel training on MPI", its second table). Here one compiled function runs a
run of steps: it gathers the rows, seeds the dropout masks, calls the two programs' compiled steps (Numba
dispatchers) and calls MPI_Allreduce or MPI_Allgatherv through ctypes prototypes of the MPI library that mpi4py
loaded, with the handles mpi4py gives (pointers in Open MPI, ints in MPICH).

The loop does in each step what distributed.DataParallel's Python step does, in the same order and precision,
so the two give the same bits; the Python step remains for what the loop does not cover (the last, shorter
batch of an epoch, a rank with no rows in a batch, local SGD).  Both may serve one job, one rank in one and
another in the other: they make the same collectives in the same order.  The loop's text is made per model from
its shape (how many inputs and row counts, masks, an accuracy, the float type); it holds only names of its own.
"""
from __future__ import annotations

import ctypes

import numpy as np
from numba import njit

from .kernels.shuffle import gather_rows


class MpiFunctions:
    """MPI_Allreduce and MPI_Allgatherv as compiled code calls them, and the handles they take."""

    def __init__(self, comm, dtype):
        from mpi4py import MPI
        library = ctypes.CDLL(MPI.__file__)  # an object of our own: the prototypes below are set on its functions

        def handle(kind):  # Open MPI's handles are pointers, MPICH's ints
            return ctypes.c_int if MPI._sizeof(kind) == ctypes.sizeof(ctypes.c_int) else ctypes.c_ssize_t
        address, count = ctypes.c_ssize_t, ctypes.c_int
        datatype, operation, communicator = handle(MPI.Datatype), handle(MPI.Op), handle(MPI.Comm)
        self.allreduce = library.MPI_Allreduce
        self.allreduce.argtypes = [address, address, count, datatype, operation, communicator]
        self.allgatherv = library.MPI_Allgatherv
        self.allgatherv.argtypes = [address, count, datatype, address, address, address, datatype, communicator]
        for function in (self.allreduce, self.allgatherv):
            function.restype = ctypes.c_int
        # MPI_IN_PLACE is an address constant ((void *) 1 in Open MPI, -1 in MPICH)
        self.handles = (ctypes.c_ssize_t(int(MPI.IN_PLACE)).value,
                        MPI._handleof(MPI.FLOAT if np.dtype(dtype) == np.float32 else MPI.DOUBLE),
                        MPI._handleof(MPI.DOUBLE), MPI._handleof(MPI.SUM), MPI._handleof(comm))


@njit(cache=True, nogil=True, error_model="numpy")
def scale_into(gradients, weight, out):
    """out = the gradients one after another, each times `weight` (of their float type)."""
    at = 0
    for g in gradients:
        for i in range(g.size):
            out[at + i] = g[i] * weight
        at += g.size


@njit(cache=True, nogil=True, error_model="numpy")
def add_parts(gathered, out):
    """out = gathered[0] + gathered[1] + ..., added in part order (NumPy's copyto, then += of each part)."""
    for i in range(out.size):
        out[i] = gathered[0, i]
    for part in range(1, gathered.shape[0]):
        for i in range(out.size):
            out[i] = out[i] + gathered[part, i]


NO_HANDLES = (0, 0, 0, 0, 0)  # the handles argument of a loop made without collectives (one rank), not read


def source(inputs: int, variants: int, seeded: bool, counted: bool, exact: bool, float_type: str,
           collective: bool = True) -> str:
    """The text of `run_steps` for a model of `inputs` data arrays whose steps run on `variants` row counts;
    without `collective` (one rank, as fit(mode="exact") runs on its own) it calls no MPI function.

    run_steps(first, stop, ...) runs the steps numbered first .. stop - 1 of an epoch, each on a whole batch of
    batch_size rows, and returns (MPI's error code, 0 if none; the loss sum and count correct carried on from the
    ones given, as the Python step adds them)."""
    head = ["first", "stop", "batch_size", "order", "seeds", "loss_sum", "correct"]
    head += [f"data{i}" for i in range(inputs)]
    for v in range(variants):
        head += [f"rows{v}", f"arguments{v}", f"gradients{v}", f"prediction{v}", f"label{v}"]
        head += [f"buffer{v}_{i}" for i in range(inputs)]
    head += ["flat", "update_arguments", "handles"]
    head += ["bounds", "mine_first", "mine_stop", "gathered", "stats", "counts", "displacements"] if exact \
        else ["share_first"]
    lines = [f"def run_steps({', '.join(head)}):",
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


def compile_steps(text: str, gradient_step, update_step, count_correct, mpi: MpiFunctions | None):
    """run_steps compiled from `text`, calling these compiled steps, accuracy kernel and MPI functions (None:
    a text made without collectives)."""
    namespace = {"np": np, "gather_rows": gather_rows, "scale_into": scale_into, "add_parts": add_parts,
                 "gradient_step": gradient_step, "update_step": update_step, "count_correct": count_correct}
    if mpi is not None:
        namespace.update(allreduce=mpi.allreduce, allgatherv=mpi.allgatherv)
    exec(compile(text, "<staticnet distributed steps>", "exec"), namespace)  # noqa: S102 - our own text
    return njit(nogil=True, error_model="numpy")(namespace["run_steps"])
