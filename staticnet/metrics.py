"""Which scores a model reports besides its loss, and the scores computed from predictions.

Accuracy is counted inside the compiled loops (codegen/loops.py), on the training batches as they
pass and on the evaluation data.  The others are computed here with vectorised NumPy from one pass of
the model's outputs (`predict`), so they need no generated code: after each epoch on the validation
data (val_precision, ...), and by `evaluate`.

- mse and mae: the mean squared and absolute differences over every value.
- precision, recall and f1 follow scikit-learn's definitions: for two classes (a sigmoid output, or a
  two-unit softmax) those of class 1, scikit-learn's average="binary"; for more classes macro-averaged
  (the mean over the classes present in the labels or the predictions).  `Precision(average="micro" |
  "macro" | "weighted")` (and Recall, F1) choose another average; their name in the records is
  "precision_micro" and so on.  A class never predicted has precision 0 (scikit-learn's zero_division).
- top_k_accuracy (k=5; `TopK(k)` for another k, named "top_<k>_accuracy"): the fraction of rows whose
  label's score is among the k largest of the row.

A row whose prediction holds a NaN is predicted as no class: wrong for accuracy, a miss for recall.
"""
from __future__ import annotations

import math
import re

import numpy as np

from .checks import did_you_mean
from .codegen.loops import BINARY, CLASS_INDEX, ONE_HOT_ROWS
from .errors import ArgumentError, GraphError
from .graph import Tensor, fmt_shape, located, topological
from .registry import has_trait

METRICS = ("accuracy", "mse", "mae", "precision", "recall", "f1", "top_k_accuracy")
REGRESSION_METRICS = ("mse", "mae")
CLASS_METRICS = ("precision", "recall", "f1")
AVERAGES = ("macro", "micro", "weighted")
DEFAULT_K = 5
_CLASS_NAME = re.compile(r"(precision|recall|f1)(?:_(macro|micro|weighted))?")
_TOP_K_NAME = re.compile(r"top_(\d+)_accuracy")


class Metric:
    """A metric given as an object, for the choices a name's default does not make; `name` is what the records
    and the model file call it."""
    name: str

    def __repr__(self):
        return f"sn.metrics.{type(self).__name__}: {self.name!r}"


class _ClassMetric(Metric):
    kind = ""

    def __init__(self, average: str | None = None):
        if average is not None and average not in AVERAGES:
            raise ArgumentError(f"{type(self).__name__}: average must be one of {', '.join(AVERAGES)} (or None: "
                                f"class 1's for two classes, macro for more), got {average!r}")
        self.average = average
        self.name = self.kind if average is None else f"{self.kind}_{average}"


class Precision(_ClassMetric):
    """Of the rows predicted as a class, the fraction that are of it."""
    kind = "precision"


class Recall(_ClassMetric):
    """Of the rows of a class, the fraction predicted as it."""
    kind = "recall"


class F1(_ClassMetric):
    """The harmonic mean of precision and recall."""
    kind = "f1"


class TopK(Metric):
    """The fraction of rows whose label's score is among the row's k largest."""

    def __init__(self, k: int = DEFAULT_K):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ArgumentError(f"TopK: k must be a positive int, got {k!r}")
        self.k = int(k)
        self.name = "top_k_accuracy" if k == DEFAULT_K else f"top_{k}_accuracy"


def metric_name(metric) -> str | None:
    """The name of a metric given by name or as an object; None for something that is neither."""
    if isinstance(metric, Metric):
        return metric.name
    if isinstance(metric, str) and (metric in METRICS or _CLASS_NAME.fullmatch(metric)
                                    or _TOP_K_NAME.fullmatch(metric) and int(metric.split("_")[1]) >= 1):
        return metric
    return None


def top_k(name: str) -> int | None:
    """k of a top-k accuracy's name, None for another metric."""
    if name == "top_k_accuracy":
        return DEFAULT_K
    found = _TOP_K_NAME.fullmatch(name)
    return int(found.group(1)) if found else None


def from_predictions(name: str) -> bool:
    """Whether a metric is computed here from the model's outputs (all but accuracy)."""
    return name != "accuracy"


def is_classifier(output: Tensor, loss: Tensor) -> bool:
    """Whether the output scores classes: a sigmoid, softmax or step unit, or logits trained by a cross-entropy."""
    if has_trait(output, "classifier_output"):
        return True
    return any(has_trait(n, "cross_entropy_of") and n.inputs[0] is output for n in topological(loss))


def resolve(metrics, output: Tensor, label: Tensor | None, loss: Tensor, accuracy_kind, loc: str) -> tuple:
    """The metric names a model reports: by default (None) accuracy where the output is a classifier, else none;
    otherwise those asked for (names or Metric objects), each checked to make sense for this output and label.
    `accuracy_kind` is how the compiled loops would count correct rows (None: they cannot)."""
    if metrics is None:
        return ("accuracy",) if accuracy_kind and is_classifier(output, loss) else ()
    asked = (metrics,) if isinstance(metrics, (str, Metric)) else tuple(metrics)
    names = []
    for metric in asked:
        name = metric_name(metric)
        if name is None:
            raise located(GraphError, "compile", loc, f"unknown metric {metric!r}; {did_you_mean(metric, METRICS)}"
                                                      f"valid metrics: "
                                                      f"{', '.join(METRICS)}, or sn.metrics.Precision(average=...), "
                                                      "Recall, F1, TopK(k)")
        names.append(name)
    classes = [n for n in names if n == "accuracy" or _CLASS_NAME.fullmatch(n) or top_k(n)]
    if classes and not accuracy_kind:
        raise located(GraphError, "compile", loc, f"{classes[0]} needs class scores of shape (batch, classes) or "
                                                  f"(batch,) and a label to compare them with; the output is "
                                                  f"{fmt_shape(output.shape)}, the label "
                                                  f"{fmt_shape(label.shape) if label is not None else 'missing'}")
    ranked = [n for n in names if top_k(n)]
    if ranked and accuracy_kind == BINARY:
        raise located(GraphError, "compile", loc, f"{ranked[0]} ranks the scores of several classes; the output "
                                                  f"{fmt_shape(output.shape)} has one per row (use accuracy)")
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


def predicted_classes(prediction: np.ndarray, kind: str) -> np.ndarray:
    """Each row's class as accuracy counts it (kernels/metrics.py): the largest score's column, or for one
    output per row the decision prediction > 0.5; -1 for a row holding a NaN."""
    if kind == BINARY:
        p = prediction.reshape(len(prediction))
        return np.where(np.isnan(p), -1, p > 0.5).astype(np.int64)
    flat = prediction.reshape(len(prediction), -1)
    return np.where(np.isnan(flat).any(axis=1), -1, np.argmax(flat, axis=1))


def true_classes(target: np.ndarray, kind: str) -> np.ndarray:
    """Each row's class from its label: an integer label as it is, a one-hot row's 1, a binary label > 0.5."""
    if kind == BINARY:
        return (target.reshape(len(target)) > 0.5).astype(np.int64)
    if kind == ONE_HOT_ROWS:
        return np.argmax(target.reshape(len(target), -1), axis=1)
    if kind == CLASS_INDEX:
        return target.reshape(len(target)).astype(np.int64)
    raise ValueError(f"unknown label layout {kind!r}: one of {ONE_HOT_ROWS!r}, {CLASS_INDEX!r}, {BINARY!r}")


def class_count(prediction: np.ndarray, kind: str) -> int:
    return 2 if kind == BINARY else prediction.reshape(len(prediction), -1).shape[1]


def confusion(prediction: np.ndarray, target: np.ndarray, kind: str) -> np.ndarray:
    """counts[i, j]: rows of class i predicted as class j (scikit-learn's confusion_matrix layout); a row
    predicted as no class (a NaN) is in no cell."""
    classes = class_count(prediction, kind)
    truth, guess = true_classes(target, kind), predicted_classes(prediction, kind)
    kept = guess >= 0
    cells = np.bincount(truth[kept] * classes + guess[kept], minlength=classes * classes)
    return cells.reshape(classes, classes)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, 0 where bottom is 0 (scikit-learn's zero_division=0)."""
    return np.divide(top, bottom, out=np.zeros(np.shape(top)), where=np.asarray(bottom) > 0)


def class_score(name: str, prediction: np.ndarray, target: np.ndarray, kind: str) -> float:
    """precision, recall or f1 (with an average in the name or the default one), by scikit-learn's rules."""
    metric, average = _CLASS_NAME.fullmatch(name).groups()
    counts = confusion(prediction, target, kind)
    classes = len(counts)
    true_positive = np.diag(counts).astype(np.float64)
    predicted = counts.sum(axis=0).astype(np.float64)
    support = np.bincount(true_classes(target, kind), minlength=classes).astype(np.float64)  # NaN rows included
    if average == "micro":
        true_positive, predicted, support = true_positive.sum(), predicted.sum(), support.sum()
    precision, recall = _ratio(true_positive, predicted), _ratio(true_positive, support)
    value = {"precision": precision, "recall": recall,
             "f1": _ratio(2 * precision * recall, precision + recall)}[metric]
    if average == "micro":
        return float(value)
    if average is None and classes == 2:
        return float(value[1])  # scikit-learn's average="binary", pos_label=1
    if average == "weighted":
        return float(np.sum(value * support) / support.sum())
    present = (support > 0) | (predicted > 0)  # scikit-learn averages over the labels that occur
    return float(np.mean(value[present]))


def top_k_score(k: int, prediction: np.ndarray, target: np.ndarray, kind: str) -> float:
    """The fraction of rows whose label's score is among the k largest: fewer than k scores above it."""
    scores = prediction.reshape(len(prediction), -1)
    truth = true_classes(target, kind)
    own = scores[np.arange(len(scores)), truth]
    above = np.sum(scores > own[:, None], axis=1)
    finite = ~np.isnan(scores).any(axis=1)
    return float(np.mean((above < k) & finite))


def prediction_scores(metrics, prediction: np.ndarray, target: np.ndarray, kind: str | None) -> dict:
    """Every metric computed from predictions, among `metrics`: mse and mae, and for a classifier (`kind`
    as metric_kind gives it) precision, recall, f1 and top-k accuracy."""
    scores = regression_scores(metrics, prediction, target)
    for name in metrics:
        if _CLASS_NAME.fullmatch(name):
            scores[name] = class_score(name, prediction, target, kind)
        elif top_k(name):
            scores[name] = top_k_score(top_k(name), prediction, target, kind)
    return scores
