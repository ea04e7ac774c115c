"""Embeddings: integer ids of any shape -> that shape + (dim,), each id's row of a table `{name}/E`.

The table's gradient is a scatter-add of the incoming gradient's rows at the ids used (an id used twice gets
both); the ids have none.  fit checks before training that every id fed lies in [0, vocab_size) (the op's
`takes_ids` trait, data_checks.check_ids); the compiled gather refuses one outside anyway.  ONNX: Gather on
axis 0 of the table.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from .. import init as initializers
from ..codegen.library import Array
from ..errors import DataError, DTypeError, GraphError
from ..graph import INT_DTYPES, fmt_shape, layer_scope, located, make_node, param, require_tensor, fail
from ..onnx_support import Plan, Unsupported
from ..registry import register
from .shape_rules import require_float


def _embedding_shape(ids, table):
    if ids.dtype not in INT_DTYPES:
        raise DTypeError(f"ids of shape {fmt_shape(ids.shape)} have dtype {ids.dtype}; an embedding takes int32 or "
                         "int64 ids")
    return ids.shape + table.shape[1:], require_float(table, what="table")


def _check_range(ids, vocabulary):
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary):
        raise DataError(f"embedding: an id lies outside [0, {vocabulary}) (values from {ids.min()} to {ids.max()})")


def _embedding_ref(ids, table):
    _check_range(ids, table.shape[0])
    return table[ids]


def _scatter_ref(ids, g, table):
    _check_range(ids, table.shape[0])
    out = np.zeros_like(table)
    np.add.at(out, ids.reshape(-1), g.reshape(-1, table.shape[1]))
    return out


def _flat(d, ids, positions_of):
    """The ids as one axis: as many as `positions_of`'s rows."""
    return Array(d.address(ids), ids.dtype.name, [d.rows(positions_of)])


def _lower_embedding(node, d):
    ids, table = node.inputs
    ok = d.temp("ids_ok")
    d.library("embedding.gather_rows", [_flat(d, ids, node), d.array(table), d.matrix(node)], "i64", ok)
    d.raise_unless(ok, f"embedding: an id lies outside [0, {table.shape[0]})")


def _lower_scatter(node, d):
    ids, g, table = node.inputs
    ok = d.temp("ids_ok")
    d.library("embedding.scatter_add_rows", [_flat(d, ids, g), d.matrix(g), d.array(node)], "i64", ok)
    d.raise_unless(ok, f"embedding: an id lies outside [0, {table.shape[0]})")


def _onnx_embedding(node, b):
    ids, table = node.inputs
    if table.op not in ("param", "constant"):
        raise located(GraphError, "embedding", node.loc, f"its table must be a parameter or a constant to export "
                                                         f"to ONNX; {table.op} at {table.loc} is computed")
    return Plan((table, ids), lambda b, xs, out: b.node("Gather", xs, out, axis=0))


def import_gather(imp, operands, attrs, axis):
    """ONNX's Gather of rows (axis 0) of a float initializer at ids computed by the graph: an embedding."""
    if axis != 0:
        raise Unsupported(f"a Gather of an initializer's rows takes axis 0, got axis {axis}")
    ids = imp.tensor(operands[1])
    if ids.dtype not in INT_DTYPES:
        raise Unsupported(f"indices {operands[1]!r} have dtype {ids.dtype}; Gather takes int32 or int64")
    return [make_node("embedding", (ids, imp.tensor(operands[0])), {})]


register("embedding", shape=_embedding_shape, numpy=_embedding_ref, kind="opaque", lower=_lower_embedding,
         grad=lambda node, g: (None, make_node("embedding_grad", (node.inputs[0], g, node.inputs[1]), {})),
         flops=lambda node, size: 0, onnx_export=_onnx_embedding, takes_ids=True)
register("embedding_grad", shape=lambda ids, g, table: (table.shape, table.dtype), numpy=_scatter_ref, grad=None,
         kind="opaque", lower=_lower_scatter, flops=lambda node, size: size(node.inputs[1].shape))


def embedding(ids, vocab_size: int, dim: int, dtype="float32", name=None, trainable: bool = True):
    """Each integer id's row of a trainable table `{name}/E` (vocab_size, dim): ids of any shape (batch first)
    give that shape + (dim,).  The table starts as Keras's does, uniform in +-0.05.  Ids must lie in
    [0, vocab_size): fit checks the ids it is given before training, and names the input, row and value.
    trainable=False freezes the table (pretrained vectors)."""
    from .nn import layer_name

    require_tensor("embedding", ids)
    if ids.dtype not in INT_DTYPES:
        fail(DTypeError, "embedding", f"ids of shape {fmt_shape(ids.shape)} have dtype {ids.dtype}; an embedding "
                                      "takes int32 or int64 ids (sn.input(..., dtype=\"int64\"))")
    vocab_size = checks.count("embedding", "vocab_size", vocab_size)
    dim = checks.count("embedding", "dim", dim)
    trainable = checks.flag("embedding", "trainable", trainable)
    name = layer_name("embedding", name, ids)
    with layer_scope(name):
        table = param(f"{name}/E", (vocab_size, dim), init=initializers.uniform(0.05), dtype=dtype,
                      trainable=trainable)
        return make_node("embedding", (ids, table), {})
