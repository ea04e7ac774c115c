"""Which scores a model reports besides its loss, and the regression scores themselves.

Accuracy is counted inside the compiled loops (codegen/loops.py), on the training batches as they
pass and on the evaluation data.  mse and mae are computed here with NumPy from the model's
outputs (`predict`), so they need no generated code: after each epoch on the validation data, and
by `evaluate`.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import GraphError
from .graph import Tensor, fmt_shape, located, topological
from .registry import has_trait

METRICS = ("accuracy", "mse", "mae")
REGRESSION_METRICS = ("mse", "mae")


def is_classifier(output: Tensor, loss: Tensor) -> bool:
    """Whether the output scores classes: a sigmoid, softmax or step unit, or logits trained by a cross-entropy."""
    if has_trait(output, "classifier_output"):
        return True
    return any(has_trait(n, "cross_entropy_of") and n.inputs[0] is output for n in topological(loss))


def resolve(metrics, output: Tensor, label: Tensor | None, loss: Tensor, accuracy_kind, loc: str) -> tuple:
    """The metrics a model reports: by default (None) accuracy where the output is a classifier, else none;
    otherwise the names asked for, each checked to make sense for this output and label.
    `accuracy_kind` is how the compiled loops would count correct rows (None: they cannot)."""
    if metrics is None:
        return ("accuracy",) if accuracy_kind and is_classifier(output, loss) else ()
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    for name in names:
        if name not in METRICS:
            raise located(GraphError, "compile", loc, f"unknown metric {name!r}; valid metrics: {', '.join(METRICS)}")
    if "accuracy" in names and not accuracy_kind:
        raise located(GraphError, "compile", loc, f"accuracy needs class scores of shape (batch, classes) or (batch,) "
                                                  f"and a label to compare them with; the output is "
                                                  f"{fmt_shape(output.shape)}, the label "
                                                  f"{fmt_shape(label.shape) if label is not None else 'missing'}")
    regression = [n for n in names if n in REGRESSION_METRICS]
    if regression and (label is None or label.dtype.kind != "f" or _per_example(label) != _per_example(output)):
        given = f"{label.name!r} {fmt_shape(label.shape)} {label.dtype}" if label is not None else "none"
        raise located(GraphError, "compile", loc, f"{regression[0]} compares the output {fmt_shape(output.shape)} with "
                                                  f"a float label of as many values per example; the label is {given}")
    return tuple(dict.fromkeys(names))


def _per_example(t: Tensor) -> int:
    return math.prod(d for d in t.shape if d is not None)


def regression_scores(metrics, prediction: np.ndarray, target: np.ndarray) -> dict:
    """mse (the mean of the squared differences) and mae (of the absolute ones) over every value, as asked."""
    difference = prediction.reshape(len(prediction), -1).astype(np.float64) - target.reshape(len(target), -1)
    formulas = {"mse": lambda d: np.mean(np.square(d)), "mae": lambda d: np.mean(np.abs(d))}
    return {name: float(formulas[name](difference)) for name in metrics if name in formulas}
