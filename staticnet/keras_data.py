"""The data arguments of fit, evaluate and predict, taken the Keras way as well as staticnet's own.

staticnet's form is a dict keyed by input name (or a tuple of arrays in the order of the graph's inputs).
Keras users write `fit(X, Y)`, `fit(X, Y, validation_data=(Xv, Yv))` and `validation_split=0.1`; this module
turns those into the dict form, so that the rest of the model reads one form.  Arrays go to inputs by role,
not by position in the graph: x to the one feature input (an input the outputs read), y to the one label
input (an input only the loss reads).  A model with several of either has no such mapping, and the
message names its inputs so that the user can write the dict instead.
"""
from __future__ import annotations

import math

from . import checks
from .errors import ArgumentError, DataError


def _names(nodes) -> str:
    return ", ".join(repr(t.name) for t in nodes) or "none"


def _one_each(model, op: str, form: str) -> tuple:
    """The feature input and the label input that `form` maps to, or an error naming the model's inputs."""
    if len(model.features) == 1 and len(model.labels) == 1:
        return model.features[0], model.labels[0]
    checks.refuse(op, f"{form} needs one feature input and one label input to map the arrays to; this model's "
                      f"features are {_names(model.features)} and its labels {_names(model.labels)}: pass a dict "
                      f"keyed by input name", DataError)


def as_feeds(model, x, y, op: str, what: str, with_labels: bool = True):
    """`x` (and `y`) as the dict or tuple the model reads: a dict keyed by input name, (x, y), or x and y as
    two arrays.  `with_labels` False: only the feature inputs are wanted (predict)."""
    if isinstance(x, dict):
        if y is not None:
            checks.refuse(op, f"the {what} is a dict, which holds the labels by input name; y= is for arrays "
                              f"(and batch_size and the other settings are keyword arguments)", DataError)
        return x
    if x is None:
        checks.refuse(op, f"no {what}: pass x and y as arrays, (x, y), or a dict keyed by input name", DataError)
    by_role = len(model.features) == 1 and len(model.labels) == 1
    if isinstance(x, tuple) and y is None and len(x) == 2 and with_labels and by_role:
        x, y = x  # (x, y): mapped by role, as fit(x, y) is
    elif isinstance(x, (tuple, list)) and y is None:
        return x  # arrays in the order of the graph's inputs, as before
    if y is None:
        if not with_labels or len(model.inputs) == 1:
            return x
        checks.refuse(op, f"the {what} has no labels: pass y= (or (x, y), or a dict keyed by input name); the "
                          f"model reads {_names(model.inputs)}", DataError)
    feature, label = _one_each(model, op, f"{op}(x, y)")
    return {feature.name: x, label.name: y}


def validation_feeds(model, validation, validation_data):
    """The one validation set of a fit: validation= (staticnet's name) or validation_data= (Keras's)."""
    if validation is not None and validation_data is not None:
        checks.refuse("fit", "give validation= or validation_data= (the same thing, by its Keras name), not both",
                      ArgumentError)
    given = validation if validation is not None else validation_data
    return None if given is None else as_feeds(model, given, None, "fit", "validation data")


def check_split(validation_split, has_validation: bool) -> float | None:
    """validation_split: a fraction in (0, 1), and not beside validation data."""
    if validation_split is None or validation_split == 0:
        return None
    split = checks.real("fit", "validation_split", validation_split,
                        checks.Interval(0.0, 1.0, low_closed=False), error=ArgumentError)
    if has_validation:
        checks.refuse("fit", "give validation data or validation_split, not both", ArgumentError)
    return split


def split_off(arrays: list, split: float) -> tuple[list, list]:
    """(training rows, validation rows): the validation set is the last `split` of the rows as given, taken
    before any shuffling, as Keras does (training keeps the first ceil(n (1 - split)) rows)."""
    total = arrays[0].shape[0]
    keep = math.ceil(total * (1.0 - split))
    if keep == 0 or keep == total:
        checks.refuse("fit", f"validation_split={split:g} of {total} rows leaves "
                             f"{'no training' if keep == 0 else 'no validation'} rows", ArgumentError)
    return [a[:keep] for a in arrays], [a[keep:] for a in arrays]
