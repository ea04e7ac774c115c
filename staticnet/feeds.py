"""The arrays fed to a graph's inputs: checked against each input's shape and dtype, and their batch size
agreed, the same way for the NumPy reference, the compiled functions, models and predictors."""
from __future__ import annotations

import numpy as np

from .errors import DataError
from .graph import Tensor, fmt_shape


def conform(node: Tensor, value, where: str = "") -> np.ndarray:
    """`value` as an array fit for input `node`, or a DataError saying what does not fit."""
    arr = np.asarray(value)
    label = f"input {node.name!r}{where}"
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{label}: expected numbers, got an array of dtype {arr.dtype}")
    if node.dtype.kind == "i" and arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise DataError(f"{label}: expects integer labels ({node.dtype}), got non-integer floats")
    if arr.ndim != node.ndim or any(d is not None and d != s for d, s in zip(node.shape, arr.shape)):
        raise DataError(f"{label} expects shape {fmt_shape(node.shape)}, got {fmt_shape(arr.shape)}"
                        + _labels_hint(node, arr))
    batch = [s for d, s in zip(node.shape, arr.shape) if d is None]
    if batch and batch[0] == 0:
        raise DataError(f"{label}: got an empty batch")
    return np.asarray(arr, dtype=node.dtype, order="C")


def _labels_hint(node: Tensor, arr: np.ndarray) -> str:
    """What to do when integer class labels are fed to an input of one-hot rows, else ""."""
    if not (node.ndim == 2 and node.shape[0] is None and arr.ndim == 1 and node.dtype.kind == "f"):
        return ""
    whole = arr.dtype.kind in "iu" or arr.dtype.kind == "f" and bool(np.all(np.mod(arr, 1) == 0))
    if not whole:
        return ""
    classes = node.shape[1]
    return (f": these look like integer class labels, where one-hot rows are expected; pass "
            f"np.eye({classes})[labels], or declare sn.input({node.name!r}, (None,), dtype='int64') and train with "
            f"sn.softmax_cross_entropy(logits, {node.name}) (which takes integer labels) or sn.one_hot({node.name}, "
            f"{classes})")


def batch_size_of(inputs, arrays) -> int | None:
    """The common batch size of the arrays fed to batch-shaped inputs (checked to agree)."""
    sizes = {}
    for node, arr in zip(inputs, arrays):
        if None in node.shape:
            sizes[node.name] = arr.shape[node.shape.index(None)]
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise DataError(f"inputs disagree on the batch size ({listed})")
    return next(iter(sizes.values()), None)
