"""The trainable model: `sn.compile(loss, outputs, optimizer)` and its fit / evaluate / predict.

A model owns its parameters, optimizer state and workspaces.  Its generated module
holds three steps (train, eval, forward) and the loops around them; `fit` calls the
compiled epoch loop once per chunk of steps, so Python never runs per minibatch.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import html
import math
import sys
import threading
import time
from collections.abc import MutableMapping

import numpy as np

from . import checks, init, keras_data, metrics as metric_rules, sample_weights, threads
from .autodiff import gradients
from .codegen import kernel_layer
from .codegen.driver import Driver, Sizes
from .codegen.loops import epoch_loop, metric_kind, predict_loop
from .codegen.memory import plan_memory
from .codegen.parallel import threads_matter
from .codegen.product_choice import Recorded
from .checks import shown
from .data_checks import check_finite, check_ids, check_labels
from .denormals import flushed_to_zero
from . import callbacks as callback_rules
from .callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .errors import ArgumentError, DataError, GraphError, NumericalError, UnknownName
from .history import History
from .interrupts import interrupts_held
from .graph import Graph, Tensor, as_list, fmt_shape, located, user_location
from .explain import StepNotes
from .feeds import conform
from .learning_speed import check_tracking, speeds
from .nan_guard import NanGuard
from .passes import optimize, rewrite_forward
from .passes.strip_dropout import strip_dropout
from .program import Program
from .registry import has_trait, registry, state_updates_of
from .progress import Progress
from .runtime import Generated, Workspace, kernels_called, parts_needed, shared_arguments


def shuffled(total: int, seed: int) -> np.ndarray:
    """The epoch's order of examples: a seeded Fisher-Yates shuffle."""
    from . import kernels
    order = np.arange(total, dtype=np.int64)
    if total > 1:
        kernels.shuffle.fisher_yates(order, np.random.RandomState(seed).randint(0, np.arange(total, 1, -1)))
    return order


def _check_compile_arguments(loss, outputs, optimizer, loc):
    """What sn.compile was given, before anything is built from it."""
    from .optim import OPTIMIZERS, Optimizer
    if not isinstance(loss, Tensor) or loss.shape != ():
        got = f"a tensor of shape {loss.shape}" if isinstance(loss, Tensor) else shown(loss)
        hint = ""
        if isinstance(loss, str):
            named = LOSS_BUILDERS.get(loss.lower())
            hint = (f": staticnet's loss is a tensor built from the outputs, write loss={named}" if named else
                    f": {checks.did_you_mean(loss, LOSS_BUILDERS)}a loss is a tensor such as sn.mse(outputs, labels)")
        raise located(GraphError, "compile", loc, f"loss must be a scalar tensor, got {got}{hint}")
    if not (isinstance(outputs, Tensor) or isinstance(outputs, (list, tuple)) and outputs
            and all(isinstance(t, Tensor) for t in outputs)):
        raise located(GraphError, "compile", loc, f"outputs must be a tensor or a list of tensors, got {shown(outputs)}")
    if not isinstance(optimizer, Optimizer):
        named = OPTIMIZERS.get(optimizer.lower()) if isinstance(optimizer, str) else None
        near = checks.nearest(optimizer, OPTIMIZERS)
        hint = (f"write optimizer=sn.{named.__name__}(lr=...)" if named else
                (f"did you mean sn.{OPTIMIZERS[near].__name__}? " if near else "")
                + "pass one of sn.SGD(lr=...), sn.AdaGrad(), sn.RMSProp(), sn.Adam(), sn.AdamW()")
        raise located(GraphError, "compile", loc, f"optimizer must be an optimizer object, got {shown(optimizer)}: {hint}")


LOSS_BUILDERS = {  # a loss given by name (Keras's or staticnet's) -> the tensor to write instead
    "mse": "sn.mse(outputs, labels)", "mean_squared_error": "sn.mse(outputs, labels)",
    "cross_entropy": "sn.cross_entropy(outputs, labels)", "binary_crossentropy": "sn.cross_entropy(outputs, labels)",
    "categorical_crossentropy": "sn.cross_entropy(softmax outputs, one-hot labels)",
    "softmax_cross_entropy": "sn.softmax_cross_entropy(logits, labels)",
    "sparse_categorical_crossentropy": "sn.softmax_cross_entropy(logits, integer labels)",
    "perceptron_loss": "sn.perceptron_loss(outputs, labels)",
}


def _one_fit_at_a_time(fit):
    """fit refuses to start while the same model's fit runs (called from one of its callbacks, or from another
    thread): the two would train the same weights and number their epochs alike."""
    @functools.wraps(fit)
    def guarded(self, *args, **kwargs):
        if not self._fitting.acquire(blocking=False):  # taken and tested in one step: two threads cannot both pass
            checks.refuse("fit", "this model's fit is already running (fit was called from one of its callbacks, or "
                                 "from another thread); to stop training from a callback, set "
                                 "self.model.stop_training = True, and call fit again after it returns", RuntimeError)
        try:
            return fit(self, *args, **kwargs)
        finally:
            self._fitting.release()
    return guarded


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
        self.one_hot_inputs = [(n.inputs[0], n) for n in graph.nodes if has_trait(n, "takes_labels")
                                and n.inputs[0].op == "input"]
        parameters = Graph([loss] + self.outputs).params
        self._check_unique_names(parameters, "parameter", loc)
        self.trainable = [t for t in Graph(loss).params if t.trainable]
        self.non_trainable = [t for t in parameters if not t.trainable]  # frozen, and state the step writes
        self.id_inputs = [(n.inputs[0], n) for n in graph.nodes
                          if has_trait(n, "takes_ids") and n.inputs[0].op == "input"]
        if not self.trainable:
            which = ("no trainable parameters (every one it depends on is frozen, trainable=False)"
                     if Graph(loss).params else "no parameters")
            raise located(GraphError, "compile", loc, f"the loss depends on {which}: nothing to train")
        self.gradients, gradient_of = gradients(loss, self.trainable, loc)
        self.state_updates = tuple(state_updates_of(Graph(loss).nodes))
        self.update_pairs = tuple(optimizer.updates(self.trainable, self.gradients)) + self.state_updates
        self.training_roots = (loss, *self.outputs) + tuple(value for _, value in self.update_pairs)
        self.notes = StepNotes((loss, *self.outputs), gradient_of, self.update_pairs, optimizer)
        self.state = [optimizer.lr_leaf] + optimizer.state
        self.history = History()
        self.epochs_done = 0
        self.seed = None  # of the shuffle and dropout: epoch e uses seed + e
        self.stopping = None  # the EarlyStopping of the last fit, saved with checkpoints
        self.lr_plateau = None  # the ReduceLROnPlateau of the last fit, saved with checkpoints
        self.stop_training = False  # a callback sets it to stop fit after the current epoch
        self._fitting = threading.Lock()  # held while fit runs: a second fit is refused
        self._bias_gradients = None  # (layer names, compiled function) of learning_speed, made on first use
        self._weighted = None  # the loops reading row weights (sample_weights.CompiledLoops), made on first use
        self._parallel = None  # distributed fit's programs (distributed.DataParallel), made on first use
        self._team = None  # the DataParallel of the fit running, if it is distributed
        self.product_choices = Recorded()  # the routine each product shape ran on, kept in the model's file
        self._compile()

    def __repr__(self):
        """What the model is, in a line: its inputs, outputs, parameter count and optimizer."""
        def listed(tensors):
            return ", ".join(f"{t.name or t.op} {fmt_shape(t.shape)}" for t in tensors)
        count = sum(t.value.size for t in self.trainable)
        return (f"<Model inputs: {listed(self.inputs)}; outputs: {listed(self.as_built[1])}; {count:,} parameters; "
                f"optimizer {self.optimizer!r}>")

    def _repr_html_(self):
        """How a notebook shows the model: its repr, then the summary table."""
        from .summary import summary_text
        return f"<p><code>{html.escape(repr(self))}</code></p><pre>{html.escape(summary_text(self, 32))}</pre>"

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
        self.accuracy_metric = metric  # how the loops count correct rows: (kind, output index, label) or None
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

    def warm_up(self, batch_size: int = 32, loops=("train", "eval", "predict"),
                eval_batch: int | None = None, weighted: bool = False) -> tuple[float, bool]:
        """Compile these loops now (each is compiled on its first call, with the kernels it calls), on
        empty data; returns (seconds, whether every one came from the on-disk cache).

        The training loop is made ready for batches of `batch_size` rows, the evaluation and prediction loops
        for `eval_batch` (default: batch_size): a product that is cut among the threads needs parts that are
        compiled only for the batch sizes large enough to cut it (runtime.part_addresses), and evaluate and
        predict run 1000 rows at a time where training runs a few.  `weighted`: the training loop is the one
        reading row weights (sample_weights.py)."""
        eval_batch = eval_batch or batch_size
        started = time.perf_counter()
        train_inputs = self._loops(weighted).inputs
        empty = [np.empty((1,) + tuple(t.shape[1:]), t.dtype) for t in train_inputs]
        addresses = [a.ctypes.data for a in empty]
        features = [a for a, t in zip(addresses, self.inputs) if t in self.features]
        results = [np.empty((1,) + tuple(t.shape[1:]), t.dtype) for t in self.outputs]
        order = np.zeros(1, np.int64)
        calls = {  # no rows: total, start and stop 0
            "train": lambda: self._run("train_epoch", batch_size, weighted=weighted, data=addresses, total=0,
                                       order=order.ctypes.data, seed=0, start=0, stop=0, batch=batch_size),
            "eval": lambda: self._run("eval_epoch", eval_batch, data=addresses[:len(self.inputs)], total=0, start=0,
                                      stop=0, batch=eval_batch),
            "predict": lambda: self._run("predict_all", eval_batch, data=features,
                                         results=[r.ctypes.data for r in results], total=0, batch=eval_batch),
        }
        for loop in loops:
            calls[loop]()
        cached = all(self._loops(weighted and loop == "train").generated.from_cache(self.LOOPS[loop])
                     for loop in loops)
        return time.perf_counter() - started, cached

    LOOP_NAMES = {"train": "training", "eval": "evaluation", "predict": "prediction"}

    def _prepare(self, batch_size: int, validation_rows: int | None, verbose, weighted: bool = False) -> None:
        """Compile (or load) every loop the epochs of a fit will run, at the batch sizes they will run at,
        saying so on stderr first: on a first run this is the wait, and none of it then falls into the first
        epoch's time (the evaluation of the validation data, 1000 rows at a time, needed parts of products
        that training's small batches did not).  `weighted`: training reads row weights."""
        loops = self.fit_loops(batch_size, validation_rows)
        missing = [loop for loop, batch in loops.items() if not self._ready(loop, batch, weighted and loop == "train")]
        if not missing:
            return
        names = [self.LOOP_NAMES[loop] for loop in missing]
        what = f"{' and '.join(names)} loop{'s' if len(names) > 1 else ''}"
        if verbose:
            print(f"compiling the {what}...", end="\r" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
        seconds, cached = self.warm_up(batch_size, loops=missing, eval_batch=loops.get("eval"), weighted=weighted)
        if verbose:
            them = "them" if len(names) > 1 else "it"
            print(f"{what} ready in {seconds:.1f} s "
                  f"({'loaded from the cache' if cached else f'compiled; later runs load {them} from the cache'})",
                  file=sys.stderr)

    def fit_loops(self, batch_size: int, validation_rows: int | None) -> dict[str, int]:
        """The loops a fit's epochs run, each with the batch it runs at: training at batch_size; with validation
        data, evaluation in batches of evaluation_batch rows, and prediction too for a regression metric."""
        loops = {"train": batch_size}
        if validation_rows is not None:
            loops["eval"] = self.evaluation_batch(validation_rows)
            if any(metric_rules.from_predictions(m) for m in self.metrics):
                loops["predict"] = loops["eval"]
        return loops

    def _ready(self, loop: str, batch: int, weighted: bool = False) -> bool:
        """Whether running `loop` on batches of `batch` rows would compile nothing: the loop is compiled, and so
        are the parts of products that this batch size cuts among the threads (shared by every model)."""
        function, compiled = self.LOOPS[loop], self._loops(weighted)
        parts = parts_needed(compiled.steps[self.STEP_OF[function]], batch)
        return compiled.generated.compiled(function) and all(kernel_layer.loaded(part) for part in parts)

    @staticmethod
    def evaluation_batch(rows: int, batch_size: int = 1000) -> int:
        """The batch evaluate and predict run `rows` rows in."""
        return min(batch_size, rows)

    def _run(self, function: str, capacity: int, weighted: bool = False, **groups):
        """Call a generated loop with these parameter groups (its data and bounds) and the shared ones of its
        step (parameters, buffers for batches of up to `capacity` rows, threads, sizes); `weighted`: the loop
        whose step reads row weights, after the inputs' data."""
        compiled, step = self._loops(weighted), self.STEP_OF[function]
        shared = shared_arguments(compiled.steps[step], compiled.workspaces[step], capacity, compiled.generated.report,
                                  self.product_choices)
        return compiled.generated(function, **groups, **shared)

    def _loops(self, weighted: bool) -> sample_weights.CompiledLoops:
        """The model's compiled loops, or those reading row weights (built and compiled on first use)."""
        if not weighted:
            return sample_weights.CompiledLoops(self.inputs, self.steps, self.generated, self.workspaces)
        if self._weighted is None:
            self._weighted = sample_weights.weighted_loops(self)
        return self._weighted

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
        check_ids(self.id_inputs, nodes, given, what)
        if check_values:
            check_finite(nodes, arrays, given, what)
        return arrays

    def _monitors(self, has_validation: bool) -> list[str]:
        """The scores every epoch records, which early stopping may watch."""
        scores = ["loss"] + (["accuracy"] if "accuracy" in self.metrics else [])
        return scores + (["val_loss"] + [f"val_{m}" for m in self.metrics] if has_validation else [])

    # ------------------------------------------------------------ training
    @_one_fit_at_a_time
    def fit(self, x=None, y=None, *, epochs: int = 1, batch_size: int = 32, validation=None, validation_data=None,
            validation_split: float | None = None, early_stopping=None, shuffle: bool = True, seed: int | None = None,
            verbose: int = 1, checkpoint: str | None = None, resume: str | None = None,
            initial_epoch: int | None = None, check_data: bool = True, callbacks=None, nan_guard: bool = True,
            track=None, track_data=None, sample_weight=None, class_weight=None, distributed: bool = False,
            mode: str | None = None, sync_every: int | None = None) -> History:
        """Train `epochs` more epochs (Keras's meaning) and return the history of every epoch so far.

        The data: a dict keyed by input name, or the Keras way, x and y as arrays (fit(X, Y)) or (x, y), which
        go to the one feature input and the one label input (staticnet/keras_data.py).  validation (or its Keras
        name validation_data) takes the same forms; validation_split=0.1 holds out the last 10% of the rows, as
        given, before any shuffling, as Keras does.

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
            optimizer to continue from, exactly (early stopping's state included).  The two may be one file:
            it is read before the first epoch and replaced whole after each.
        check_data: scan the training and validation data for NaN and infinities first (False skips the scan,
            for speed); labels are always checked against their one_hot classes.
        callbacks: sn.callbacks.Callback objects, run between epochs (staticnet/callbacks.py); early stopping
            runs first and checkpoints last, so that a checkpoint holds every callback's state of its epoch.  A Ctrl-C during the training
            or the validation stops fit keeping the weights (history.interrupted); one while the epoch's
            callbacks run waits for them (a checkpoint's save) to finish, then stops the same way.
        nan_guard: stop at the first step whose loss or weights are not finite with a NumericalError naming
            the epoch, the step and the first node that produced such a value (its op, shape and line), and
            keep the weights from before that step (staticnet/nan_guard.py); False trains regardless.
        track: ["learning_speed"] records each layer's learning_speed(track_data) after every epoch, as
            history["learning_speed/<layer>"] (staticnet/learning_speed.py).
        sample_weight: one weight >= 0 per row of the training data; class_weight: {class: weight} (classes left
            out weigh 1), each row weighted by its label's class; given both, a row's weight is the product.  A
            batch of n rows then costs 1/n sum_i w_i C_i, as in Keras (staticnet/sample_weights.py); with
            validation_split the weights of the held-out rows are set aside with them.
        distributed: train with every process of an MPI job (mpiexec -n N) on shares of each batch, in `mode`
            "exact" (the default: the same bits for any rank count) or "fast" (MPI's own sum), or with
            sync_every=H as local SGD (weights averaged every H steps); rank 0 alone prints and writes
            (staticnet/distributed.py).  mode="exact" without distributed runs exact mode's steps in this one
            process, with no MPI: the bits of a distributed fit on any number of ranks, where fit's own step (the
            default) folds the update into the weight-gradient product and sums in another order.
        """
        epochs = checks.count("fit", "epochs", epochs, minimum=0, error=ArgumentError)
        batch_size = checks.count("fit", "batch_size", batch_size, error=ArgumentError)
        if seed is not None:
            seed = checks.count("fit", "seed", seed, minimum=0, error=ArgumentError)
        if initial_epoch is not None:
            if resume is not None:
                checks.refuse("fit", "give resume= or initial_epoch=, not both (resume starts at the checkpoint's "
                                     "epoch)", ArgumentError)
            initial_epoch = checks.count("fit", "initial_epoch", initial_epoch, minimum=0, error=ArgumentError)
        if not isinstance(nan_guard, bool):
            checks.refuse("fit", f"nan_guard must be True or False, got {shown(nan_guard)}", ArgumentError)
        team = self._data_parallel(distributed, mode, sync_every)
        if team and team.rank:
            verbose = 0
        validation = keras_data.validation_feeds(self, validation, validation_data)
        split = keras_data.check_split(validation_split, validation is not None)
        arrays = self._data(keras_data.as_feeds(self, x, y, "fit", "training data"), self.inputs, "training data",
                            check_values=check_data)
        val_arrays = (self._data(validation, self.inputs, "validation data", check_values=check_data)
                      if validation is not None else None)
        weights = sample_weights.row_weights(self, arrays, sample_weight, class_weight, "fit")
        if team and weights is not None:
            checks.refuse("fit", "distributed=True does not take sample_weight or class_weight yet", ArgumentError)
        if split is not None:
            arrays, val_arrays = keras_data.split_off(arrays, split)
            if weights is not None:
                weights = keras_data.split_off([weights], split)[0][0]
        monitors = self._monitors(val_arrays is not None)
        default_monitor = "val_accuracy" if "accuracy" in self.metrics else "val_loss"
        given = callback_rules.checked(callbacks)
        tracker = check_tracking(self, track, track_data, check_data)
        stopping = self._early_stopping(EarlyStopping.from_spec(early_stopping, monitors, default_monitor), given)
        if checkpoint is not None:  # it may be the resume file: read first, then replaced atomically each epoch
            checks.output_file("fit", "checkpoint", checkpoint)
            given.append(ModelCheckpoint(checkpoint))
        if team:
            given = [c for c in given if team.runs_here(c)]
        checkpoints = {"a ModelCheckpoint path": c.path for c in given if isinstance(c, ModelCheckpoint)}
        for logger in (c for c in given if isinstance(c, CSVLogger)):
            checks.output_file("fit", "CSVLogger path", logger.path, {"resume": resume, **checkpoints})
        # early stopping first and checkpoints last, so that a checkpoint holds every callback's state of its epoch
        others = [c for c in given if c is not stopping and not isinstance(c, ModelCheckpoint)]
        hooks = callback_rules.CallbackList(([tracker] if tracker else []) + ([stopping] if stopping else []) + others
                                            + [c for c in given if isinstance(c, ModelCheckpoint)])
        total = arrays[0].shape[0]
        steps = math.ceil(total / batch_size)
        for callback in hooks.callbacks:
            callback.set_model(self)
            callback.set_params({"epochs": epochs, "batch_size": batch_size, "steps": steps, "verbose": verbose,
                                 "monitors": monitors, "default_monitor": default_monitor})
        plateau = next((c for c in given if isinstance(c, ReduceLROnPlateau)), None)
        if resume is not None:
            from .serialize import restore_checkpoint
            saved = restore_checkpoint(self, resume)
            if stopping and saved.early_stopping:
                stopping.resume_from(*saved.early_stopping)
            if plateau and saved.lr_plateau:
                plateau.resume_from(saved.lr_plateau)
        self.stopping, self.lr_plateau = stopping, plateau
        self.history.interrupted, self.history.stopped_early_at, self.history.best_epoch = False, None, None
        self.history.numerical_error = None
        first, final = self._epoch_span(epochs, initial_epoch, resumed=resume is not None)
        if stopping and stopping.exhausted:  # resumed from the checkpoint of the epoch where the run stopped
            self.history.stopped_early_at, final = first, first
        if seed is not None:
            self.seed = seed
        elif self.seed is None:
            self.seed = int(init.generator().integers(2**31))
        if weights is not None:
            arrays = arrays + [weights]  # the weighted training loop reads them after the inputs
        guard = NanGuard(self, arrays, batch_size) if nan_guard and not team else None
        if guard:
            guard.check_before_training()
        training = self._loops(weights is not None)
        chooser = (threads.chooser_for((training.generated.path, batch_size))
                   if threads_matter(training.steps["train"].plan, batch_size) and not team else None)
        chunk_steps = max(1, math.ceil(steps / 50)) if verbose or chooser else steps
        progress = Progress(enabled=verbose > 0)
        if final > first:  # compile now, so that neither an epoch's time nor the thread chooser's timings include it
            self._prepare(batch_size, None if val_arrays is None else val_arrays[0].shape[0], verbose,
                          weighted=weights is not None)
        self.stop_training = False
        self._team = team
        try:
            with team.aborting_on_error() if team and team.launched else contextlib.nullcontext():
                if team:
                    team.broadcast_weights()
                return self._epochs(hooks, first, final, arrays, val_arrays, total, shuffle, batch_size, chunk_steps,
                                    chooser, guard, progress)
        finally:
            self._team = None
            hooks.call("close")

    def _data_parallel(self, distributed, mode, sync_every):
        """fit's distributed training (staticnet/distributed.py), or None; its programs are made on first use."""
        if not isinstance(distributed, bool):
            checks.refuse("fit", f"distributed must be True or False, got {shown(distributed)}", ArgumentError)
        if not distributed:
            if sync_every is not None or mode == "fast":
                what = "sync_every" if sync_every is not None else "mode='fast'"
                checks.refuse("fit", f"{what} is an option of distributed training: give distributed=True too "
                                     "(mode='exact' alone runs exact mode's steps in this process)", ArgumentError)
            if mode is None:
                return None
        from . import distributed as mpi
        mode, sync_every = mpi.check_options(mode or "exact", sync_every)
        comm = mpi.world() if distributed else mpi.ONE_PROCESS
        if self._parallel is None or self._parallel.comm is not comm:
            self._parallel = mpi.DataParallel(self, comm)
        self._parallel.mode, self._parallel.sync_every = mode, sync_every
        return self._parallel

    def _epochs(self, hooks, first, final, arrays, val_arrays, total, shuffle, batch_size, chunk_steps, chooser,
                guard, progress):
        """fit's epochs first to final, between on_train_begin and on_train_end."""
        hooks.call("on_train_begin", {})
        for epoch in range(first, final):
            if self.stop_training:
                break
            self.optimizer.start_epoch(epoch)
            hooks.call("on_epoch_begin", epoch, {})
            epoch_seed = (self.seed + epoch) % 2**32
            order = shuffled(total, epoch_seed) if shuffle else np.arange(total, dtype=np.int64)
            started = time.perf_counter()
            progress.start(f"epoch {epoch + 1}/{final}", total)
            try:
                loss_sum, correct, rows_on = self._train_epoch(arrays, order, epoch_seed, batch_size, chunk_steps,
                                                               chooser, guard, epoch, progress)
                if val_arrays is not None:
                    val_scores = self._evaluate_arrays(val_arrays)
            except KeyboardInterrupt:
                progress.finish(["interrupted: keeping the weights trained so far"])
                self.history.interrupted = True
                break
            except NumericalError as error:
                progress.finish(["diverged: the NaN guard stopped training"])
                self.history.numerical_error = error
                raise
            record = {"epoch": epoch + 1, "loss": loss_sum / total, **self.optimizer.epoch_record()}
            if self.has_accuracy:
                record["accuracy"] = correct / total
            if val_arrays is not None:
                record.update({f"val_{k}": v for k, v in val_scores.items()})
            record["seconds"] = time.perf_counter() - started
            if rows_on:
                record["threads"] = max(rows_on, key=rows_on.get)  # the count that trained most rows
            self.history.epochs.append(record)
            self.epochs_done = epoch + 1
            progress.finish(*self._record_fields(record))
            if self._end_epoch(hooks, epoch, record, progress):
                self.history.interrupted = True
                break
            if self.stop_training:
                self.history.stopped_early_at = epoch + 1
        hooks.call("on_train_end", {})
        return self.history

    @staticmethod
    def _end_epoch(hooks, epoch, record, progress) -> bool:
        """Run the callbacks that end an epoch (a checkpoint's save among them) with Ctrl-C held until they are
        done (staticnet/interrupts.py); whether a Ctrl-C came, which stops fit as one during the epoch does."""
        try:
            with interrupts_held() as held:
                hooks.epoch_end(epoch, record)
        except KeyboardInterrupt:  # a second Ctrl-C, or one that could not be held: a save under way was abandoned
            progress.finish(["interrupted during its callbacks: a checkpoint being written keeps its last contents"])
            return True
        if held.interrupted:
            progress.finish(["interrupted: stopped once its callbacks were done"])
        return held.interrupted

    def _early_stopping(self, from_spec, callbacks):
        """The one early stopping of a fit: from early_stopping=, or an EarlyStopping among the callbacks."""
        found = [c for c in callbacks if isinstance(c, EarlyStopping)] + ([from_spec] if from_spec else [])
        if len(found) > 1:
            checks.refuse("fit", "give one early stopping: early_stopping= or one EarlyStopping in callbacks=, "
                                 f"not {len(found)}", ArgumentError)
        return found[0] if found else None

    def _train_epoch(self, arrays, order, epoch_seed, batch_size, chunk_steps, chooser, guard, epoch, progress):
        """One epoch in compiled chunks of steps: (loss sum, number correct, rows trained per thread count).
        Between chunks: the thread chooser's timing, the NaN guard's check, the progress bar."""
        if self._team:
            return (*self._team.train_epoch(arrays, order, epoch_seed, batch_size, progress, self._metrics_text,
                                            epoch), {})
        total = arrays[0].shape[0]
        loss_sum, correct, done, rows_on, last = 0.0, 0, 0, {}, None
        step_seconds = 0.0  # on the fixed thread count, from the last chunk (the chooser times its counts itself)
        if guard:
            guard.start_epoch(epoch, order, epoch_seed)
        while done < total:
            count = chooser.choose() if chooser else None
            # the first step on several threads after another count (or at an epoch's start) runs untimed, as a
            # chunk of its own: it pays for waking those threads (and, the first time, for their first touch of
            # the buffers), which timed made two threads lose to one they beat by 1.3x (threads.py, WARM_UP_STEPS)
            warming = chooser is not None and count != last and count > 1
            if warming:
                steps = threads.WARM_UP_STEPS
            elif chooser:
                steps = chooser.steps(count, chunk_steps, batch_size)
            else:
                steps = threads.lasting(chunk_steps, step_seconds)
            stop = min(total, done + steps * batch_size)
            chunk_started = time.perf_counter()
            part_loss, part_correct = self._train_rows(arrays, order, epoch_seed, done, stop, batch_size, count)
            seconds = time.perf_counter() - chunk_started
            if chooser:
                if not warming:
                    chooser.record(count, seconds, stop - done)
                rows_on[count] = rows_on.get(count, 0) + stop - done
                last = count
            else:
                step_seconds = seconds * batch_size / (stop - done)
            if guard:
                guard.after_chunk(done, stop, count, part_loss)
            loss_sum, correct, done = loss_sum + part_loss, correct + part_correct, stop
            progress.update(done, self._metrics_text(loss_sum / done, correct / done))
        if guard:
            guard.end_epoch()
        return loss_sum, correct, rows_on

    def _train_rows(self, arrays, order, epoch_seed, start, stop, batch_size, count):
        """The compiled training loop over rows [start, stop) of the epoch's order, on `count` threads (None:
        as set): (loss sum, number correct).  The one place fit and the NaN guard's replay run it.  `arrays`
        holds one array per input, and the row weights after them when the fit is weighted."""
        weighted = len(arrays) > len(self.inputs)
        with flushed_to_zero(), threads.blas_restored(), threads.using(count):
            return self._run("train_epoch", batch_size, weighted=weighted, data=[a.ctypes.data for a in arrays],
                             total=arrays[0].shape[0], order=order.ctypes.data, seed=epoch_seed, start=start,
                             stop=stop, batch=batch_size)

    def _epoch_span(self, epochs, initial_epoch, resumed) -> tuple[int, int]:
        """(epochs done before this fit, the last epoch it trains): `epochs` more after those done, or, with
        initial_epoch or a resumed checkpoint, up to epoch `epochs` (Keras's "final epoch")."""
        if initial_epoch is None and not resumed:
            return self.epochs_done, self.epochs_done + epochs
        first = self.epochs_done if resumed else initial_epoch
        if epochs < first:
            checks.refuse("fit", f"epochs={epochs} is the final epoch with {'resume' if resumed else 'initial_epoch'}= "
                                 f"(as in Keras), but training would start after epoch {first}", ArgumentError)
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
            batch = checks.count("learning_speed", "batch", batch, error=ArgumentError)
        data = keras_data.as_feeds(self, data, None, "learning_speed", "learning_speed data")
        return speeds(self, self._data(data, self.inputs, "learning_speed data", check_values=True), batch)

    @property
    def parameters(self) -> list:
        """Every parameter of the graph: the trainable ones, then the frozen ones and the state the step writes."""
        return self.trainable + self.non_trainable

    def _snapshot(self):
        return {t.name: t.value.copy() for t in self.parameters + self.state}

    def _restore(self, snapshot):
        for t in self.parameters + self.state:
            t.value[...] = snapshot[t.name]

    # ------------------------------------------------------------ evaluation and prediction
    def evaluate(self, x=None, y=None, *, batch_size: int = 1000, sample_weight=None) -> dict:
        """{"loss": the mean loss, and each metric: "accuracy" (the fraction correct), "mse", "mae"} over all
        rows of the data: a dict keyed by input name, (x, y), or x and y as arrays (as fit takes them).
        sample_weight: one weight per row; the loss is then sum_i w_i C_i / N as fit weighs it, and the metrics
        stay unweighted (as Keras's metrics=, apart from its weighted_metrics=)."""
        batch_size = checks.count("evaluate", "batch_size", batch_size, error=ArgumentError)
        data = keras_data.as_feeds(self, x, y, "evaluate", "evaluation data")
        arrays = self._data(data, self.inputs, "evaluation data")
        return self._evaluate_arrays(arrays, batch_size,
                                     sample_weights.row_weights(self, arrays, sample_weight, None, "evaluate"))

    def _evaluate_arrays(self, arrays, batch_size=1000, weights=None):
        total = arrays[0].shape[0]
        batch = self.evaluation_batch(total, batch_size)
        data = [a.ctypes.data for a in arrays] + ([weights.ctypes.data] if weights is not None else [])

        def sums(start, stop):
            return self._run("eval_epoch", batch, weighted=weights is not None, data=data, total=total, start=start,
                             stop=stop, batch=batch)
        with flushed_to_zero(), threads.blas_restored():  # a distributed fit's validation is shared among its ranks
            loss_sum, correct = self._team.evaluate(sums, total, batch) if self._team else sums(0, total)
        scores = {"loss": loss_sum / total}
        if self.has_accuracy:
            scores["accuracy"] = correct / total
        from_predictions = [m for m in self.metrics if metric_rules.from_predictions(m)]
        if from_predictions:
            prediction, target = self._predictions_and_target(arrays, batch_size)
            kind = metric_kind(self.outputs[0], self.labels[0])
            scores.update(metric_rules.prediction_scores(from_predictions, prediction, target, kind))
        return scores

    def _predictions_and_target(self, arrays, batch_size):
        """(the first output, the first label) over the rows of `arrays` (one per input): one pass of predict."""
        features = [a for a, t in zip(arrays, self.inputs) if t in self.features]
        return self._predict_arrays(features, batch_size)[0], arrays[self.inputs.index(self.labels[0])]

    def confusion_matrix(self, x=None, y=None, *, batch_size: int = 1000) -> np.ndarray:
        """counts[i, j]: the rows of class i that the model predicts as class j (scikit-learn's layout), over
        the data (as evaluate takes it); a classifier's first output, its classes as accuracy counts them (the
        largest score, or one output > 0.5: two classes)."""
        batch_size = checks.count("confusion_matrix", "batch_size", batch_size, error=ArgumentError)
        kind = metric_kind(self.outputs[0], self.labels[0] if self.labels else None)
        if kind is None:
            checks.refuse("confusion_matrix", f"a confusion matrix needs class scores and a label; the output is "
                                              f"{fmt_shape(self.outputs[0].shape)} and the model has "
                                              f"{'a label' if self.labels else 'no label'} to compare it with",
                          ArgumentError)
        data = keras_data.as_feeds(self, x, y, "confusion_matrix", "data")
        arrays = self._data(data, self.inputs, "confusion matrix data")
        return metric_rules.confusion(*self._predictions_and_target(arrays, batch_size), kind)

    def predict(self, x, *, batch_size: int = 1000):
        """The outputs for every row of `x` (a dict keyed by input name, or the array itself)."""
        batch_size = checks.count("predict", "batch_size", batch_size, error=ArgumentError)
        inputs = keras_data.as_feeds(self, x, None, "predict", "prediction inputs", with_labels=False)
        results = self._predict_arrays(self._data(inputs, self.features, "prediction inputs"), batch_size)
        return results[0] if self.single_output else results

    def _predict_arrays(self, arrays, batch_size):
        total = arrays[0].shape[0]
        batch = self.evaluation_batch(total, batch_size)
        results = [np.empty(tuple(total if d is None else d for d in t.shape), t.dtype) for t in self.outputs]
        with flushed_to_zero(), threads.blas_restored():
            self._run("predict_all", batch, data=[a.ctypes.data for a in arrays], results=[r.ctypes.data for r in results],
                      total=total, batch=batch)
        return results

    # ------------------------------------------------------------ parameters
    @property
    def params(self) -> "ParamView":
        return ParamView(self.parameters)

    def save(self, path: str) -> None:
        from .serialize import save_model
        save_model(self, path)

    def export_onnx(self, path: str, opset: int | None = None) -> None:
        """Write the prediction graph (the outputs from the features, dropout removed, the current weights) as
        an ONNX model; see sn.export_onnx.  Needs the onnx package: pip install onnx."""
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
        batch = keras_data.as_feeds(self, batch, None, "gradcheck", "gradcheck batch")
        arrays = self._data(batch, self.inputs, "gradcheck batch", check_values=True)
        return check_model(self, arrays, eps, rtol, atol, max_elements, print_fn)

    def summary(self, batch_size: int = 32, print_fn=print):
        """A Keras-like table: each layer's name, ops, output shape, parameter count and the fused kernels of
        the training step its work ended up in, then the totals (parameters, FLOPs per example, the workspace
        at `batch_size`); staticnet/summary.py says how layers and kernels are matched.  Printed with print_fn,
        line by line (None: not printed), and returned as a Summary, whose str is the text."""
        from .summary import Summary, summary_text
        batch_size = checks.count("summary", "batch_size", batch_size, error=ArgumentError)
        text = summary_text(self, batch_size)
        if print_fn is not None:
            for line in text.splitlines():
                print_fn(line)
        return Summary(text)


class ParamView(MutableMapping):
    """Parameters by name, as NumPy arrays (the live ones: writing into one changes the model); assigning copies
    into the live array (shape checked).  A MutableMapping, so keys, values, items, get, `in`, len and update
    work as on a dict; a model's parameters are fixed by its graph, so deleting one is refused."""

    def __init__(self, leaves):
        self._leaves = {t.name: t for t in leaves}

    def __getitem__(self, name):
        return self._leaf(name).value

    def __setitem__(self, name, value):
        leaf = self._leaf(name)
        value = np.asarray(value, dtype=leaf.dtype)
        if value.shape != leaf.shape:
            raise ArgumentError(f"parameter {name!r} has shape {leaf.shape}, got an array of shape {value.shape}")
        leaf.value[...] = value

    def _leaf(self, name):
        """The parameter called `name`, or UnknownName listing the names closest to it (or all of them)."""
        if name in self._leaves:
            return self._leaves[name]
        names = list(self._leaves)
        by_lower = {n.lower(): n for n in reversed(names)}  # matched regardless of case: 'dense1/w' finds 'dense1/W'
        close = ([by_lower[n] for n in difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.5)]
                 if isinstance(name, str) else [])
        listed = (f"did you mean {' or '.join(repr(n) for n in close)}?" if close else
                  f"the parameters are {', '.join(repr(n) for n in names)}")
        raise UnknownName(f"the model has no parameter {name!r}; {listed}")

    def __delitem__(self, name):
        self._leaf(name)
        raise TypeError(f"parameter {name!r} cannot be deleted: a model's parameters are those of its graph")

    def __iter__(self):
        return iter(self._leaves)

    def __len__(self):
        return len(self._leaves)

    def __repr__(self):
        return "ParamView({" + ", ".join(f"{k!r}: {fmt_shape(t.shape)}" for k, t in self._leaves.items()) + "})"


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
