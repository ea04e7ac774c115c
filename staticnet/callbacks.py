"""Callbacks: the user's code that `fit` runs between epochs, as in Keras, and the ones staticnet ships.

fit calls `on_train_begin`, then for each epoch `on_epoch_begin(epoch)` and `on_epoch_end(epoch, logs)`,
then `on_train_end`.  The rule for epoch numbers: the hooks' `epoch` argument counts from 0, as in Keras, and
is the only epoch number a hook gets (`logs` holds the scores: loss, accuracy, val_loss, ..., lr, seconds,
as Keras's does, and no epoch); everything written for a person counts from 1: the epoch lines, the
history's records (`history.epochs[i]["epoch"]`), CSVLogger's epoch column and ModelCheckpoint's {epoch},
as Keras names its checkpoint files.  What a hook adds to `logs` goes into the epoch's record.  They run
between compiled chunks of steps, never per step, so a callback costs nothing while an epoch trains.  A callback stops
training with `self.model.stop_training = True`.

Before the first step fit gives each callback the model (`set_model`) and what the epochs will record
(`set_params`); a setting that cannot work (a score that is never recorded, a file that cannot be written)
is refused there, before any weight changes.

Early stopping's whole state (the best score, its epoch and weights, the epochs waited since) goes into
every checkpoint, so a run resumed from one stops at the same epoch and restores the same weights as the
run that was never interrupted; for that, fit runs it before the other callbacks.
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import sys

import numpy as np

from . import checks
from .errors import ArgumentError

LOWER_IS_BETTER = ("loss", "mse", "mae")  # monitors are these or accuracy, maybe prefixed by val_


def _refuse(message):
    checks.refuse("fit", message, ArgumentError)


class Callback:
    """The base: every hook does nothing, so a callback overrides only those it needs."""

    model = None
    params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        """What this fit will do: epochs, batch_size, steps, verbose, monitors (the scores each epoch
        records) and default_monitor.  Called before training starts: a subclass checks its settings here."""
        self.params = params

    def on_train_begin(self, logs=None) -> None:
        pass

    def on_train_end(self, logs=None) -> None:
        pass

    def close(self) -> None:
        """Release what the callback holds open (files, writers' threads): fit calls it when training ends,
        after on_train_end or when an error (a NumericalError, a failing callback) ends it early."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        pass


def check_monitor(label: str, monitor, monitors) -> None:
    """`monitor` must be one of the scores the epochs record; the message lists them."""
    if monitor in monitors:
        return
    if isinstance(monitor, str) and monitor.startswith("val_") and monitor[4:] in monitors:
        _refuse(f"{label} monitors {monitor}, a validation score: pass validation=... "
                f"(or monitor one of {', '.join(monitors)})")
    _refuse(f"{label} cannot monitor {monitor!r}; {checks.did_you_mean(monitor, monitors)}the epochs record "
            f"{', '.join(monitors)}")


class Monitor:
    """One recorded score and which way is better (lower for losses and errors, higher for accuracy).
    Scores are kept signed so that greater is always better."""

    def __init__(self, name: str, min_delta: float = 0.0):
        self.name, self.min_delta = name, min_delta
        self.sign = -1.0 if name.removeprefix("val_") in LOWER_IS_BETTER else 1.0

    def score(self, logs: dict) -> float:
        return self.sign * logs[self.name]

    def improves(self, score: float, best: float | None) -> bool:
        return best is None or score > best + self.min_delta

    def value(self, score: float) -> float:
        """A signed score as the records show it."""
        return self.sign * score


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs, and at the end
    restore the weights of the best epoch (saying so when they are not the last epoch's).

    monitor: by default val_accuracy where the model reports accuracy, val_loss otherwise.  Its state
    carries over to a later fit of the same model, as fit(epochs=5) twice continues one run."""

    def __init__(self, patience: int, monitor: str | None = None, min_delta: float = 0.0, *, label="EarlyStopping"):
        self.label = label  # how messages name it: the class, or fit's early_stopping= argument
        op, prefix = ("fit", "early_stopping ") if label == "early_stopping" else (label, "")
        self.patience = checks.count(op, f"{prefix}patience", patience, error=ArgumentError)
        self.min_delta = checks.real(op, f"{prefix}min_delta", min_delta, checks.NON_NEGATIVE, error=ArgumentError)
        self.monitor = monitor
        self.best_score: float | None = None  # the monitored value, negated where lower is better
        self.best_epoch: int | None = None
        self.best_weights: dict | None = None  # leaf name -> array
        self.waited = 0  # epochs since the best one

    @classmethod
    def from_spec(cls, spec, monitors, default_monitor):
        """From fit's `early_stopping` (a patience, or a dict of patience, monitor, min_delta), checked against
        the scores the epochs will record (`monitors`); None when not asked for."""
        if spec is None or spec is False:
            return None
        if not isinstance(spec, dict):
            spec = {"patience": spec}
        unknown = sorted(set(spec) - {"patience", "monitor", "min_delta"})
        if unknown:
            _refuse(f"early_stopping has no setting {unknown[0]!r}; it takes patience, monitor, min_delta")
        monitor = spec.get("monitor", default_monitor)
        check_monitor("early_stopping", monitor, monitors)
        if "patience" not in spec:
            _refuse("early_stopping needs a patience (epochs without improvement)")
        return cls(spec["patience"], monitor, spec.get("min_delta", 0.0), label="early_stopping")

    def set_params(self, params):
        super().set_params(params)
        self.monitor = self.monitor or params["default_monitor"]
        check_monitor(self.label, self.monitor, params["monitors"])

    @property
    def _watched(self) -> Monitor:
        return Monitor(self.monitor, self.min_delta)

    def on_epoch_end(self, epoch, logs=None):
        self.update(logs, epoch + 1, self.model._snapshot)
        if self.exhausted:
            self.model.stop_training = True

    def update(self, record: dict, epoch: int, snapshot) -> None:
        """Take this epoch's record; `snapshot()` gives the weights to keep when the epoch is the best so far."""
        score = self._watched.score(record)
        if self._watched.improves(score, self.best_score):
            self.best_score, self.best_epoch, self.best_weights, self.waited = score, epoch, snapshot(), 0
        else:
            self.waited += 1

    def on_train_end(self, logs=None):
        """The weights of the best epoch, if they are not the last ones."""
        if self.best_epoch is None:
            return
        model = self.model
        model.history.best_epoch = self.best_epoch
        message = self.report(model.epochs_done, model.history.interrupted)
        if self.best_epoch != model.epochs_done or model.history.interrupted:
            model._restore(self.best_weights)
        if message and self.params.get("verbose"):
            print(message, file=sys.stderr)

    @property
    def exhausted(self) -> bool:
        return self.waited >= self.patience

    @property
    def best_value(self) -> float:
        """The best monitored value as the records show it."""
        return self._watched.value(self.best_score)

    def state(self) -> dict:
        """What a checkpoint keeps (the weights apart, as arrays)."""
        return {"monitor": self.monitor, "best_score": self.best_score, "best_epoch": self.best_epoch,
                "waited": self.waited}

    def resume_from(self, state: dict, weights: dict) -> None:
        """Continue from a checkpoint's state, if it watched the same score (otherwise start afresh)."""
        if state["monitor"] == self.monitor:
            self.best_score, self.best_epoch, self.waited = state["best_score"], state["best_epoch"], state["waited"]
            self.best_weights = weights

    def report(self, last_epoch: int, interrupted: bool) -> str | None:
        """What happened, for the user; None when the weights kept are simply the last epoch's."""
        best = f"the weights of epoch {self.best_epoch} ({self.monitor} {self.best_value:.4f})"
        if self.exhausted:
            return (f"early stopping: {self.monitor} did not improve for {self.waited} epochs after epoch "
                    f"{self.best_epoch}; stopped after epoch {last_epoch} and restored {best}")
        if interrupted:
            return f"early stopping: training was interrupted; restored {best}, the best"
        if self.best_epoch != last_epoch:
            return (f"early stopping: did not stop early (epochs up to {last_epoch} trained); restored {best}, the "
                    f"best, instead of epoch {last_epoch}'s")
        return None


def _formatted(path: str, epoch: int, logs: dict) -> str:
    return path.format(**{**logs, "epoch": epoch})


class ModelCheckpoint(Callback):
    """Save the model (a .snet file: graph, weights, optimizer state, history) after every epoch whose
    weights are all finite, so a diverged epoch never replaces a good file; with save_best_only, only after
    the epochs that improve `monitor` (by default val_accuracy where there is accuracy, else val_loss).

    The path may name the epoch and the scores, as in Keras: "ckpt-{epoch:02d}-{val_loss:.3f}.snet"."""

    def __init__(self, path, monitor: str | None = None, save_best_only: bool = False):
        checks.output_file("ModelCheckpoint", "path", path)
        if not isinstance(save_best_only, bool):
            checks.refuse("ModelCheckpoint", f"save_best_only must be True or False, got "
                                             f"{checks.shown(save_best_only)}", ArgumentError)
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.best_score: float | None = None
        self.warned = False  # about weights that were not finite, once per fit

    def set_params(self, params):
        super().set_params(params)
        if self.save_best_only:
            self.monitor = self.monitor or params["default_monitor"]
            check_monitor("ModelCheckpoint", self.monitor, params["monitors"])
        try:
            example = _formatted(self.path, 1, {name: 0.0 for name in params["monitors"]})
        except (KeyError, IndexError, ValueError) as e:
            _refuse(f"ModelCheckpoint path {self.path!r} cannot be filled in ({type(e).__name__}: {e}); it may name "
                    f"{{epoch}} and the scores the epochs record: {', '.join(params['monitors'])}")
        checks.output_file("fit", "ModelCheckpoint path", example)

    def on_train_begin(self, logs=None):
        self.warned = False

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            watched = Monitor(self.monitor)
            score = watched.score(logs)
            if not watched.improves(score, self.best_score):
                return
        path = _formatted(self.path, epoch + 1, logs)
        leaves = self.model.parameters + self.model.state
        if all(np.isfinite(t.value).all() for t in leaves):
            self.model.save(path)
            if self.save_best_only:
                self.best_score = score
        elif not self.warned:
            self.warned = True
            print(f"warning: epoch {epoch + 1} left weights that are not finite; the checkpoint {path} keeps the "
                  "last finite ones", file=sys.stderr)


class CSVLogger(Callback):
    """One row per epoch in a CSV file: epoch (from 1), then what the epoch's record holds (the scores, lr,
    seconds, threads where fit chose a thread count, what other callbacks added): the columns of the first
    epoch's record, so none is empty throughout.  The file is opened and closed at each epoch, so it is
    complete after every epoch even if training is killed.  append=True continues an existing file (as a
    resumed run would), under its own header, writing a header only into an empty one."""

    def __init__(self, path, separator: str = ",", append: bool = False):
        checks.output_file("CSVLogger", "path", path)
        if not isinstance(separator, str) or len(separator) != 1:
            checks.refuse("CSVLogger", f"separator must be one character, got {checks.shown(separator)}", ArgumentError)
        self.path, self.separator, self.append = os.fspath(path), separator, bool(append)

    def on_train_begin(self, logs=None):
        self.columns = None  # from the file's header, or the first epoch's record
        if self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, newline="") as f:
                self.columns = next(csv.reader(f, delimiter=self.separator), None)
        else:
            open(self.path, "w").close()  # a fit that trains no epoch leaves an empty file, not an old one

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **logs}
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if self.columns is None:
                self.columns = [k for k, v in row.items() if v is not None]
                writer.writerow(self.columns)
            writer.writerow([row.get(k, "") for k in self.columns])


class LearningRateScheduler(Callback):
    """Set each epoch's learning rate to `schedule(epoch, lr)`, as in Keras: epoch counts from 0 and lr is
    the rate the previous epoch trained with (for the very first epoch, the optimizer's own), so
    `lambda epoch, lr: lr * 0.9` compounds.  It overrides the optimizer's schedule=."""

    def __init__(self, schedule):
        try:
            inspect.signature(schedule).bind(0, 0.1)
        except TypeError:
            checks.refuse("LearningRateScheduler", f"schedule must be a function of (epoch, lr), got "
                                                   f"{checks.shown(schedule)}", ArgumentError)
        except ValueError:  # a builtin without a signature: called as it is
            pass
        self.schedule = schedule

    def set_params(self, params):
        super().set_params(params)
        schedule = self.model.optimizer.schedule
        if schedule.per_step:
            _refuse(f"LearningRateScheduler sets each epoch's rate from the last one's, and the optimizer's schedule "
                    f"{schedule!r} changes the rate at every step: give one of the two")

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        previous = model.history.epochs[-1]["lr"] if model.history.epochs else model.optimizer.lr_at(epoch)
        lr = self.schedule(epoch, previous)
        if not (checks.is_real(lr) and math.isfinite(lr) and lr > 0):
            _refuse(f"LearningRateScheduler: schedule({epoch}, {previous:g}) returned {checks.shown(lr)}; a learning "
                    "rate is a finite number > 0")
        model.optimizer.lr_leaf.value[...] = lr


class ReduceLROnPlateau(Callback):
    """Keras's ReduceLROnPlateau: when `monitor` has not improved by more than `min_delta` for `patience`
    epochs, multiply the learning rate by `factor`, not below `min_lr`, then let `cooldown` epochs pass before
    counting again.  The rules are Keras's, line for line: an epoch in cooldown counts down and clears the
    wait; an improvement is a value below the best by more than min_delta (above, for a score where higher is
    better); no reduction is made once the rate is at min_lr.  mode: "min", "max" or "auto", which takes
    lower as better for losses and errors (loss, mse, mae) and higher for the others (Keras's auto looks for
    "acc" in the name, and so would minimise val_f1).

    The rate it reduces is the epoch's (the optimizer's lr times its schedule's factor for the epoch): each
    reduction scales the rates of the epochs after it, a per-step schedule's factor applying on top, and min_lr
    bounds the rate of the epoch it is made in, as Keras bounds the optimizer's rate.  A LearningRateScheduler
    sets the rate outright: fit refuses the two together.  The state (best value, epochs waited, cooldown, the
    scale of the reductions so far) carries over to a later fit given the same object and goes into
    checkpoints, so a resumed run reduces at the epochs the uninterrupted one would."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, min_lr: float = 0.0,
                 min_delta: float = 1e-4, cooldown: int = 0, mode: str = "auto"):
        label = "ReduceLROnPlateau"
        self.monitor = monitor
        self.factor = checks.real(label, "factor", factor, checks.OPEN_FRACTION, error=ArgumentError)
        self.patience = checks.count(label, "patience", patience, minimum=0, error=ArgumentError)
        self.min_lr = checks.real(label, "min_lr", min_lr, checks.NON_NEGATIVE, error=ArgumentError)
        self.min_delta = checks.real(label, "min_delta", min_delta, checks.NON_NEGATIVE, error=ArgumentError)
        self.cooldown = checks.count(label, "cooldown", cooldown, minimum=0, error=ArgumentError)
        if mode not in self.MODES:
            checks.refuse(label, f"mode must be one of {', '.join(map(repr, self.MODES))}; "
                                 f"{checks.did_you_mean(mode, self.MODES)}got {checks.shown(mode)}", ArgumentError)
        self.mode = mode
        self.best: float | None = None  # Keras starts from an infinity; None until a value that is not NaN
        self.wait = 0  # epochs without improvement, outside cooldown, since the best or the last reduction
        self.cooldown_counter = 0
        self.scale = 1.0  # the product of the reductions made: every later epoch's rate is multiplied by it

    MODES = ("auto", "min", "max")

    def set_params(self, params):
        super().set_params(params)
        check_monitor("ReduceLROnPlateau", self.monitor, params["monitors"])

    @property
    def lower_is_better(self) -> bool:
        return self.mode == "min" or self.mode == "auto" and Monitor(self.monitor).sign < 0

    def _improves(self, current: float) -> bool:
        if self.best is None:
            return not math.isnan(current)
        if self.lower_is_better:
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_begin(self, epoch, logs=None):
        leaf = self.model.optimizer.lr_leaf
        leaf.value[...] = leaf.value * self.scale

    def on_epoch_end(self, epoch, logs=None):
        current = logs[self.monitor]
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        old = float(self.model.optimizer.lr_leaf.value)
        if not old > np.float32(self.min_lr):  # at the floor already (as Keras compares it, in float32)
            return
        new = max(old * self.factor, self.min_lr)
        self.scale *= new / old
        self.cooldown_counter, self.wait = self.cooldown, 0
        if self.params.get("verbose"):
            print(f"ReduceLROnPlateau: {self.monitor} did not improve for {self.patience} epochs; the learning "
                  f"rate goes from {old:g} to {new:g} after epoch {epoch + 1}", file=sys.stderr)

    STATE = ("monitor", "best", "wait", "cooldown_counter", "scale")

    def state(self) -> dict:
        """What a checkpoint keeps."""
        return {key: getattr(self, key) for key in self.STATE}

    def resume_from(self, state: dict) -> None:
        """Continue from a checkpoint's state, if it watched the same score (otherwise start afresh)."""
        if state["monitor"] == self.monitor:
            self.best, self.wait, self.cooldown_counter, self.scale = (state[key] for key in self.STATE[1:])


class TensorBoard(Callback):
    """Write each epoch's scores to TensorBoard event files under `log_dir`, as Keras's TensorBoard does: the
    training scores in log_dir/train and the validation ones in log_dir/validation under the same tag
    (epoch_loss, epoch_accuracy, ...), so TensorBoard draws them on one chart; lr, the learning speeds and any
    other number the record holds (a grad norm a callback adds) go to train.  Every `histogram_freq` epochs
    (0: never) each parameter's values are written as a histogram, tagged by its name.  The step is the epoch
    as the records number it, from 1.  Needs the tensorboard package: pip install 'staticnet[tensorboard]';
    view with `tensorboard --logdir LOG_DIR`."""

    NOT_SCALARS = ("seconds", "threads")  # how the epoch ran, not what it learned

    def __init__(self, log_dir, histogram_freq: int = 0):
        from .event_files import require_tensorboard
        require_tensorboard()  # a missing package is named now, not after the first epoch
        if not isinstance(log_dir, (str, os.PathLike)):
            checks.refuse("TensorBoard", f"log_dir must be a directory path, got {checks.shown(log_dir)}",
                          ArgumentError)
        if os.path.exists(log_dir) and not os.path.isdir(log_dir):
            checks.refuse("TensorBoard", f"log_dir={os.fspath(log_dir)!r} is a file; name a directory", ArgumentError)
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = checks.count("TensorBoard", "histogram_freq", histogram_freq, minimum=0,
                                           error=ArgumentError)
        self.files: dict = {}

    def set_params(self, params):
        super().set_params(params)
        parent = os.path.dirname(os.path.abspath(self.log_dir))
        if not os.path.isdir(parent):
            _refuse(f"TensorBoard log_dir={self.log_dir!r}: the directory {parent} does not exist")

    def _files(self, run: str):
        from .event_files import EventFiles
        if run not in self.files:
            self.files[run] = EventFiles(os.path.join(self.log_dir, run))
        return self.files[run]

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        for key, value in logs.items():
            if key in self.NOT_SCALARS or not checks.is_real(value) or isinstance(value, bool):
                continue
            validation = key.startswith("val_")
            name = key.removeprefix("val_")
            tag = name if "/" in name else f"epoch_{name}"
            self._files("validation" if validation else "train").scalar(tag, value, step)
        if self.histogram_freq and step % self.histogram_freq == 0:
            for leaf in self.model.trainable:
                self._files("train").histogram(leaf.name, leaf.value, step)
        for files in self.files.values():
            files.flush()

    def close(self):
        for files in self.files.values():
            files.close()
        self.files = {}


class CallbackList:
    """The callbacks of one fit, each hook called on all of them in order."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def epoch_end(self, epoch: int, record: dict) -> None:
        """on_epoch_end(epoch, logs) on each callback: `logs` is the record without its epoch number (the
        argument is the epoch, from 0), and what each callback adds to it goes into the record."""
        logs = {k: v for k, v in record.items() if k != "epoch"}
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)
            keep_recordable(logs, callback, epoch=epoch + 1)
            record.update(logs)


def keep_recordable(logs: dict, callback, epoch: int) -> None:
    """What a callback put into an epoch's `logs`, made fit for the history, which model files keep as JSON:
    a NumPy scalar (np.float32(0.5), an array of no dimensions) becomes the Python number it holds; anything
    else that is not a number, a string or None is taken out and refused naming the key and the callback.
    Checked after each callback, so that the error names the one that put it there and not a model save
    failing later (json's "Object of type float32 is not JSON serializable" named neither)."""
    for key, value in list(logs.items()):
        if isinstance(value, np.generic) or isinstance(value, np.ndarray) and value.ndim == 0:
            value = logs[key] = value.item()
        if isinstance(key, str) and (value is None or isinstance(value, (int, float, str))):
            continue
        del logs[key]  # the history keeps the epoch's record, and must stay savable
        what = f"logs[{key!r}] = {checks.shown(value)}"
        _refuse(f"the callback {type(callback).__name__} put {what} into the record of epoch {epoch}: "
                "a record holds numbers, strings and None under string keys (the history and the model files "
                "keep it as JSON)")


def checked(callbacks) -> list[Callback]:
    """fit's `callbacks=`: a list of Callback objects (Keras's own are not these)."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        _refuse(f"callbacks must be a list of sn.callbacks.Callback objects, got {checks.shown(callbacks)}")
    for c in callbacks:
        if not isinstance(c, Callback):
            _refuse(f"callbacks must be sn.callbacks.Callback objects (subclass it), got {checks.shown(c)}")
    plateaus = sum(isinstance(c, ReduceLROnPlateau) for c in callbacks)
    if plateaus > 1:
        _refuse(f"give one ReduceLROnPlateau, not {plateaus}: a checkpoint keeps the state of one")
    if plateaus and any(isinstance(c, LearningRateScheduler) for c in callbacks):
        _refuse("give one of LearningRateScheduler and ReduceLROnPlateau: the scheduler sets each epoch's rate "
                "outright, undoing the reductions")
    return list(callbacks)
