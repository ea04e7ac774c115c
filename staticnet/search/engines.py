"""Where a search's trials run: in this process, on worker processes of this machine, or on a Dask cluster.

Each engine takes the data once (a worker process gets it when it starts; a Dask cluster has it scattered
to every worker) and then only TrialTasks, and yields each trial's outcome as it finishes, in whatever
order they finish.  A trial whose worker dies is an outcome too, with status "killed": the search goes
on, and a later run of the same search continues it from its last checkpoint.  Inline and on the local
pool, each epoch's checkpoint reaches the coordinator's `store_checkpoint(task, epochs, bytes)` as the
trial saves it, and the trial goes on once it is stored; a Dask trial has no channel back before it ends,
so its last checkpoint comes with its outcome, and one killed mid-way starts again from its first epoch
(or its last rung's checkpoint).

The local pool is processes started with the spawn method (a forked child would share the parent's
Numba and OpenBLAS state, and compile caches shared between forked processes have crashed), each running
one trial at a time on one thread.  It is written here on multiprocessing rather than taken from
concurrent.futures: when a ProcessPoolExecutor's worker dies, the executor marks itself broken, fails
every trial in flight without saying which one was in the dead worker, and must be rebuilt; this pool
knows which trial each process holds, records only that one as killed, and starts one process in its
place.  It is also the default whether or not Dask is installed (a LocalCluster would add a scheduler
and a nanny per worker on the same cores, and make results depend on an optional package).
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import re
import signal
import sys
import threading
import uuid
from collections import deque
from concurrent.futures import CancelledError
from multiprocessing.connection import wait

from ..errors import MissingDependency, SearchError
from .trial import ArrayData, TrialTask, remove_scratch, run_trial

DISTRIBUTED_MISSING = "running trials on Dask needs dask.distributed: pip install 'staticnet[distributed]'"
SCHEDULER_ADDRESS = re.compile(r"([a-z]+://)?[\w.\-\[\]:]+:\d+\Z")
CONNECT_TIMEOUT = "10s"  # to reach a scheduler given by address before the search is refused
STOP_GRACE_SECONDS = 5.0  # a worker told to stop is terminated after this long
READY = "ready"  # what a worker process sends first, once it runs _worker_main
CHECKPOINT = "checkpoint"  # a worker's message (CHECKPOINT, epochs, bytes): its trial's checkpoint, to store
STORED = "stored"  # the coordinator's answer, once the checkpoint is stored: the trial goes on
UNGUARDED_MAIN_EXIT = 78  # a worker's exit code when the main script runs its search unguarded (EX_CONFIG)


def killed(task: TrialTask, error: str) -> dict:
    """The outcome of a trial whose worker died under it."""
    record = {"trial": task.name, "index": task.index, "params": task.params, "seed": task.seed,
              "status": "killed", "error": error, "worker": None, "compile_seconds": None, "seconds": None,
              "epochs_target": task.epochs}
    return {"record": record, "model": None, "checkpoint": None}


class Inline:
    """Every trial in the calling process, one after another (for debugging: breakpoints work)."""

    description = "in this process"

    def __init__(self, data):
        self.data = data

    def check(self, task: TrialTask) -> None:
        """Nothing to check: the task never leaves this process."""

    def run(self, tasks, store_checkpoint):
        for task in tasks:
            yield run_trial(task, self.data, lambda epochs, state, task=task: store_checkpoint(task, epochs, state))

    def close(self):
        pass


def refuse_unguarded_main(executor) -> None:
    """Called first by run() and halving(): in a process that spawn is still starting, a local search means
    the script runs its search at its top level, which every worker process re-runs as it imports the script.
    Such a worker exits at once with UNGUARDED_MAIN_EXIT, and the coordinator raises the error naming the guard
    (multiprocessing itself would raise in the worker while the coordinator blocked writing the data to it)."""
    if executor in (None, "local") and getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SystemExit(UNGUARDED_MAIN_EXIT)  # the flag multiprocessing's own check reads


def _exit_with_parent() -> None:
    """A worker whose coordinator is gone (killed) has no one to send its trial to: it removes its scratch
    directories and exits at once, without the BrokenPipeError it would otherwise print at the trial's end."""
    wait([multiprocessing.parent_process().sentinel])
    remove_scratch(os.getpid())
    os._exit(0)


def _worker_main(connection):
    """A local worker process: take the data, then receive a task and send back its outcome, until told to
    stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle: a trial must not
    #                                               save the weights of a fit it interrupted
    os.environ["STATICNET_NUM_THREADS"] = os.environ["NUMBA_NUM_THREADS"] = "1"  # before Numba is imported
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        connection.send(READY)
        data = connection.recv()
        while True:
            task = connection.recv()
            if task is None:
                return
            connection.send(run_trial(task, data, lambda epochs, state: _hand_checkpoint(connection, epochs, state)))
    except (EOFError, OSError):  # the coordinator is gone
        return


def _hand_checkpoint(connection, epochs: int, state: bytes) -> None:
    """Send the coordinator the trial's checkpoint and wait until it is stored, so that a kill at any moment
    after this returns loses no more than the epoch under way."""
    connection.send((CHECKPOINT, epochs, state))
    if connection.recv() != STORED:
        raise OSError("the coordinator did not store the checkpoint")


class _Worker:
    """A worker process and the pipe to it.  The data goes down the pipe once the process runs, not with the
    process's arguments: spawn writes those while the process imports the main module, and a process that
    dies there would leave that write blocked for good."""

    def __init__(self, context, number: int):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True,
                                       name=f"staticnet-search-worker-{number}")
        self.process.start()
        child.close()
        self.task: TrialTask | None = None

    def give(self, data) -> None:
        """Send the data once the process says it runs; SearchError if it died before."""
        try:
            wait([self.connection, self.process.sentinel])
            if self.connection.recv() != READY:
                raise OSError("not a staticnet worker")
            self.connection.send(data)
        except (EOFError, OSError):
            self.process.join()
            self.connection.close()
            remove_scratch(self.process.pid)
            if self.process.exitcode == UNGUARDED_MAIN_EXIT:
                main = getattr(sys.modules.get("__main__"), "__file__", None) or "the main script"
                raise SearchError(f"{main} runs a search on the local pool at its top level, and each worker process "
                                  "runs that top level again as it starts (processes are spawned): put the search "
                                  'under `if __name__ == "__main__":` (or pass executor=\'inline\')') from None
            raise SearchError(f"a local worker process (pid {self.process.pid}) {_exit_description(self.process)} "
                              "while starting, before it took any trial") from None


def _exit_description(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class LocalPool:
    """Trials on `workers` processes of this machine (see the module's docstring for why these).  The
    processes outlive one run() (successive halving runs one per rung) and stop at close()."""

    def __init__(self, workers: int, data):
        self.workers, self.data = workers, data
        self.description = f"on {workers} local worker process{'es' if workers > 1 else ''}"
        self.context = multiprocessing.get_context("spawn")
        self.started = 0
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []

    def check(self, task: TrialTask) -> None:
        """A task reaches the worker processes pickled, its build function by name."""
        function = getattr(task.builder, "function", None)
        main = sys.modules.get("__main__")
        if function is not None and function.__module__ == "__main__" and not getattr(main, "__file__", None):
            raise SearchError("build was defined in an interactive session, where the local worker processes cannot "
                              "import it: put it in a file, or pass executor='inline'")
        try:
            pickle.dumps(task)
        except Exception as e:
            raise SearchError(f"the local pool sends each trial to its processes pickled, and this one cannot be "
                              f"({type(e).__name__}: {e}): define build at the top level of a module, or pass "
                              "executor='inline'") from None

    def _start(self, count: int = 1) -> list[_Worker]:
        """`count` new workers, holding the data (all started before any is sent it, so they start side by
        side)."""
        workers = []
        for _ in range(count):
            self.started += 1
            workers.append(_Worker(self.context, self.started))
        try:
            for worker in workers:
                worker.give(self.data)
        except BaseException:
            for worker in workers:
                worker.process.kill()
                worker.process.join()
                worker.connection.close()
            raise
        return workers

    def _dispatch(self, pending: deque) -> None:
        """Give each idle worker a task; one that died while idle is replaced, and its task given again."""
        while self.idle and pending:
            worker = self.idle.pop()
            try:
                worker.connection.send(pending[0])
            except OSError:
                self._reap(worker)
                self.idle += self._start()
                continue
            worker.task = pending.popleft()
            self.busy.append(worker)

    @staticmethod
    def _receive(worker: _Worker):
        """The message a worker sent (an outcome, or a checkpoint), or None if it died first (or while sending)."""
        if worker.connection.poll():
            try:
                return worker.connection.recv()
            except (EOFError, OSError):
                pass
        return None

    @staticmethod
    def _reap(worker: _Worker) -> None:
        """Wait for a dead worker and remove the scratch directories it could not."""
        worker.process.join()
        worker.connection.close()
        remove_scratch(worker.process.pid)

    def run(self, tasks, store_checkpoint):
        pending = deque(tasks)
        self.idle += self._start(max(0, min(self.workers, len(pending)) - len(self.idle)))
        while pending or self.busy:
            self._dispatch(pending)
            ready = set(wait([w.connection for w in self.busy] + [w.process.sentinel for w in self.busy]))
            for worker in [w for w in self.busy if w.connection in ready or w.process.sentinel in ready]:
                message = self._receive(worker)
                if isinstance(message, tuple) and message[0] == CHECKPOINT:
                    store_checkpoint(worker.task, *message[1:])
                    try:
                        worker.connection.send(STORED)
                    except OSError:  # it died meanwhile: its sentinel says so next
                        pass
                    continue
                self.busy.remove(worker)
                if message is not None:
                    self.idle.append(worker)
                    yield message
                    continue
                self._reap(worker)
                yield killed(worker.task, f"its worker process (pid {worker.process.pid}) "
                                          f"{_exit_description(worker.process)} during the trial")
                if pending:
                    self.idle += self._start()

    def close(self) -> None:
        """Idle workers are told to stop; busy ones (there are some only after an interruption) are terminated."""
        for worker in self.idle:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in self.busy:
            worker.process.terminate()
        for worker in self.idle + self.busy:
            worker.process.join(STOP_GRACE_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
            remove_scratch(worker.process.pid)  # a model file's copy, or a terminated trial's directory
        self.idle, self.busy = [], []


_one_trial_at_a_time = threading.Lock()


def _trial_on_dask(task: TrialTask, data) -> dict:
    """run_trial, one at a time per worker process: a Dask worker with several threads would otherwise run
    trials side by side in one process, where Numba's compiler is not thread-safe and the one-thread
    setting of a trial is the process's.  Start workers with `--nthreads 1` and one per core instead."""
    with _one_trial_at_a_time:
        return run_trial(task, data)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise MissingDependency(DISTRIBUTED_MISSING) from None
    return distributed


class Dask:
    """Trials as tasks on a Dask cluster.  The data is scattered to every worker once (MNIST is not sent:
    each worker loads its own); a worker that dies has its trial rerun elsewhere by the scheduler, up to
    its allowed-failures setting, after which the trial is recorded as killed."""

    def __init__(self, executor, data):
        distributed = _distributed()
        self.own_client = not isinstance(executor, distributed.Client)
        if self.own_client:
            try:
                self.client = distributed.Client(executor, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as e:
                raise SearchError(f"cannot reach the Dask scheduler at {executor}: {e}") from None
        else:
            self.client = executor
        self.data, self.scattered = data, None
        workers = len(self.client.nthreads())
        if not workers:
            self.close()
            raise SearchError(f"the Dask scheduler at {self.client.scheduler.address} has no workers")
        self.description = f"on the Dask scheduler at {self.client.scheduler.address} ({workers} workers)"

    def check(self, task: TrialTask) -> None:
        """Nothing to check here: Dask's cloudpickle sends functions by value where it must."""

    def run(self, tasks, store_checkpoint):
        """store_checkpoint is not called: each outcome brings its trial's last checkpoint (the module's
        docstring says why)."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker
        if self.scattered is None:  # once for the whole search, successive halving's rungs included; under a key
            # of its own (hash=False): under the key of the data's hash, a search run again right after one whose
            # workers died scattered it while the first one's cancel of that key was still on its way, and the
            # scheduler dropped the new copy ("Could not find data"; its trials were recorded as killed again)
            self.scattered = (self.client.scatter([self.data], broadcast=True, hash=False)[0]
                              if isinstance(self.data, ArrayData) else self.data)
        data = self.scattered
        token = uuid.uuid4().hex[:8]
        futures = {}
        for task in tasks:
            future = self.client.submit(_trial_on_dask, task, data, key=f"staticnet-{task.name}-{token}", pure=False)
            futures[future.key] = (future, task)
        try:
            for future in as_completed([f for f, _ in futures.values()]):
                task = futures.pop(future.key)[1]
                try:
                    outcome = future.result()
                except KilledWorker as e:
                    outcome = killed(task, f"KilledWorker: {e}")
                except CancelledError as e:
                    outcome = killed(task, self._lost(e))
                except Exception as e:  # the task could not run at all (it could not be unpickled on the worker)
                    outcome = killed(task, f"{type(e).__name__}: {e}")
                future.release()
                yield outcome
        finally:
            if futures:
                self.client.cancel([f for f, _ in futures.values()])

    def _lost(self, error) -> str:
        """Why the scheduler dropped a trial.  When every worker holding the scattered data has died, the data
        is gone and the scheduler forgets the trials that need it: say so (the next run scatters it again)."""
        if self.scattered is not None and self.scattered is not self.data and self.scattered.status != "finished":
            self.client.cancel([self.scattered])
            self.scattered = None
        if self.scattered is None and isinstance(self.data, ArrayData):
            return ("lost: every Dask worker holding the search's data died, and the scheduler dropped the trials "
                    "that needed it; run the same search again to train it")
        return f"lost: the Dask scheduler dropped it ({getattr(error, 'reason', None) or error})"

    def close(self):
        if self.scattered is not None and self.scattered is not self.data:
            self.client.cancel([self.scattered])
        if self.own_client:
            self.client.close()


def engine_for(executor, workers: int | None, data):
    """The engine an `executor` names: "local" (the default), "inline", a scheduler address, or a Client."""
    if executor is None or executor == "local":
        return LocalPool(workers or os.cpu_count() or 1, data)
    if executor == "inline":
        return Inline(data)
    if isinstance(executor, str) and SCHEDULER_ADDRESS.match(executor):
        return Dask(executor, data)
    if type(executor).__module__.startswith("distributed"):
        return Dask(executor, data)
    raise SearchError(f"executor must be 'local', 'inline', a Dask scheduler address such as tcp://host:8786 or a "
                      f"dask.distributed.Client, got {executor!r}")

