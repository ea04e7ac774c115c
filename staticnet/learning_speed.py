"""Each layer's speed of learning (Nielsen, chapter 5): the length of the average over the examples of dC/db^l.

dC/db^l is the layer's error delta^l, so this length says how fast gradient descent moves the layer; in a deep
sigmoid network it shrinks toward the input (the vanishing gradient problem) and with large weights it can grow
(the exploding one).  The gradient of a batch-mean cost with respect to a bias is already the average of the
examples' gradients, so the measure is the model's own backward pass, compiled on the Numba backend with only
the bias gradients as outputs; data fed in several batches is averaged with each batch weighted by its rows.
"""
from __future__ import annotations

import numpy as np

from . import checks, keras_data
from .errors import ArgumentError
from .callbacks import Callback
from .graph import topological

TRACKABLE = ("learning_speed",)
HISTORY_PREFIX = "learning_speed/"


def bias_layers(model) -> list[tuple[str, object]]:
    """(layer name, bias parameter) of every layer with a bias (the parameter "<layer>/b" its builder made:
    sn.dense, sn.conv2d and sn.rnn), in order along the graph from the inputs to the outputs."""
    trained = {t.id for t in model.trainable}
    return [(t.layer, t) for t in topological(model.outputs)
            if t.op == "param" and t.id in trained and t.layer is not None and t.name == f"{t.layer}/b"]


def bias_gradient_function(model):
    """The compiled function from the model's inputs to the gradient of its loss with respect to each layer's
    bias, made on first use and kept on the model; refused where no layer has a bias."""
    if model._bias_gradients is None:
        layers = bias_layers(model)
        if not layers:
            checks.refuse("learning_speed", "the model has no layer with a bias (a parameter named '<layer>/b', as "
                                            "sn.dense makes): there is no speed of learning to measure", ArgumentError)
        from .runtime import CompiledFunction
        gradient_of = {t.id: g for t, g in zip(model.trainable, model.gradients)}
        model._bias_gradients = ([name for name, _ in layers],
                                 CompiledFunction(model.inputs, [gradient_of[b.id] for _, b in layers]))
    return model._bias_gradients


def speeds(model, arrays: list[np.ndarray], batch: int | None = None) -> dict[str, float]:
    """layer -> ||mean over the rows of `arrays` of dC/db^l||, computed `batch` rows per call (None: all)."""
    names, gradients = bias_gradient_function(model)
    total = arrays[0].shape[0]
    step = total if batch is None else batch
    sums = None
    for start in range(0, total, step):
        rows = slice(start, min(total, start + step))
        weight = (rows.stop - rows.start) / total
        means = [weight * np.asarray(g, np.float64) for g in gradients(*[a[rows] for a in arrays])]
        sums = means if sums is None else [s + m for s, m in zip(sums, means)]
    return {name: float(np.linalg.norm(s)) for name, s in zip(names, sums)}


def check_tracking(model, track, track_data, check_values: bool):
    """fit's `track` and `track_data`, checked before training: the callback recording what is tracked, or None."""
    if track is None or track == []:
        if track_data is not None:
            checks.refuse("fit", "track_data is given but track is not: pass track=['learning_speed'] as well",
                          ArgumentError)
        return None
    names = [track] if isinstance(track, str) else track
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        checks.refuse("fit", f"track must be a list of names from {list(TRACKABLE)}, got {checks.shown(track)}",
                      ArgumentError)
    unknown = [n for n in names if n not in TRACKABLE]
    if unknown:
        checks.refuse("fit", f"track={list(names)!r}: cannot track {unknown[0]!r}; it can track {list(TRACKABLE)}",
                      ArgumentError)
    if track_data is None:
        checks.refuse("fit", "track=['learning_speed'] needs track_data=..., the examples to measure it on (the "
                             "book uses the first 1,000 training images)", ArgumentError)
    track_data = keras_data.as_feeds(model, track_data, None, "fit", "track_data")
    arrays = model._data(track_data, model.inputs, "track_data", check_values=check_values)
    bias_gradient_function(model)  # compiled, or refused for a model without biases, before any step
    return LearningSpeedTracker(arrays)


class LearningSpeedTracker(Callback):
    """After every epoch, each layer's speed of learning on fixed examples, into the epoch's record as
    "learning_speed/<layer>"; fit runs it before the other callbacks, so that they see it."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays

    def on_epoch_end(self, epoch, logs=None):
        for layer, speed in speeds(self.model, self.arrays).items():
            logs[HISTORY_PREFIX + layer] = speed
