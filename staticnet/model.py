"""The trainable model: `sn.compile(loss, outputs, optimizer)` and its fit / evaluate / predict.

A model owns its parameters, optimizer state and workspaces.  Its generated module
holds three steps (train, eval, forward) and the loops around them; `fit` calls the
compiled epoch loop once per chunk of steps, so Python never runs per minibatch.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from . import checks, init, metrics as metric_rules, threads
from .autodiff import gradients
from .codegen.driver import Driver, Sizes
from .codegen.loops import epoch_loop, metric_kind, predict_loop
from .codegen.memory import plan_memory
from .codegen.parallel import threads_matter
from .checks import shown
from .data_checks import check_finite, check_labels
from .denormals import flushed_to_zero
from . import callbacks as callback_rules
from .callbacks import EarlyStopping, ModelCheckpoint
from .errors import DataError, GraphError, NumericalError
from .history import History
from .graph import Graph, Tensor, as_list, located, user_location
from .explain import StepNotes
from .feeds import conform
from .learning_speed import check_tracking, speeds
from .nan_guard import NanGuard
from .passes import optimize, rewrite_forward
from .passes.strip_dropout import strip_dropout
from .program import Program
from .progress import Progress
from .runtime import Generated, Workspace, kernels_called, shared_arguments


def shuffled(total: int, seed: int) -> np.ndarray:
    """The epoch's order of examples: a seeded Fisher-Yates shuffle."""
    from . import kernels
    order = np.arange(total, dtype=np.int64)
    if total > 1:
        kernels.fisher_yates(order, np.random.RandomState(seed).randint(0, np.arange(total, 1, -1)))
    return order


def _check_compile_arguments(loss, outputs, optimizer, loc):
    """What sn.compile was given, before anything is built from it."""
    from .optim import OPTIMIZERS, Optimizer
    if not isinstance(loss, Tensor) or loss.shape != ():
        got = f"a tensor of shape {loss.shape}" if isinstance(loss, Tensor) else shown(loss)
        raise located(GraphError, "compile", loc, f"loss must be a scalar tensor, got {got}")
    if not (isinstance(outputs, Tensor) or isinstance(outputs, (list, tuple)) and outputs
            and all(isinstance(t, Tensor) for t in outputs)):
        raise located(GraphError, "compile", loc, f"outputs must be a tensor or a list of tensors, got {shown(outputs)}")
    if not isinstance(optimizer, Optimizer):
        named = OPTIMIZERS.get(optimizer.lower()) if isinstance(optimizer, str) else None
        hint = (f"write optimizer=sn.{named.__name__}(lr=...)" if named else
                "pass one of sn.SGD(lr=...), sn.AdaGrad(), sn.RMSProp(), sn.Adam(), sn.AdamW()")
        raise located(GraphError, "compile", loc, f"optimizer must be an optimizer object, got {shown(optimizer)}: {hint}")


class Model:
    def __init__(self, loss: Tensor, outputs, optimizer, metrics=None):
        loc = user_location()
        _check_compile_arguments(loss, outputs, optimizer, loc)
        self.single_output = isinstance(outputs, Tensor)
        user_loss, user_output = loss, as_list(outputs)[0]
        self.as_built = (loss, as_list(outputs))  # before the forward rewrites: the layers summary() lists
        self.loss, *self.outputs = rewrite_forward(Program(outputs=(loss, *as_list(outputs)))).outputs
        loss = self.loss
        for node in Graph([loss] + self.outputs).nodes:
            node.origin = None  # this forward graph, not the one the rewrites started from, is what explain lists
        self.optimizer = optimizer
        graph = Graph([loss] + self.outputs)
        self.inputs = graph.inputs
        self._check_unique_names(self.inputs, "input", loc)
        feature_ids = {t.id for t in Graph(self.outputs).inputs}
        self.features = [t for t in self.inputs if t.id in feature_ids]
        self.labels = [t for t in self.inputs if t.id not in feature_ids]
        label = self.labels[0] if self.labels else None
        self.metrics = metric_rules.resolve(metrics, user_output, label, user_loss,
                                            metric_kind(self.outputs[0], label), loc)
        self.one_hot_inputs = [(n.inputs[0], n) for n in graph.nodes if n.op == "one_hot" and n.inputs[0].op == "input"]
        self.trainable = Graph(loss).params
        self._check_unique_names(self.trainable, "parameter", loc)
        if not self.trainable:
            raise located(GraphError, "compile", loc, "the loss depends on no parameters: nothing to train")
        self.gradients, gradient_of = gradients(loss, self.trainable, loc)
        self.update_pairs = tuple(optimizer.updates(self.trainable, self.gradients))
        self.training_roots = (loss, *self.outputs) + tuple(value for _, value in self.update_pairs)
        self.notes = StepNotes((loss, *self.outputs), gradient_of, self.update_pairs, optimizer)
        self.state = [optimizer.lr_leaf] + optimizer.state
        self.history = History()
        self.epochs_done = 0
        self.seed = None  # of the shuffle and dropout: epoch e uses seed + e
        self.stopping = None  # the EarlyStopping of the last fit, saved with checkpoints
        self.stop_training = False  # a callback sets it to stop fit after the current epoch
        self._bias_gradients = None  # (layer names, compiled function) of learning_speed, made on first use
        self._compile()

    @staticmethod
    def _check_unique_names(nodes, what, loc):
        seen = {}
        for t in nodes:
            if t.name in seen and seen[t.name] is not t:
                raise located(GraphError, "compile", loc, f"two different {what}s are named {t.name!r} "
                                                          f"(made at {seen[t.name].loc} and {t.loc}); "
                                                          "give the layers names with name=...")
            seen[t.name] = t

    def _compile(self):
        threads.apply_once()
        started = time.perf_counter()
        self.report = {}
        outputs = (self.loss, *self.outputs)
        train = optimize(Program(outputs=outputs, updates=self.update_pairs), self.report.setdefault("train", []))
        evaluate = optimize(strip_dropout(Program(outputs=outputs)), self.report.setdefault("eval", []))
        forward = optimize(strip_dropout(Program(outputs=tuple(self.outputs))), self.report.setdefault("forward", []))
        self.programs = {"train": train, "eval": evaluate, "forward": forward}
        sizes = Sizes()
        self.steps = {
            "train": Driver(train, self.inputs, plan_memory(train, extra_live=self.inputs), sizes, self.notes),
            "eval": Driver(evaluate, self.inputs, sizes=sizes, notes=self.notes),
            "forward": Driver(forward, self.features, sizes=sizes, notes=self.notes),
        }
        kind = metric_kind(self.outputs[0], self.labels[0] if self.labels else None) if "accuracy" in self.metrics else None
        label = self.labels[0] if kind else None
        metric = (kind, 1, label) if kind else None
        self.has_accuracy = metric is not None
        for _ in range(2):  # the second time every size has its name, and each signature lists them all
            functions = [epoch_loop("train_epoch", self.steps["train"], train=True, loss_index=0, metric=metric),
                         epoch_loop("eval_epoch", self.steps["eval"], train=False, loss_index=0, metric=metric),
                         predict_loop("predict_all", self.steps["forward"])]
        self.generated = Generated("staticnet_model", functions, "a model: train_epoch, eval_epoch and predict_all",
                                   list(self.steps.values()),
                                   {function: kernels_called(self.steps[step]) for function, step in self.STEP_OF.items()})
        self.source, self.from_cache = self.generated.source, self.generated.module.found
        self.workspaces = {name: Workspace(e.plan) for name, e in self.steps.items()}
        self.compile_seconds = time.perf_counter() - started

    LOOPS = {"train": "train_epoch", "eval": "eval_epoch", "predict": "predict_all"}
    STEP_OF = {"train_epoch": "train", "eval_epoch": "eval", "predict_all": "forward"}  # the step each loop runs

    def kernels(self) -> list:
        """Every kernel of the kernel layer the loops call (directly or through a segment), each once."""
        found = {}

        def visit(kernel):
            found.setdefault(kernel.symbol, kernel)
            for callee in kernel.calls:
                visit(callee)
        for kernels in self.generated.kernels_of.values():
            for kernel in kernels:
                visit(kernel)
        for driver in self.steps.values():
            for part in driver.lazy_parts.values():
                visit(part)
        return list(found.values())

    def warm_up(self, batch_size: int = 32, loops=("train", "eval", "predict")) -> tuple[float, bool]:
        """Compile these loops now (each is compiled on its first call, with the kernels it calls), on
        empty data; returns (seconds, whether every one came from the on-disk cache)."""
        started = time.perf_counter()
        empty = [np.empty((1,) + tuple(t.shape[1:]), t.dtype) for t in self.inputs]
        addresses = [a.ctypes.data for a in empty]
        features = [a for a, t in zip(addresses, self.inputs) if t in self.features]
        results = [np.empty((1,) + tuple(t.shape[1:]), t.dtype) for t in self.outputs]
        order = np.zeros(1, np.int64)
        calls = {  # no rows: total, start and stop 0
            "train": lambda: self._run("train_epoch", batch_size, data=addresses, total=0, order=order.ctypes.data,
                                       seed=0, start=0, stop=0, batch=batch_size),
            "eval": lambda: self._run("eval_epoch", batch_size, data=addresses, total=0, start=0, stop=0,
                                      batch=batch_size),
            "predict": lambda: self._run("predict_all", batch_size, data=features,
                                         results=[r.ctypes.data for r in results], total=0, batch=batch_size),
        }
        for loop in loops:
            calls[loop]()
        cached = all(self.generated.from_cache(self.LOOPS[loop]) for loop in loops)
        return time.perf_counter() - started, cached

    def _prepare(self, loop: str, batch_size: int, what: str, verbose) -> float:
        """Compile (or load) one loop, saying so on stderr first: on a first run this is the wait."""
        if verbose:
            print(f"compiling the {what}...", end="\r" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
        seconds, cached = self.warm_up(batch_size, loops=(loop,))
        if verbose:
            print(f"{what} ready in {seconds:.1f} s "
                  f"({'loaded from the cache' if cached else 'compiled; later runs load it from the cache'})",
                  file=sys.stderr)
        return seconds

    def _run(self, function: str, capacity: int, **groups):
        """Call a generated loop with these parameter groups (its data and bounds) and the shared ones of its
        step (parameters, buffers for batches of up to `capacity` rows, threads, sizes)."""
        step = self.STEP_OF[function]
        shared = shared_arguments(self.steps[step], self.workspaces[step], capacity, self.generated.report)
        return self.generated(function, **groups, **shared)

    def _data(self, data, nodes, what, check_values=False) -> list[np.ndarray]:
        """Arrays for `nodes` from a dict keyed by input name, or a tuple (x, y) / a bare x, checked before
        any step runs: shapes and row counts, labels inside their one_hot classes, and with `check_values`
        finite values."""
        if isinstance(data, dict):
            missing = [t.name for t in nodes if t.name not in data]
            if missing:
                raise DataError(f"{what}: no array for input {missing[0]!r} (the dict has {sorted(data)})")
            given = [data[t.name] for t in nodes]
        else:
            given = list(data) if isinstance(data, (tuple, list)) else [data]
            if len(given) < len(nodes):
                raise DataError(f"{what}: expected arrays for {[t.name for t in nodes]}, got {len(given)}")
            given = given[:len(nodes)]
        # A value the conversion to the input's dtype cannot keep (a label of 1e20, a float64 of 1e300) is named
        # below as the user gave it: labels always, other values unless the caller skips check_values.
        with np.errstate(over="ignore", invalid="ignore"):
            arrays = [conform(t, a, f" in the {what}") for t, a in zip(nodes, given)]
        sizes = {a.shape[0] for a in arrays}
        if len(sizes) > 1:
            raise DataError(f"{what}: arrays have different numbers of rows: "
                            + ", ".join(f"{t.name} {a.shape[0]}" for t, a in zip(nodes, arrays)))
        check_labels(self.one_hot_inputs, nodes, given, what)
        if check_values:
            check_finite(nodes, arrays, given, what)
        return arrays

    def _monitors(self, has_validation: bool) -> list[str]:
        """The scores every epoch records, which early stopping may watch."""
        scores = ["loss"] + (["accuracy"] if "accuracy" in self.metrics else [])
        return scores + (["val_loss"] + [f"val_{m}" for m in self.metrics] if has_validation else [])

    # ------------------------------------------------------------ training
    def fit(self, data, epochs: int = 1, batch_size: int = 32, validation=None, early_stopping=None,
            shuffle: bool = True, seed: int | None = None, verbose: int = 1, checkpoint: str | None = None,
            resume: str | None = None, initial_epoch: int | None = None, check_data: bool = True,
            callbacks=None, nan_guard: bool = True, track=None, track_data=None) -> History:
        """Train `epochs` more epochs (Keras's meaning) and return the history of every epoch so far.

        Epochs are numbered across calls, and the learning-rate schedule and the shuffle follow the number:
        fit(epochs=5) twice trains epochs 1-5 then 6-10, as fit(epochs=10) does.  With initial_epoch=k, or
        with resume=path (which continues from the checkpoint's epoch), `epochs` is instead the number of the
        final epoch, as in Keras: fit(epochs=30, resume=path) finishes a 30-epoch run wherever the checkpoint
        left it, and trains nothing if it is finished.

        seed: of the shuffle and dropout (epoch e uses seed + e); by default drawn from the generator that
            sn.seed resets, on the first fit, then kept (and saved with the model).
        early_stopping: a patience, or {"patience": 5, "monitor": "val_loss", "min_delta": 0.0}, the same as
            callbacks=[sn.callbacks.EarlyStopping(5)]; it watches val_accuracy by default (val_loss where the
            model reports no accuracy) and, at the end, restores the weights of the best epoch.
        checkpoint: a model file written after every epoch whose weights are all finite (the same as
            callbacks=[sn.callbacks.ModelCheckpoint(path)]); resume: a checkpoint of this same model and
            optimizer to continue from, exactly (early stopping's state included).
        check_data: scan the training and validation data for NaN and infinities first (False skips the scan,
            for speed); labels are always checked against their one_hot classes.
        callbacks: sn.callbacks.Callback objects, run between epochs (staticnet/callbacks.py); early stopping
            runs first, so that a checkpoint of the same epoch holds its state.
        nan_guard: stop at the first step whose loss or weights are not finite with a NumericalError naming
            the epoch, the step and the first node that produced such a value (its op, shape and line), and
            keep the weights from before that step (staticnet/nan_guard.py); False trains regardless.
        track: ["learning_speed"] records each layer's learning_speed(track_data) after every epoch, as
            history["learning_speed/<layer>"] (staticnet/learning_speed.py).
        """
        epochs = checks.count("fit", "epochs", epochs, minimum=0, error=ValueError)
        batch_size = checks.count("fit", "batch_size", batch_size, error=ValueError)
        if seed is not None:
            seed = checks.count("fit", "seed", seed, minimum=0, error=ValueError)
        if initial_epoch is not None:
            if resume is not None:
                checks.refuse("fit", "give resume= or initial_epoch=, not both (resume starts at the checkpoint's "
                                     "epoch)", ValueError)
            initial_epoch = checks.count("fit", "initial_epoch", initial_epoch, minimum=0, error=ValueError)
        if not isinstance(nan_guard, bool):
            checks.refuse("fit", f"nan_guard must be True or False, got {shown(nan_guard)}", ValueError)
        arrays = self._data(data, self.inputs, "training data", check_values=check_data)
        val_arrays = (self._data(validation, self.inputs, "validation data", check_values=check_data)
                      if validation is not None else None)
        monitors = self._monitors(val_arrays is not None)
        default_monitor = "val_accuracy" if "accuracy" in self.metrics else "val_loss"
        given = callback_rules.checked(callbacks)
        tracker = check_tracking(self, track, track_data, check_data)
        stopping = self._early_stopping(EarlyStopping.from_spec(early_stopping, monitors, default_monitor), given)
        if checkpoint is not None:
            checks.output_file("fit", "checkpoint", checkpoint)
            given.append(ModelCheckpoint(checkpoint))
        hooks = callback_rules.CallbackList(([tracker] if tracker else []) + ([stopping] if stopping else [])
                                            + [c for c in given if c is not stopping])
        total = arrays[0].shape[0]
        steps = math.ceil(total / batch_size)
        for callback in hooks.callbacks:
            callback.set_model(self)
            callback.set_params({"epochs": epochs, "batch_size": batch_size, "steps": steps, "verbose": verbose,
                                 "monitors": monitors, "default_monitor": default_monitor})
        if resume is not None:
            from .serialize import restore_checkpoint
            saved_stopping = restore_checkpoint(self, resume)
            if stopping and saved_stopping:
                stopping.resume_from(*saved_stopping)
        self.stopping = stopping
        self.history.interrupted, self.history.stopped_early_at, self.history.best_epoch = False, None, None
        self.history.numerical_error = None
        first, final = self._epoch_span(epochs, initial_epoch, resumed=resume is not None)
        if stopping and stopping.exhausted:  # resumed from the checkpoint of the epoch where the run stopped
            self.history.stopped_early_at, final = first, first
        if seed is not None:
            self.seed = seed
        elif self.seed is None:
            self.seed = int(init.generator().integers(2**31))
        guard = NanGuard(self, arrays, batch_size) if nan_guard else None
        if guard:
            guard.check_before_training()
        chooser = (threads.chooser_for((self.generated.path, batch_size))
                   if threads_matter(self.steps["train"].plan, batch_size) else None)
        chunk_steps = max(1, math.ceil(steps / 50)) if verbose or chooser else steps
        progress = Progress(enabled=verbose > 0)
        if not self.generated.compiled("train_epoch") and final > first:
            # compile now, so that neither the first epoch's time nor the thread chooser's first timing includes
            # it; the evaluation loop is compiled when first used, after the first epoch's training
            self._prepare("train", batch_size, "training loop", verbose)
        self.stop_training = False
        hooks.call("on_train_begin", {})
        for epoch in range(first, final):
            if self.stop_training:
                break
            self.optimizer.lr_leaf.value[...] = self.optimizer.lr_at(epoch)
            hooks.call("on_epoch_begin", epoch, {})
            epoch_seed = (self.seed + epoch) % 2**32
            order = shuffled(total, epoch_seed) if shuffle else np.arange(total, dtype=np.int64)
            started = time.perf_counter()
            progress.start(f"epoch {epoch + 1}/{final}", total)
            try:
                loss_sum, correct, rows_on = self._train_epoch(arrays, order, epoch_seed, batch_size, chunk_steps,
                                                               chooser, guard, epoch, progress)
            except KeyboardInterrupt:
                progress.finish(["interrupted: keeping the weights trained so far"])
                self.history.interrupted = True
                break
            except NumericalError as error:
                progress.finish(["diverged: the NaN guard stopped training"])
                self.history.numerical_error = error
                raise
            record = {"epoch": epoch + 1, "loss": loss_sum / total, "lr": float(self.optimizer.lr_leaf.value)}
            if self.has_accuracy:
                record["accuracy"] = correct / total
            if val_arrays is not None:
                if not self.generated.compiled("eval_epoch"):
                    started += self._prepare("eval", batch_size, "evaluation loop", verbose)  # not the epoch's time
                scores = self._evaluate_arrays(val_arrays)
                record.update({f"val_{k}": v for k, v in scores.items()})
            record["seconds"] = time.perf_counter() - started
            if rows_on:
                record["threads"] = max(rows_on, key=rows_on.get)  # the count that trained most rows
            self.history.epochs.append(record)
            self.epochs_done = epoch + 1
            progress.finish(*self._record_fields(record))
            hooks.call("on_epoch_end", epoch, record)
            if self.stop_training:
                self.history.stopped_early_at = epoch + 1
        hooks.call("on_train_end", {})
        return self.history

    def _early_stopping(self, from_spec, callbacks):
        """The one early stopping of a fit: from early_stopping=, or an EarlyStopping among the callbacks."""
        found = [c for c in callbacks if isinstance(c, EarlyStopping)] + ([from_spec] if from_spec else [])
        if len(found) > 1:
            checks.refuse("fit", "give one early stopping: early_stopping= or one EarlyStopping in callbacks=, "
                                 f"not {len(found)}", ValueError)
        return found[0] if found else None

    def _train_epoch(self, arrays, order, epoch_seed, batch_size, chunk_steps, chooser, guard, epoch, progress):
        """One epoch in compiled chunks of steps: (loss sum, number correct, rows trained per thread count).
        Between chunks: the thread chooser's timing, the NaN guard's check, the progress bar."""
        total = arrays[0].shape[0]
        loss_sum, correct, done, rows_on = 0.0, 0, 0, {}
        if guard:
            guard.start_epoch(epoch, order, epoch_seed)
        while done < total:
            count = chooser.choose() if chooser else None
            stop = min(total, done + (chooser.steps(count, chunk_steps) if chooser else chunk_steps) * batch_size)
            chunk_started = time.perf_counter()
            part_loss, part_correct = self._train_rows(arrays, order, epoch_seed, done, stop, batch_size, count)
            if chooser:
                chooser.record(count, time.perf_counter() - chunk_started, stop - done)
                rows_on[count] = rows_on.get(count, 0) + stop - done
            if guard:
                guard.after_chunk(done, stop, count, part_loss)
            loss_sum, correct, done = loss_sum + part_loss, correct + part_correct, stop
            progress.update(done, self._metrics_text(loss_sum / done, correct / done))
        if guard:
            guard.end_epoch()
        return loss_sum, correct, rows_on

    def _train_rows(self, arrays, order, epoch_seed, start, stop, batch_size, count):
        """The compiled training loop over rows [start, stop) of the epoch's order, on `count` threads (None:
        as set): (loss sum, number correct).  The one place fit and the NaN guard's replay run it."""
        with flushed_to_zero(), threads.blas_restored(), threads.using(count):
            return self._run("train_epoch", batch_size, data=[a.ctypes.data for a in arrays], total=arrays[0].shape[0],
                             order=order.ctypes.data, seed=epoch_seed, start=start, stop=stop, batch=batch_size)

    def _epoch_span(self, epochs, initial_epoch, resumed) -> tuple[int, int]:
        """(epochs done before this fit, the last epoch it trains): `epochs` more after those done, or, with
        initial_epoch or a resumed checkpoint, up to epoch `epochs` (Keras's "final epoch")."""
        if initial_epoch is None and not resumed:
            return self.epochs_done, self.epochs_done + epochs
        first = self.epochs_done if resumed else initial_epoch
        if epochs < first:
            checks.refuse("fit", f"epochs={epochs} is the final epoch with {'resume' if resumed else 'initial_epoch'}= "
                                 f"(as in Keras), but training would start after epoch {first}", ValueError)
        return first, epochs

    def _metrics_text(self, loss, accuracy):
        return f"loss {loss:.4f}" + (f"  acc {accuracy:.4f}" if self.has_accuracy else "")

    @staticmethod
    def _record_fields(record) -> tuple[list[str], list[str]]:
        """An epoch line's fields: the scores and seconds, then the thread count, shown where it fits."""
        shown = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc",
                 "val_mse": "val_mse", "val_mae": "val_mae"}
        fields = [f"{name} {record[key]:.4f}" for key, name in shown.items() if key in record]
        threads = record.get("threads")
        optional = [f"{threads} thread{'s' if threads > 1 else ''}"] if threads else []
        return fields + [f"{record['seconds']:.2f} s"], optional

    def learning_speed(self, data, batch: int | None = None) -> dict[str, float]:
        """Each layer's speed of learning on `data` (a dict keyed by input name, or (x, y)), as the book's
        chapter 5 measures it: the length of the average over the examples of dC/db, layer name -> float in
        order from the input, for every layer with a bias.  It runs the compiled backward pass with dropout off
        (as evaluate does), `batch` rows per call (None: all rows in one), and changes no weight
        (staticnet/learning_speed.py)."""
        if batch is not None:
            batch = checks.count("learning_speed", "batch", batch, error=ValueError)
        return speeds(self, self._data(data, self.inputs, "learning_speed data", check_values=True), batch)

    def _snapshot(self):
        return {t.name: t.value.copy() for t in self.trainable + self.state}

    def _restore(self, snapshot):
        for t in self.trainable + self.state:
            t.value[...] = snapshot[t.name]

    # ------------------------------------------------------------ evaluation and prediction
    def evaluate(self, data, batch_size: int = 1000) -> dict:
        """{"loss": the mean loss, and each metric: "accuracy" (the fraction correct), "mse", "mae"} over all
        rows of `data`."""
        batch_size = checks.count("evaluate", "batch_size", batch_size, error=ValueError)
        return self._evaluate_arrays(self._data(data, self.inputs, "evaluation data"), batch_size)

    def _evaluate_arrays(self, arrays, batch_size=1000):
        total = arrays[0].shape[0]
        batch = min(batch_size, total)
        with flushed_to_zero(), threads.blas_restored():
            loss_sum, correct = self._run("eval_epoch", batch, data=[a.ctypes.data for a in arrays], total=total,
                                          start=0, stop=total, batch=batch)
        scores = {"loss": loss_sum / total}
        if self.has_accuracy:
            scores["accuracy"] = correct / total
        regression = [m for m in self.metrics if m in metric_rules.REGRESSION_METRICS]
        if regression:
            features = [a for a, t in zip(arrays, self.inputs) if t in self.features]
            target = arrays[self.inputs.index(self.labels[0])]
            scores.update(metric_rules.regression_scores(regression, self._predict_arrays(features, batch_size)[0],
                                                         target))
        return scores

    def predict(self, inputs, batch_size: int = 1000):
        """The outputs for every row of `inputs` (a dict keyed by input name, or the array itself)."""
        batch_size = checks.count("predict", "batch_size", batch_size, error=ValueError)
        results = self._predict_arrays(self._data(inputs, self.features, "prediction inputs"), batch_size)
        return results[0] if self.single_output else results

    def _predict_arrays(self, arrays, batch_size):
        total = arrays[0].shape[0]
        batch = min(batch_size, total)
        results = [np.empty(tuple(total if d is None else d for d in t.shape), t.dtype) for t in self.outputs]
        with flushed_to_zero(), threads.blas_restored():
            self._run("predict_all", batch, data=[a.ctypes.data for a in arrays], results=[r.ctypes.data for r in results],
                      total=total, batch=batch)
        return results

    # ------------------------------------------------------------ parameters
    @property
    def params(self) -> "ParamView":
        return ParamView(self.trainable)

    def save(self, path: str) -> None:
        from .serialize import save_model
        save_model(self, path)

    def export_onnx(self, path: str, opset: int | None = None) -> None:
        """Write the prediction graph (the outputs from the features, dropout removed, the current weights) as
        an ONNX model; see sn.export_onnx.  Needs the `onnx` extra: pip install 'staticnet[onnx]'."""
        from .onnx_export import export
        export(self.outputs, path, inputs=self.features, opset=opset)

    def gradcheck(self, batch, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
                  max_elements: int | None = 100, print_fn=print):
        """Check the model's gradient on `batch` (a dict keyed by input name, or (x, y)) in float64: the
        gradient compiled on the Numba backend, and the reference's, against central differences of the
        loss (staticnet/gradcheck.py).  max_elements: how many elements of each parameter, chosen at random
        (None: all); print_fn: where the table goes (None: nowhere).  Returns the report (report.ok)."""
        from .gradcheck import check_model, check_tolerances
        check_tolerances("gradcheck", eps, rtol, atol, max_elements)
        arrays = self._data(batch, self.inputs, "gradcheck batch", check_values=True)
        return check_model(self, arrays, eps, rtol, atol, max_elements, print_fn)

    def summary(self, batch_size: int = 32, print_fn=print) -> str | None:
        """A Keras-like table: each layer's name, ops, output shape, parameter count and the fused kernels of
        the training step its work ended up in, then the totals (parameters, FLOPs per example, workspace
        bytes at `batch_size`); staticnet/summary.py says how layers and kernels are matched.  Printed with
        print_fn, line by line; with print_fn=None, returned as a string instead."""
        from .summary import summary_text
        batch_size = checks.count("summary", "batch_size", batch_size, error=ValueError)
        text = summary_text(self, batch_size)
        if print_fn is None:
            return text
        for line in text.splitlines():
            print_fn(line)
        return None


class ParamView:
    """Parameters by name, as NumPy arrays; assigning copies into the live array (shape checked)."""

    def __init__(self, leaves):
        self._leaves = {t.name: t for t in leaves}

    def __getitem__(self, name):
        return self._leaves[name].value

    def __setitem__(self, name, value):
        leaf = self._leaves[name]
        value = np.asarray(value, dtype=leaf.dtype)
        if value.shape != leaf.shape:
            raise ValueError(f"parameter {name!r} has shape {leaf.shape}, got an array of shape {value.shape}")
        leaf.value[...] = value

    def __iter__(self):
        return iter(self._leaves)

    def __len__(self):
        return len(self._leaves)

    def keys(self):
        return self._leaves.keys()

    def items(self):
        return [(k, t.value) for k, t in self._leaves.items()]


def compile(loss, outputs=None, optimizer=None, metrics=None) -> Model:  # noqa: A001
    """Check, differentiate, fuse, lower and compile a training graph.

    metrics: names from "accuracy", "mse", "mae"; by default accuracy where the output is a classifier (a
    sigmoid, softmax or step unit, or logits trained by a cross-entropy), and none otherwise."""
    from .optim import SGD
    return Model(loss, outputs if outputs is not None else loss, optimizer or SGD(lr=0.1), metrics)


def load(path: str) -> Model:
    """A model saved with `model.save(path)`, ready to predict or to train on."""
    from .serialize import load_with
    return load_with(path, Model)
