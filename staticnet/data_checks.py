"""Checks of the arrays given to fit, evaluate and predict, made before any step runs.

The compiled loops check nothing per element (it would slow every step), so a label outside its
one_hot classes used to stop training inside the generated code after the weights had changed, and
a NaN in the data silently turned every weight into NaN.  These checks name the input, the first
bad row and its value instead.
"""
from __future__ import annotations

import numpy as np

from .errors import DataError
from .kernels.finite import first_non_finite_row


def _first_bad(mask: np.ndarray):
    """(row, flat index within the row) of the first True in a (rows, ...) mask, or None."""
    flat = mask.reshape(len(mask), -1)
    rows = np.flatnonzero(flat.any(axis=1))
    if not rows.size:
        return None
    row = int(rows[0])
    return row, int(np.argmax(flat[row]))


def _outside(pairs, nodes, given, bound_of):
    """(input node, its consumer, row, position, value, bound) for the first integer fed to a consumer outside
    [0, bound_of(consumer)), over the (input node, consumer) `pairs`; None when all lie inside.  `given` holds
    the arrays for `nodes` as the user gave them (before conversion, so that 1e20 is named as such, not as the
    integer it would wrap to)."""
    arrays = {node.id: np.asarray(array) for node, array in zip(nodes, given)}
    for source, consumer in pairs:
        if source.id not in arrays:
            continue
        values, bound = arrays[source.id], bound_of(consumer)
        bad = _first_bad((values < 0) | (values >= bound))
        if bad is not None:
            row, position = bad
            return source, consumer, row, position, values.reshape(len(values), -1)[row, position].item(), bound
    return None


def check_labels(one_hots, nodes, given, what: str) -> None:
    """Every label fed to a one_hot of `classes` classes lies in [0, classes): `one_hots` holds (input node,
    one_hot node) pairs."""
    found = _outside(one_hots, nodes, given, lambda one_hot: one_hot.attrs["classes"])
    if found is not None:
        source, one_hot, row, _, value, classes = found
        raise DataError(f"{what}: input {source.name!r} row {row} holds the label {value!r}, outside the "
                        f"{classes} classes [0, {classes}) of one_hot at {one_hot.loc}")


def check_ids(embeddings, nodes, given, what: str) -> None:
    """Every id fed to an embedding lies in [0, its vocabulary size): `embeddings` holds (input node, embedding
    node) pairs."""
    found = _outside(embeddings, nodes, given, lambda embedding: embedding.inputs[1].shape[0])
    if found is not None:
        source, embedding, row, position, value, vocabulary = found
        raise DataError(f"{what}: input {source.name!r} row {row} holds the id {value!r} (at position {position} "
                        f"of the row), outside the vocabulary [0, {vocabulary}) of embedding at {embedding.loc}")


def check_finite(nodes, arrays, given, what: str) -> None:
    """Every value of the float inputs is finite; names the first row holding NaN or an infinity."""
    for node, array, raw in zip(nodes, arrays, given):
        if array.dtype.kind != "f":  # float32 or float64, the inputs' float types: one pass, no mask
            continue
        rows = array.reshape(len(array), -1)
        row = int(first_non_finite_row(np.ascontiguousarray(rows)))
        if row >= 0:
            column = int(np.argmax(~np.isfinite(rows[row])))
            value = np.asarray(raw).reshape(len(array), -1)[row, column].item()
            converted = rows[row, column].item()
            became = "" if repr(value) == repr(converted) else f" ({converted} in {array.dtype})"
            raise DataError(f"{what}: input {node.name!r} row {row} holds {value!r}{became}; the data must be finite "
                            "(fit(check_data=False) skips this check)")
