"""Costs.

Each cost averages over the examples of the batch (n is the run-time batch size),
as the book writes them: C = 1/n sum_x C_x.  The softmax and sigmoid cross-entropies
are primitives with the stable gradients (p - y)/n and (a - y)/n.

With sample weights (staticnet/sample_weights.py) they take a third operand, a weight per
row w of shape (batch,), and compute 1/n sum_x w_x C_x: each op's `row_weighted` rule says
how it takes them.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import DataError, DTypeError, GraphError, ShapeError
from ..graph import Tensor, fail, fmt_shape, make_node, topological
from ..graph import INT_DTYPES
from ..codegen.driver import cast_to
from ..codegen.library import Literal
from .shape_rules import require_float
from ..registry import register, registry
from .activations import _softmax_ref, _stable_sigmoid, log_softmax, sigmoid, softmax, softplus
from .elementwise import greater_equal, log, square, where
from .reduce import batch_count, sum as reduce_sum
from .shape import reshape


def _check_pair(op, a, y, what="target"):
    if not isinstance(a, Tensor) or not isinstance(y, Tensor):
        fail(GraphError, op, "takes tensors (a prediction and a target)")
    if a.shape != y.shape:
        hint = ""
        if y.dtype in INT_DTYPES and a.ndim == 2 and y.shape == a.shape[:1]:
            hint = (f"; the {what} holds integer class labels where one-hot rows are expected: use "
                    f"sn.softmax_cross_entropy(logits, labels), which takes integer labels, or "
                    f"sn.one_hot(labels, {a.shape[1]})")
        fail(ShapeError, op, f"prediction {fmt_shape(a.shape)} and {what} {fmt_shape(y.shape)} have different "
                             f"shapes{hint}")
    if a.dtype != y.dtype:
        fail(DTypeError, op, f"prediction is {a.dtype} but {what} is {y.dtype}; cast one with sn.cast")


def mse(a, y):
    """The quadratic cost 1/(2n) sum_x ||y(x) - a(x)||^2."""
    _check_pair("mse", a, y)
    return reduce_sum(square(a - y)) / (2.0 * batch_count(a))


def cross_entropy(a, y):
    """-1/n sum_x sum_j [y ln a + (1 - y) ln(1 - a)].

    For a sigmoid output this is computed from the pre-activation, stably; for a
    softmax output it is the categorical form -1/n sum y ln a (the log-likelihood
    cost), computed from the logits.
    """
    if isinstance(a, Tensor) and a.op == "softmax" and a.attrs["axis"] == a.ndim - 1:
        return softmax_cross_entropy(a.inputs[0], y, op="cross_entropy")
    _check_pair("cross_entropy", a, y)
    if a.op == "sigmoid":
        return make_node("sigmoid_xent", (a.inputs[0], y))
    terms = y * log(a) + (1.0 - y) * log(1.0 - a)
    return -reduce_sum(terms) / batch_count(a)


def default_cost(a, y):
    """The cost a model of output `a` is trained with unless told: the cross-entropy where a cost is registered as
    that activation's cross-entropy (its `cross_entropy_of`: softmax, sigmoid), else the quadratic cost."""
    if any(opdef.cross_entropy_of == a.op for opdef in registry.values()):
        return cross_entropy(a, y)
    return mse(a, y)


def _xent_shape(z, y, w=None):
    dtype = require_float(z, y)
    if w is not None and (w.shape != z.shape[:1] or w.dtype != z.dtype):
        raise ShapeError(f"row weights {fmt_shape(w.shape)} {w.dtype} do not fit logits {fmt_shape(z.shape)} "
                         f"{z.dtype}: expected one {z.dtype} weight per row, {fmt_shape(z.shape[:1])}")
    return (), dtype


def _row_column(w, x):
    """The row weights w (batch,) shaped to broadcast over x (batch, ...): (batch, 1, ..., 1)."""
    return reshape(w, (None,) + (1,) * (x.ndim - 1))


def _weighted_rows(terms, w):
    """terms (batch, ...) with row i's values times w[i] (NumPy, for the references)."""
    return terms if w is None else terms * w.reshape((-1,) + (1,) * (terms.ndim - 1))


def _weight_operand(node, inputs, w):
    """A cross-entropy's row_weighted rule: the same op, with the row weights as its third operand."""
    return make_node(node.op, (*inputs, w), loc=node.loc)


def _sigmoid_xent_ref(z, y, w=None):
    terms = _weighted_rows(np.logaddexp(0, z) - y * z, w)
    return np.asarray((np.sum(terms) / (z.shape[0] if z.ndim else 1)), z.dtype)


def _sigmoid_xent_grad(node, g):
    z, y, *weights = node.inputs
    scale = g / batch_count(z)
    if not weights:
        return (sigmoid(z) - y) * scale, -z * scale
    w = _row_column(weights[0], z)
    terms = softplus(z) - y * z
    per_row = reduce_sum(terms, tuple(range(1, z.ndim))) if z.ndim > 1 else terms
    return (sigmoid(z) - y) * w * scale, -z * w * scale, per_row * scale


def _xent_lowering(kernel):
    """The loss alone (`store` False: the kernel's output argument is not written); with row weights, the
    kernel's weighted form."""
    def lower(node, d):
        z, y, *weights = node.inputs
        loss = d.temp("loss")
        weighted = [d.array(w) for w in weights]
        d.library(kernel + ("_weighted" if weights else ""),
                  [d.array(z), d.array(y), *weighted, d.array(z), Literal(False)], "f64", loss)
        d.assign(node, cast_to(loss, node.dtype))
    return lower


def _xent_multi_lowering(kernel):
    """Loss and activation (probabilities) in one pass over the logits."""
    def lower(node, d):
        z, y, *weights = node.inputs
        parts = d.parts(node)
        loss = d.temp("loss")
        probabilities = d.array(parts[1]) if 1 in parts else d.array(z)
        weighted = [d.array(w) for w in weights]
        d.library(kernel + ("_weighted" if weights else ""),
                  [d.array(z), d.array(y), *weighted, probabilities, Literal(1 in parts)], "f64", loss)
        if 0 in parts:
            d.assign(parts[0], cast_to(loss, node.dtype))
    return lower


register("sigmoid_xent", shape=_xent_shape, numpy=_sigmoid_xent_ref, grad=_sigmoid_xent_grad, kind="opaque",
         lower=_xent_lowering("softmax.sigmoid_xent"), cross_entropy_of="sigmoid",
         with_activation="sigmoid_xent_multi", row_weighted=_weight_operand,
         note="from the pre-activation z: softplus(z) - y z per output, never log(0) as log a would be for a "
              "saturated sigmoid")
register("sigmoid_xent_multi", shape=_xent_shape, grad=None, kind="multi",
         numpy=lambda z, y, w=None: (_sigmoid_xent_ref(z, y, w), _stable_sigmoid(z)),
         lower=_xent_multi_lowering("softmax.sigmoid_xent"))


def _softmax_xent_ref(z, y, w=None):
    shifted = z - np.max(z, axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return np.asarray(-np.sum(_weighted_rows(y * log_p, w)) / z.shape[0], z.dtype)


def _softmax_xent_grad(node, g):
    z, y, *weights = node.inputs
    scale = g / batch_count(z)
    delta = softmax(z) * reduce_sum(y, -1, keepdims=True) - y
    if not weights:
        return delta * scale, -log_softmax(z) * scale
    w = _row_column(weights[0], z)
    return delta * w * scale, -log_softmax(z) * w * scale, -reduce_sum(y * log_softmax(z), -1) * scale


register("softmax_xent", shape=_xent_shape, numpy=_softmax_xent_ref, grad=_softmax_xent_grad, kind="opaque",
         lower=_xent_lowering("softmax.softmax_xent"), cross_entropy_of="softmax",
         with_activation="softmax_xent_multi", row_weighted=_weight_operand,
         note="from the logits: -y (z - max z - log sum e^(z - max z)) per row, never log(0)")
register("softmax_xent_multi", shape=_xent_shape, grad=None, kind="multi",
         numpy=lambda z, y, w=None: (_softmax_xent_ref(z, y, w), _softmax_ref(z, -1)),
         lower=_xent_multi_lowering("softmax.softmax_xent"))


def softmax_cross_entropy(logits, labels, op="softmax_cross_entropy"):
    """-1/n sum_x sum_j y_j ln softmax(z)_j, from logits; labels one-hot or integer classes."""
    if not isinstance(logits, Tensor) or not isinstance(labels, Tensor):
        fail(GraphError, op, "takes tensors (logits and labels)")
    if logits.ndim != 2:
        fail(ShapeError, op, f"logits must be (batch, classes), got {fmt_shape(logits.shape)}")
    if labels.dtype in INT_DTYPES:
        if labels.shape != logits.shape[:1]:
            fail(ShapeError, op, f"integer labels {fmt_shape(labels.shape)} do not match logits {fmt_shape(logits.shape)}: "
                                 f"expected class indices of shape {fmt_shape(logits.shape[:1])}")
        labels = one_hot(labels, logits.shape[1], dtype=logits.dtype)
    elif labels.shape != logits.shape:
        fail(ShapeError, op, f"labels {fmt_shape(labels.shape)} do not match logits {fmt_shape(logits.shape)}: expected one-hot "
                             f"{fmt_shape(logits.shape)} or integer class indices {fmt_shape(logits.shape[:1])}")
    return make_node("softmax_xent", (logits, labels))


def _one_hot_shape(labels, classes, dtype):
    if labels.dtype not in INT_DTYPES:
        raise DTypeError(f"labels have dtype {labels.dtype}; one_hot takes int32 or int64 class indices")
    return labels.shape + (classes,), np.dtype(dtype)


def _one_hot_ref(labels, classes, dtype):
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(f"one_hot: a label lies outside [0, {classes}) (values from {labels.min()} to {labels.max()})")
    return np.eye(classes, dtype=dtype)[labels]


def _lower_one_hot(node, d):
    ok = d.temp("labels_ok")
    d.library("softmax.one_hot", [d.array(node.inputs[0]), d.matrix(node)], "i64", ok)
    d.raise_unless(ok, f"one_hot: a label lies outside [0, {node.attrs['classes']})")


register("one_hot", shape=_one_hot_shape, numpy=_one_hot_ref, grad=lambda n, g: (None,), kind="opaque",
         lower=_lower_one_hot, takes_labels=True)


def one_hot(labels, classes: int, dtype="float32"):
    """Integer class indices as one-hot rows."""
    classes = checks.count("one_hot", "classes", classes)
    return make_node("one_hot", (labels,), {"classes": classes, "dtype": np.dtype(dtype).name})


def perceptron_loss(score, y):
    """1/n sum_x max(0, -y (w.x + b)), labels +1/-1.

    A point on the boundary (y score = 0) counts as misclassified, so from zero
    weights SGD with batch size 1 makes the textbook update w <- w + lr y x.
    """
    _check_pair("perceptron_loss", score, y, what="labels")
    margin = -y * score
    return reduce_sum(where(greater_equal(margin, 0.0), margin, 0.0)) / batch_count(score)


class WeightPenalty:
    """An L1 or L2 term over weights not yet known: it takes the regularised
    parameters of whatever cost it is added to (``cost + sn.l2(lam, n)``)."""

    def __init__(self, kind, lam, n, loc):
        self.kind, self.lam, self.n, self.loc = kind, lam, n, loc

    def resolve_against(self, cost: Tensor) -> Tensor:
        weights = [t for t in topological(cost) if t.op == "param" and t.regularize]
        if not weights:
            raise GraphError(f"{self.kind} at {self.loc}: the cost it is added to has no weights to regularise")
        return _penalty(self.kind, self.lam, self.n, weights)

    def __repr__(self):
        return f"<{self.kind}(lam={self.lam}, n={self.n}) over the weights of the cost it is added to>"


def _penalty(kind, lam, n, weights):
    if kind == "l2":
        total = sum((reduce_sum(square(w)) for w in weights[1:]), reduce_sum(square(weights[0])))
        return total * (lam / (2.0 * n))
    from .elementwise import abs as absolute
    total = sum((reduce_sum(absolute(w)) for w in weights[1:]), reduce_sum(absolute(weights[0])))
    return total * (lam / n)


def _weight_term(kind, lam, n, weights):
    from ..graph import user_location
    lam = checks.real(kind, "lam", lam, checks.NON_NEGATIVE)
    n = checks.count(kind, "n (the training set size)", n)
    if weights is None:
        return WeightPenalty(kind, lam, n, user_location())
    weights = [weights] if isinstance(weights, Tensor) else list(weights)
    if not weights:
        fail(GraphError, kind, "got an empty list of weights")
    return _penalty(kind, lam, n, weights)


def l2(lam: float, n: int, weights=None):
    """lam/(2n) sum w^2 over the weights (biases excluded), n the training set size."""
    return _weight_term("l2", lam, n, weights)


def l1(lam: float, n: int, weights=None):
    """lam/n sum |w| over the weights (biases excluded), n the training set size."""
    return _weight_term("l1", lam, n, weights)
