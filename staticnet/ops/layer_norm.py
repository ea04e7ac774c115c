"""Layer normalisation (Ba, Kiros and Hinton 2016) over the last axis, as Keras's LayerNormalization.

One composite op, layer_norm(x, gamma, beta; eps): each row (every position of every example) normalised by
its own mean and biased variance over the features, then scaled and shifted per feature:

    mu = mean(x, -1)    sigma^2 = mean((x - mu)^2, -1)    x_hat = (x - mu) / sqrt(sigma^2 + eps)
    y = gamma * x_hat + beta

Nothing is averaged over the batch, so training, evaluation and prediction compute the same thing. Its
decomposition gives the reference, the gradient and the compiled form (reductions over the last axis and
elementwise loops that the fusion passes join); ONNX has LayerNormalization from opset 17.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import DTypeError, ShapeError
from ..graph import constant, fail, fmt_shape, layer_scope, make_node, param, require_tensor
from ..onnx_support import Plan, Unsupported, number_attribute
from .. import init as initializers
from .composite import register_composite
from .elementwise import sqrt, square
from .nn import layer_name
from .reduce import mean

EQUATIONS = ("mu = mean(x, -1);  sigma^2 = mean((x - mu)^2, -1);  x_hat = (x - mu) / sqrt(sigma^2 + eps);  "
             "y = gamma * x_hat + beta")


def _decomposition(x, gamma, beta, eps):
    centred = x - mean(x, -1, keepdims=True)
    variance = mean(square(centred), -1, keepdims=True)
    return centred / sqrt(variance + eps) * gamma + beta


def _onnx_export(node, b):
    if not b.has("LayerNormalization"):
        return None  # before opset 17: the decomposition is exported
    return Plan(node.inputs, lambda b, xs, out: b.node("LayerNormalization", xs, out, axis=-1,
                                                       epsilon=node.attrs["eps"]))


def _import(imp, operands, attrs):
    x = imp.tensor(operands[0])
    axis = attrs.take("axis", -1)
    if axis % x.ndim != x.ndim - 1:
        raise Unsupported(f"axis={axis}: staticnet's layer_norm normalises over the last axis only")
    attrs.take("stash_type")  # the statistics' precision: staticnet computes in x's dtype
    gamma = imp.tensor(operands[1])
    beta = imp.tensor(operands[2]) if imp.optional(operands, 2) else None
    if beta is None:
        beta = constant(np.zeros(x.shape[-1:], x.dtype))
    return [layer_norm_op(x, gamma, beta, number_attribute(attrs, "epsilon", 1e-5, checks.POSITIVE))]


register_composite("layer_norm", _decomposition, onnx_export=_onnx_export,
                   onnx_import={"LayerNormalization": _import}, note=EQUATIONS)


def layer_norm_op(x, gamma, beta, eps: float):
    """The layer_norm node on given scale and shift tensors (an imported model's)."""
    return make_node("layer_norm", (x, gamma, beta), {"eps": float(eps)}, called="layer_norm")


def layer_norm(x, eps: float = 1e-3, name=None, trainable: bool = True):
    """Layer normalisation over the last axis (features, or channels of NHWC images): each row normalised by
    its own mean and variance, then gamma * x_hat + beta, with parameters {name}/gamma (ones) and {name}/beta
    (zeros) of shape (features,). eps (Keras's default, 1e-3) is added to the variance. The same in training
    and at prediction (no moving statistics). trainable=False freezes gamma and beta."""
    require_tensor("layer_norm", x)
    if not x.is_float:
        fail(DTypeError, "layer_norm", f"input has dtype {x.dtype}; layer_norm takes float32 or float64 (use sn.cast)")
    if x.ndim < 1 or x.shape[-1] is None:
        fail(ShapeError, "layer_norm", f"input of shape {fmt_shape(x.shape)} has no feature axis last to normalise")
    eps = checks.real("layer_norm", "eps", eps, checks.POSITIVE)
    trainable = checks.flag("layer_norm", "trainable", trainable)
    name = layer_name("layer_norm", name, x, "layer_norm")
    with layer_scope(name):
        gamma = param(f"{name}/gamma", (x.shape[-1],), init=initializers.constant(1.0), dtype=x.dtype,
                      regularize=False, trainable=trainable)
        beta = param(f"{name}/beta", (x.shape[-1],), init=initializers.zeros(), dtype=x.dtype, regularize=False,
                     trainable=trainable)
        return layer_norm_op(x, gamma, beta, eps)
