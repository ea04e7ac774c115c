"""One trial of a search, as a worker runs it: build the model for a configuration, train it, score it.

This is the only code that runs on the workers (local processes, Dask workers, or the calling process),
so everything it needs travels in a TrialTask (a few hundred bytes: the parameters, the seed, the
builder, and the checkpoint it continues from, if any) plus the data, which each engine moves to a worker
once.  Whatever a trial raises becomes a failed result with its error; only KeyboardInterrupt gets through.

After every epoch whose weights are finite a trial hands the coordinator its checkpoint (fit's, the last
epoch's state with early stopping's), through the engine's `store_checkpoint` where it has one (inline: a
call; the local pool: a message on the worker's pipe, answered once the directory holds it); on Dask the
last one comes back with the outcome.  A trial stopped anywhere (Ctrl-C, a killed worker, a killed
session) continues from the last stored one on the next run, with fit(resume=...), which repeats an
uninterrupted run bit for bit; successive halving continues its survivors the same way.

A trial trains exactly as `staticnet train` does: sn.seed(seed), then build(**params), then fit with
seed=seed, all on one thread, so the same command with the same parameters and seed gives the same bits.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import inspect
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

from ..callbacks import ModelCheckpoint
from ..durable import process_exists

SCRATCH_PREFIX = "staticnet-trial-"  # + pid-host-: the temporary directories a worker process makes
TRAINING_OPTIONS = ("lr", "batch_size", "epochs")  # searched names that go to training when build() lacks them
DEFAULT_EPOCHS = DEFAULT_BATCH_SIZE = 10  # as for `staticnet train` when neither the search nor build() sets them


class FunctionBuilder:
    """build(**params) as a Python function: pickled by reference for local processes (define it at
    module level), by value where Dask's cloudpickle must."""

    def __init__(self, function):
        self.function = function
        self.path = inspect.getsourcefile(function) or "<build>"

    def signature(self) -> inspect.Signature:
        return inspect.signature(self.function)

    def fingerprint(self) -> str:
        """The function's name and source: what a change to the model is seen by."""
        try:
            source = inspect.getsource(self.function)
        except (OSError, TypeError):  # defined where no source is kept (an interactive session)
            code = self.function.__code__
            source = repr((code.co_code, code.co_consts, code.co_names))
        return f"{self.function.__module__}.{self.function.__qualname__}\n{source}"

    def spec(self, params: dict, seed: int) -> dict:
        from .. import model_file
        from ..init import seed as set_seed
        set_seed(seed)
        return model_file.finished_spec(model_file.built_spec(self.path, self.function, params), self.path)

    def describe(self) -> str:
        return f"{self.function.__qualname__}() in {self.path}"


class ModelFileBuilder:
    """A model file (as `staticnet train` takes) whose build() takes the parameters; its text travels with
    the task, so a worker on another machine runs the same file."""

    def __init__(self, path: str):
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.source = f.read()
        self._local: str | None = None

    def __getstate__(self):
        return {"path": self.path, "source": self.source, "_local": None}

    def namespace(self) -> dict:
        """The file's module-level names (running its top level once, as `staticnet train` does)."""
        import runpy
        from .. import model_file
        return model_file.run_user_code(self.path, runpy.run_path, self.path, None, "__staticnet_model__")

    def signature(self) -> inspect.Signature | None:
        build = self.namespace().get("build")
        return inspect.signature(build) if callable(build) else None

    def fingerprint(self) -> str:
        return f"model file {os.path.basename(self.path)}\n{self.source}"

    def local_path(self) -> str:
        """The file itself where this machine has it unchanged, else a copy of the text the search started with."""
        if self._local is None:
            here = None
            if os.path.isfile(self.path):
                with open(self.path, encoding="utf-8") as f:
                    here = f.read()
            if here == self.source:
                self._local = self.path
            else:
                copy = os.path.join(scratch_directory(), os.path.basename(self.path))
                with open(copy, "w", encoding="utf-8") as f:
                    f.write(self.source)
                self._local = copy
        return self._local

    def spec(self, params: dict, seed: int) -> dict:
        from .. import model_file
        return model_file.load_model_file(self.local_path(), seed=seed, params=params)

    def describe(self) -> str:
        return f"build() of {self.path}"


class ArrayData:
    """Training and validation arrays given by the caller: dicts keyed by input name."""

    def __init__(self, train: dict, validation: dict | None):
        self.train, self.validation = train, validation

    def arrays(self):
        return self.train, self.validation

    def has_validation(self) -> bool:
        return self.validation is not None

    def fingerprint(self) -> str:
        import numpy as np
        digest = hashlib.sha256()
        for part, arrays in (("train", self.train), ("validation", self.validation or {})):
            for name in sorted(arrays):
                array = np.ascontiguousarray(arrays[name])
                digest.update(f"{part}/{name} {array.dtype} {array.shape}".encode())
                digest.update(array.data)
        return digest.hexdigest()


_mnist_loaded: dict = {}  # (path, flatten) -> (train, validation), once per worker process


class MnistData:
    """MNIST's 50,000 training and 10,000 validation images, which each worker loads from its own
    $STATICNET_DATA (or the download cache), once per process: nothing is sent to it."""

    def __init__(self, path: str | None = None, flatten: bool = True):
        self.path, self.flatten = path, flatten

    def arrays(self):
        key = (self.path, self.flatten)
        if key not in _mnist_loaded:
            from .. import data
            train, validation, _ = data.mnist(self.path, flatten=self.flatten)
            _mnist_loaded[key] = (train, validation)
        return _mnist_loaded[key]

    def has_validation(self) -> bool:
        return True

    def fingerprint(self) -> str:
        return f"mnist flatten={self.flatten}"


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run one trial, the data apart."""
    index: int
    name: str  # trial-003: its files in the search directory
    params: dict  # the configuration, as the space gave it
    build_params: dict  # the part of it build() takes
    lr: float | None  # a searched learning rate that build() does not take
    epochs: int | None  # to train (a searched value or the search's); None: build()'s, or 10
    batch_size: int | None  # likewise
    seed: int
    builder: object  # FunctionBuilder or ModelFileBuilder
    monitor: str | None  # None: val_accuracy where the model has accuracy, else val_loss (without validation data:
    #                      accuracy, else loss)
    patience: int | None  # epochs without improvement before stopping; None: train every epoch
    resume: bytes | None = None  # the stored checkpoint to continue from (a stopped trial's, or the last rung's)


def scratch_directory() -> str:
    """A new temporary directory named after this process and host, so that remove_scratch can tell, once
    the process is gone, that no one uses it."""
    return tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-{socket.gethostname()}-")


def remove_scratch(pid: int | None = None) -> None:
    """Remove the scratch directories this host's process `pid` made, or (None) those of every process of
    this host that no longer exists: a worker killed during a trial cannot remove its own.  The local pool
    calls it for each worker it reaps, and each trial for the workers (Dask's, say) that died before it."""
    host = socket.gethostname()
    named = re.compile(rf"{re.escape(SCRATCH_PREFIX)}(\d+)-{re.escape(host)}-[^-]+\Z")
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{SCRATCH_PREFIX}*-{glob.escape(host)}-*")):
        found = named.match(os.path.basename(path))
        if found and (int(found[1]) == pid if pid is not None else not process_exists(int(found[1]))):
            shutil.rmtree(path, ignore_errors=True)


def worker_name() -> str:
    """The Dask worker's address where a Dask worker runs the trial, else host:pid."""
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker
            return get_worker().address
        except ValueError:  # not inside a Dask task
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def one_thread():
    """Run the trial's compiled code as one thread: a search gets its parallelism from running trials side
    by side, each on a core.  The bits do not depend on it (work is cut by the shapes alone,
    docs/architecture.md): a trial trains the same weights here, in a worker and in `staticnet train`."""
    previous = os.environ.get("STATICNET_NUM_THREADS")
    os.environ["STATICNET_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["STATICNET_NUM_THREADS"]
        else:
            os.environ["STATICNET_NUM_THREADS"] = previous


def default_monitor(model, has_validation: bool) -> str:
    score = "accuracy" if "accuracy" in model.metrics else "loss"
    return f"val_{score}" if has_validation else score


def _error_text(error: BaseException) -> str:
    from ..errors import ModelFileError
    from ..errors import NumericalError
    if isinstance(error, NumericalError):
        return f"diverged: {error}"
    if isinstance(error, ModelFileError):  # it names the file, the line and the user's exception already
        return str(error)
    return f"{type(error).__name__}: {error}"


def run_trial(task: TrialTask, data, store_checkpoint=None) -> dict:
    """Train one configuration: {"record": the result file's contents, "model": the .snet bytes of the
    best epoch's weights or None, "checkpoint": None, or (epochs, bytes) of the last epoch's state where
    there is no `store_checkpoint(epochs, bytes)` to hand each epoch's to as it is saved}.

    A failure is the trial's result, which a re-run of the search keeps (the same code, parameters and seed
    fail the same way again), unless it came from the machine rather than the trial: a MemoryError or an
    OSError (memory or disk full, a file missing), marked "transient", is tried again, as a killed trial is."""
    started = time.perf_counter()
    record = {"trial": task.name, "index": task.index, "params": task.params, "seed": task.seed,
              "status": "ok", "worker": worker_name(), "error": None, "compile_seconds": None,
              "epochs_target": task.epochs, "resumed_from_epoch": None}  # epochs_target: build() may decide it
    outcome = {"record": record, "model": None, "checkpoint": None}
    from .. import threads
    threads.apply_once()  # the process's own thread count, before one_thread() narrows the trial's
    remove_scratch()
    scratch = scratch_directory()
    try:
        with one_thread():
            _train(task, data, record, outcome, scratch, store_checkpoint)
    except KeyboardInterrupt:
        raise
    except SystemExit as error:  # sys.exit() in build(): under the inline executor it would end the caller
        record.update(status="failed", error=_exit_text(error))
    except Exception as error:
        from ..errors import ModelFileError
        from ..errors import DataError, GraphError, NumericalError
        record.update(status="failed", error=_error_text(error))
        if _is_transient(error):
            record["transient"] = True
        if not isinstance(error, (ModelFileError, DataError, GraphError, NumericalError)):
            record["traceback"] = "".join(traceback.format_exception(error))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record["seconds"] = time.perf_counter() - started
    return outcome


def _is_transient(error: BaseException) -> bool:
    """Whether the machine, not the trial, failed: a MemoryError or OSError, raised or wrapped (a model file's
    error keeps the user's exception as its context)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (MemoryError, OSError)):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _exit_text(error: SystemExit) -> str:
    """Where the trial called sys.exit (the innermost frame: sys.exit itself has none) and with what."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return (f"{frame.filename}:{frame.lineno}: SystemExit: sys.exit({error.code!r}) was called during the trial "
            "(a trial cannot end the search's process)")


def _train(task: TrialTask, data, record: dict, outcome: dict, scratch: str, store_checkpoint) -> None:
    import math

    from .. import model_file
    from ..callbacks import EarlyStopping
    from ..errors import NumericalError
    spec = task.builder.spec(task.build_params, task.seed)
    for key in ("data", "flatten"):
        if key in spec and isinstance(task.builder, FunctionBuilder):
            raise model_file.ModelFileError(f"{task.builder.path}: build() returned `{key}`: a search's data is given "
                                     "to sn.search.run, once, not by build()")
    optimizer, _ = model_file.chosen_optimizer(spec, None, task.lr)
    epochs = task.epochs or spec.get("epochs", DEFAULT_EPOCHS)
    batch_size = task.batch_size or spec.get("batch_size", DEFAULT_BATCH_SIZE)
    record.update(epochs_target=int(epochs), batch_size=int(batch_size), lr=float(optimizer.lr))
    model = model_file.model_from_spec(spec, optimizer, task.builder.path)
    train, validation = data.arrays()
    seconds, cached = _warm_up(model, batch_size, validation)
    record.update(compile_seconds=model.compile_seconds + seconds, compile_cached=bool(model.from_cache and cached))
    monitor = task.monitor or default_monitor(model, validation is not None)
    record["monitor"] = monitor
    stopping = EarlyStopping(task.patience or epochs, monitor)  # without patience it only keeps the best epoch
    resume = None
    if task.resume is not None:
        resume = os.path.join(scratch, "resume.snet")
        with open(resume, "wb") as f:
            f.write(task.resume)

    def keep_last(epochs_done: int, state: bytes) -> None:
        outcome["checkpoint"] = (epochs_done, state)

    handed = HandedCheckpoint(os.path.join(scratch, "checkpoint.snet"), store_checkpoint or keep_last)
    try:
        history = model.fit(train, epochs=epochs, batch_size=batch_size, validation=validation, seed=task.seed,
                            verbose=0, callbacks=[stopping, handed], resume=resume)
    finally:
        record["history"] = [dict(e) for e in model.history.epochs]
    if resume is not None:
        record["resumed_from_epoch"] = handed.first_epoch
    if history.interrupted:
        raise KeyboardInterrupt
    record.update(epochs=model.epochs_done, best_epoch=stopping.best_epoch, stopped_early=history.stopped_early_at
                  is not None)
    best = stopping.best_value if stopping.best_epoch is not None else math.nan
    record["best_value"] = best
    if not math.isfinite(best):
        raise NumericalError(f"{monitor} was {best} at its best epoch")
    best_model = os.path.join(scratch, "best.snet")
    model.save(best_model)
    with open(best_model, "rb") as f:
        outcome["model"] = f.read()


def _warm_up(model, batch_size: int, validation) -> tuple[float, bool]:
    """Compile the loops fit will run, at the batch sizes it will run them at (Model.fit_loops), so that
    compile_seconds holds all of it."""
    rows = None if validation is None else len(next(iter(validation.values())))
    loops = model.fit_loops(batch_size, rows)
    return model.warm_up(batch_size, loops=tuple(loops), eval_batch=loops.get("eval"))


class HandedCheckpoint(ModelCheckpoint):
    """fit's checkpoint (the last epoch's weights, optimizer and early stopping state, saved after every epoch
    whose weights are finite), handed on after each save to `hand(epochs done, the file's bytes)`.
    first_epoch: the epoch fit started from (a resumed checkpoint's)."""

    def __init__(self, path: str, hand):
        super().__init__(path)
        self.hand = hand
        self.first_epoch: int | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.first_epoch = self.model.epochs_done

    def on_epoch_end(self, epoch, logs=None):
        before = _file_identity(self.path)
        super().on_epoch_end(epoch, logs)
        if _file_identity(self.path) != before:  # saved (a save replaces the file: a new inode)
            with open(self.path, "rb") as f:
                self.hand(epoch + 1, f.read())


def _file_identity(path: str):
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns
