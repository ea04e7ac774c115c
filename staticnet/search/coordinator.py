"""The search itself: check everything, find what the directory already holds, train the rest, keep score.

Everything that can be wrong with a search (the space, the names build() takes, the options, the data, the
directory) is refused with a SearchError before any trial starts; what a trial does wrong is its own
failed result.  The coordinator alone writes into the directory, from the outcomes the workers send back,
so workers on other machines need no shared filesystem (only the compile cache gains from one).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
import sys
import tempfile

import numpy as np

from ..callbacks import Monitor
from ..errors import SearchError
from .engines import engine_for, refuse_unguarded_main
from .result import SearchResult, first_line, shown_value
from .space import Space, trial_seed
from .store import SearchDirectory, digest
from .trial import TRAINING_OPTIONS, ArrayData, FunctionBuilder, MnistData, ModelFileBuilder, TrialTask

SCORES = ("loss", "accuracy", "mse", "mae")  # what a monitor may name, with or without val_


def _refuse(message: str):
    raise SearchError(message)


def _count(name: str, value, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum):
        _refuse(f"{name} must be {'a positive int' if minimum == 1 else f'an int >= {minimum}'}, got {value!r}")
    return int(value)


def _builder(build):
    if isinstance(build, (str, os.PathLike)):
        if not os.path.isfile(build):
            _refuse(f"no such model file: {build}")
        return ModelFileBuilder(os.fspath(build))
    if callable(build):
        return FunctionBuilder(build)
    _refuse(f"build must be a function returning a model file's keys (loss, outputs, optimizer, ...) or the path "
            f"of a model file, got {build!r}")


def _arrays(what: str, data) -> dict:
    if not isinstance(data, dict) or not data:
        _refuse(f"{what} must be a dict of arrays keyed by input name (or 'mnist' for the training data), "
                f"got {type(data).__name__}")
    arrays = {}
    for name, value in data.items():
        try:
            arrays[name] = np.asarray(value)
        except (TypeError, ValueError) as e:
            _refuse(f"{what}[{name!r}] is not an array: {e}")
        if arrays[name].ndim == 0:
            _refuse(f"{what}[{name!r}] is a scalar; give one row per example")
        _refuse_non_finite(what, name, arrays[name])
    rows = {a.shape[0] for a in arrays.values()}
    if len(rows) > 1:
        _refuse(f"{what}: arrays have different numbers of rows: "
                + ", ".join(f"{n} {a.shape[0]}" for n, a in arrays.items()))
    return arrays


def _refuse_non_finite(what: str, name: str, array: np.ndarray) -> None:
    """Data holding NaN or an infinity would fail every trial, each on its own: refused once, here."""
    if array.dtype.kind not in "fc":
        return
    rows = array.reshape(len(array), -1)
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad.size:
        row = int(bad[0])
        value = rows[row][~np.isfinite(rows[row])][0].item()
        _refuse(f"{what}[{name!r}] row {row} holds {value!r}; the data must be finite (every trial would fail on it)")


def _data(train, validation):
    if isinstance(train, MnistData) or (isinstance(train, str) and train == "mnist"):
        if validation is not None:
            _refuse("with MNIST as the training data, the validation data are MNIST's 10,000 held-out images: "
                    "leave validation out")
        source = train if isinstance(train, MnistData) else MnistData()
        from ..data import locate_mnist
        locate_mnist(source.path)  # the files are there (or downloaded) before any worker looks
        return source
    return ArrayData(_arrays("train", train), None if validation is None else _arrays("validation", validation))


def _monitor(monitor, has_validation: bool) -> str | None:
    if monitor is None:
        return None
    if not isinstance(monitor, str) or monitor.removeprefix("val_") not in SCORES:
        _refuse(f"monitor must be one of {', '.join(SCORES)}, or one of them prefixed by val_, got {monitor!r}")
    if monitor.startswith("val_") and not has_validation:
        _refuse(f"monitor={monitor!r} is a validation score: pass validation=... (or monitor "
                f"{monitor.removeprefix('val_')!r})")
    return monitor


def _split_names(builder, space: Space, halving: bool) -> tuple[set[str], bool]:
    """(the names build() takes, whether it takes any name); every name of the space must be one of them or
    a training option, and every parameter build() needs must be in the space."""
    signature = builder.signature()
    parameters = dict(signature.parameters) if signature is not None else {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = {n for n, p in parameters.items() if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                            inspect.Parameter.KEYWORD_ONLY)}
    needed = [n for n in named if parameters[n].default is inspect.Parameter.empty and n not in space.names]
    if needed:
        _refuse(f"{builder.describe()} needs {needed[0]!r}, which the search space does not give")
    strangers = [n for n in space.names if n not in named and not takes_any and n not in TRAINING_OPTIONS]
    if strangers and signature is None:
        _refuse(f"the space's {strangers[0]!r} is not a training option ({', '.join(TRAINING_OPTIONS)}), and "
                f"{builder.path} defines no build() function to take it")
    if strangers:
        takes = f"build() takes {', '.join(sorted(named))}" if named else "build() takes no parameters"
        _refuse(f"the space's {strangers[0]!r} is neither a parameter of build() ({takes}) nor a training option "
                f"({', '.join(TRAINING_OPTIONS)})")
    if halving and "epochs" in space.names and "epochs" not in named:
        _refuse("successive halving decides each trial's epochs: leave epochs out of the space")
    return named, takes_any


def _check_options(space: Space, build_names: set[str], takes_any: bool) -> None:
    """A searched training option must be a value training can use, in every configuration."""
    for params in space:
        for name in TRAINING_OPTIONS:
            if name not in params or name in build_names or takes_any:
                continue
            value = params[name]
            if name == "lr":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    _refuse(f"the space's lr={value!r}: a learning rate must be a number > 0")
            else:
                _count(f"the space's {name}", value)


class Plan:
    """A search checked and laid out: its trials, its data source and its identity."""

    def __init__(self, build, space, train, validation, epochs, batch_size, monitor, patience, seed,
                 rungs: list[int] | None = None, eta: int | None = None):
        if not isinstance(space, Space):
            _refuse(f"space must be sn.search.grid(...) or sn.search.random(...), got {type(space).__name__}")
        self.builder = _builder(build)
        self.space, self.rungs, self.eta = space, rungs, eta
        self.data = _data(train, validation)
        epochs, batch_size = _count("epochs", epochs), _count("batch_size", batch_size)
        patience, seed = _count("patience", patience), _count("seed", seed, minimum=0)
        monitor = _monitor(monitor, self.data.has_validation())
        build_names, takes_any = _split_names(self.builder, space, rungs is not None)
        _check_options(space, build_names, takes_any)
        width = max(3, len(str(len(space) - 1)))
        self.tasks = []
        for index, params in enumerate(space):
            given = {k: v for k, v in params.items() if k in build_names or takes_any}
            options = {k: v for k, v in params.items() if k not in given}
            self.tasks.append(TrialTask(
                index=index, name=f"trial-{index:0{width}d}", params=params, build_params=given,
                lr=options.get("lr"), epochs=options.get("epochs", epochs),
                batch_size=options.get("batch_size", batch_size), seed=trial_seed(seed, params),
                builder=self.builder, monitor=monitor, patience=patience))
        self.identity = {
            "space": {**space.description(), "configurations": space.configurations},
            "build": digest(self.builder.fingerprint()), "data": digest(self.data.fingerprint()), "seed": seed,
            "training": {"epochs": epochs, "batch_size": batch_size, "monitor": monitor, "patience": patience,
                         "halving": None if rungs is None else {"rungs": rungs, "eta": eta}}}

    def stored_epochs(self, task: TrialTask) -> list[int] | None:
        """The epochs a stored result of this task may have been trained to: the task's (each rung's, for
        successive halving), or None when build() decides them (the fingerprint holds its source)."""
        if self.rungs is not None:
            return list(self.rungs)
        return None if task.epochs is None else [task.epochs]

    def command(self, record: dict) -> str | None:
        """The `staticnet train` command that gives a finished trial's saved weights bit for bit."""
        if not isinstance(self.builder, ModelFileBuilder) or record.get("best_epoch") is None:
            return None
        task = self.tasks[record["index"]]
        words = ["STATICNET_NUM_THREADS=1", "staticnet", "train", self.builder.path]
        words += [f"--param {k}={v!r}" if isinstance(v, str) else f"--param {k}={v}"
                  for k, v in task.build_params.items()]
        if task.lr is not None:
            words.append(f"--lr {task.lr}")
        words += [f"--epochs {record['best_epoch']}", f"--batch-size {record['batch_size']}", f"--seed {task.seed}"]
        if isinstance(self.data, MnistData) and self.data.path:
            words.append(f"--data {self.data.path}")
        return " ".join(words)


def _live_line(done: int, total: int, record: dict) -> str:
    params = " ".join(f"{k}={shown_value(v)}" for k, v in record["params"].items())
    head = f"[{done}/{total}] {record['trial']}  {params}  seed {record['seed']}"
    if record["status"] != "ok":
        return f"{head}  {record['status']}: {first_line(record.get('error'), 100)}"
    stopped = ", stopped early" if record.get("stopped_early") else ""
    return (f"{head}  {record['monitor']} {record['best_value']:.4f} at epoch {record['best_epoch']} of "
            f"{record['epochs']}{stopped}  {record['seconds']:.1f} s (compile {record['compile_seconds']:.2f} s)  "
            f"{record['worker']}")


def _finished(record: dict | None, target: int | None) -> bool:
    """Whether a trial needs no more training to reach `target` epochs (None: its own number).  One rule
    for run() and every rung of halving(): a failure is a result and is kept, wherever it happened, build()
    included (the same code, parameters and seed would fail the same way again); a trial killed, or failed
    by the machine (a transient error: memory, disk), trains again from its last checkpoint, unless an
    earlier run's history already reaches the rung's epochs."""
    if record is None:
        return False
    if record["status"] == "killed" or record.get("transient"):
        return target is not None and len(record.get("history") or []) >= target
    return record["status"] == "failed" or target is None or (record.get("epochs_target") or 0) >= target


def _score_at(record: dict | None, epochs: int) -> float | None:
    """A trial's standing after `epochs` epochs (best monitored value so far, signed so that greater is
    better), or None if it failed by then."""
    if record is None or (record["status"] != "ok" and (record.get("epochs_target") or 0) <= epochs):
        return None
    history = record.get("history") or []
    monitor = Monitor(record["monitor"]) if record.get("monitor") else None
    scores = [monitor.score(e) for e in history[:epochs] if e.get(record["monitor"]) is not None] if monitor else []
    if not scores or len(scores) < len(history[:epochs]) or not all(math.isfinite(s) for s in scores):
        return None
    return max(scores)


class Search:
    def __init__(self, plan: Plan, executor, workers, directory, force: bool, verbose: bool):
        if workers is not None:
            _count("workers", workers)
            if executor not in (None, "local"):
                _refuse("workers= sizes the local pool; a Dask cluster has its own workers, and 'inline' runs in "
                        "this process")
        self.plan, self.verbose = plan, verbose
        self.engine = engine_for(executor, workers, plan.data)  # a scheduler that cannot be reached: refused now
        try:
            self.engine.check(plan.tasks[0])
            self.store = SearchDirectory(directory or tempfile.mkdtemp(prefix="staticnet-search-"), plan.identity)
            self.store.open(force)
        except BaseException:
            self.engine.close()
            raise
        self.wanted = {t.name: {"index": t.index, "params": t.params, "seed": t.seed, "epochs": plan.stored_epochs(t)}
                       for t in plan.tasks}
        try:
            self.records = self.store.records(self.wanted)
        except BaseException:
            self.close()
            raise
        self.trained: list[str] = []

    def close(self) -> None:
        """Stop the workers and unlock the directory."""
        try:
            self.engine.close()
        finally:
            self.store.close()

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def train(self, tasks: list[TrialTask], total: int) -> None:
        """Run these trials, each from its stored checkpoint where it has one, saving each checkpoint and each
        outcome as it comes."""
        if not tasks:
            return
        tasks = [self._continued(t) for t in tasks]
        resumed = sum(t.resume is not None for t in tasks)
        self.say(f"training {len(tasks)} trial{'s' if len(tasks) > 1 else ''} {self.engine.description}"
                 + (f" ({resumed} from {'their' if resumed > 1 else 'its'} last checkpoint)" if resumed else ""))
        done = total - len(tasks)
        for outcome in self.engine.run(tasks, self._store_checkpoint):
            name = outcome["record"]["trial"]
            record = self.store.save(outcome, earlier=self.records.get(name))
            self.records[name] = record
            self.trained.append(name)
            done += 1
            self.say(_live_line(done, total, record))

    def _continued(self, task: TrialTask) -> TrialTask:
        """The task, to continue from the trial's stored checkpoint if it has one that is not past the task's
        epochs (successive halving reaches a rung's epochs from the last rung's checkpoint)."""
        stored = self.store.checkpoint(task.name, self.wanted[task.name])
        if stored is None or (task.epochs is not None and stored[0] > task.epochs):
            return task
        return dataclasses.replace(task, resume=stored[1])

    def _store_checkpoint(self, task: TrialTask, epochs: int, state: bytes) -> None:
        self.store.save_checkpoint({"trial": task.name, "index": task.index, "params": task.params,
                                    "seed": task.seed}, epochs, state)

    def run(self) -> SearchResult:
        plan = self.plan
        finished = sum(_finished(self.records.get(t.name), None) for t in plan.tasks)
        self.say(f"search: {len(plan.tasks)} trials in {self.store.path}"
                 + (f" ({finished} finished before)" if finished else ""))
        try:
            try:
                if plan.rungs is None:
                    self.train([t for t in plan.tasks if not _finished(self.records.get(t.name), None)],
                               len(plan.tasks))
                else:
                    self._halving()
            except KeyboardInterrupt:
                done = sum(_finished(self.records.get(t.name), None) for t in plan.tasks)
                print(f"interrupted: {done} of {len(plan.tasks)} trials have results in {self.store.path}; run the "
                      "same search again to train the rest (a stopped trial continues from its last epoch)",
                      file=sys.stderr, flush=True)
                raise
            names = [t.name for t in plan.tasks]
            records = [dict(self.records[n], command=plan.command(self.records[n])) for n in names]
            result = SearchResult(self.store.path, list(plan.space.names), records, self.trained,
                                  last_rung=plan.rungs[-1] if plan.rungs else None)
            result.write_tables()
        finally:
            self.close()
        return result

    def _halving(self) -> None:
        """Successive halving: every trial trains to the first rung's epochs, the best 1/eta of them go on
        to the next rung's (continuing from their checkpoints), and so on to the last rung."""
        plan = self.plan
        participants = plan.tasks
        for rung, epochs in enumerate(plan.rungs):
            self.say(f"rung {rung + 1}/{len(plan.rungs)}: {len(participants)} trial"
                     f"{'s' if len(participants) > 1 else ''} to {epochs} epoch{'s' if epochs > 1 else ''}")
            pending = [dataclasses.replace(t, epochs=epochs) for t in participants
                       if not _finished(self.records.get(t.name), epochs)]
            self.train(pending, len(participants))
            standing = [(score, t) for t in participants
                        if (score := _score_at(self.records.get(t.name), epochs)) is not None]
            standing.sort(key=lambda st: (-st[0], st[1].index))
            if not standing:
                self.say(f"rung {rung + 1}/{len(plan.rungs)}: none of its {len(participants)} trial"
                         f"{'s' if len(participants) > 1 else ''} finished; no trial reached {plan.rungs[-1]} epochs")
                return
            participants = [t for _, t in standing[:max(1, len(participants) // plan.eta)]]


def rungs_for(epochs: int, min_epochs: int, eta: int) -> list[int]:
    """The epochs of each rung, from the last (epochs) down, each 1/eta of the next, none below min_epochs."""
    rungs = [epochs]
    while rungs[0] // eta >= min_epochs:
        rungs.insert(0, rungs[0] // eta)
    return rungs


def run(build, space, train, validation=None, *, epochs=None, batch_size=None, monitor=None, patience=None,
        workers=None, executor=None, directory=None, seed=0, force=False, verbose=True) -> SearchResult:
    """Train `build` once per configuration of `space` and score each on `monitor`.

    build: a function whose keyword arguments are the space's names, returning what a model file's build()
        returns (loss, outputs, optimizer, metrics, epochs, batch_size), or the path of such a model file.
        Names build() does not take may be training options: lr (the optimizer's rate), batch_size, epochs.
    space: sn.search.grid(...) or sn.search.random(...).
    train, validation: dicts of arrays keyed by input name, sent to each worker once; or train="mnist" (or
        sn.search.MNIST(path, flatten)), which each worker loads itself, with MNIST's validation images.
    epochs, batch_size: for every trial (a searched value wins; then build()'s; then 10).
    monitor: the score to rank by, e.g. "val_accuracy" (default: val_accuracy where the model reports
        accuracy, else val_loss; without validation data the training scores).  Each trial keeps the weights
        of its best epoch by it; patience: stop a trial after that many epochs without improvement.
    executor: "local" (the default: `workers` processes of this machine, default one per core), "inline"
        (this process, one trial after another), a Dask scheduler address ("tcp://host:8786") or a
        dask.distributed.Client.
    directory: where results go (default: a new temporary directory); a second run of the same search there
        trains only what is missing, continuing each stopped trial (Ctrl-C, a killed worker or session) from
        its last epoch's checkpoint, bit for bit as if never stopped; a failed trial is a result and is not
        retried unless its error was the machine's (MemoryError, OSError); a different search there is
        refused unless force=True.
    seed: the search seed; each trial's seed derives from it and the trial's parameters (space.trial_seed).
    """
    refuse_unguarded_main(executor)
    plan = Plan(build, space, train, validation, epochs, batch_size, monitor, patience, seed)
    return Search(plan, executor, workers, directory, force, verbose).run()


def halving(build, space, train, validation=None, *, epochs, eta=2, min_epochs=1, batch_size=None, monitor=None,
            patience=None, workers=None, executor=None, directory=None, seed=0, force=False,
            verbose=True) -> SearchResult:
    """Successive halving over `space`: every configuration trains the first rung's epochs, the best 1/eta of
    them train on to the next rung's, and so on until the survivors reach `epochs`.  The rungs' epochs run
    from `epochs` down by factors of eta to no fewer than min_epochs (epochs=9, eta=3: 1, 3, 9).  A trial
    continues from the checkpoint of its last rung, so its result equals an uninterrupted run of as many
    epochs.  The best is a trial that finished the last rung: if none did, result.best is None and the result
    says why.  The other arguments are run()'s."""
    refuse_unguarded_main(executor)
    epochs = _count("epochs", epochs)
    eta, min_epochs = _count("eta", eta, minimum=2), _count("min_epochs", min_epochs)
    if min_epochs > epochs:
        _refuse(f"min_epochs={min_epochs} is more than epochs={epochs}")
    rungs = rungs_for(epochs, min_epochs, eta)
    plan = Plan(build, space, train, validation, epochs, batch_size, monitor, patience, seed, rungs, eta)
    return Search(plan, executor, workers, directory, force, verbose).run()

