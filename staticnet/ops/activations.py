"""Activation functions.

sigmoid, tanh, relu, softplus, step, softmax and log_softmax are primitives with
hand-written, numerically stable gradients; the rest are composites of ops and get
their gradients for free.  Nothing here overflows for |z| up to 1e4 in float32.
"""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..errors import GraphError, ShapeError
from ..graph import fail, make_node, param, require_tensor
from .rules import normalize_axes, require_float
from ..registry import no_gradient, register
from .elementwise import exp, greater, less, minimum, mul, square, where, erf
from .reduce import sum as reduce_sum


def _same_shape(x, **attrs):
    return x.shape, require_float(x, what="input")


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


register("sigmoid", shape=_same_shape, numpy=_stable_sigmoid, grad=lambda n, g: (g * (n * (1.0 - n)),),
         # one exp of -|x| and a choice of numerator: no overflow, and the loop still vectorises
         kind="elementwise", scalar="((1.0 if {0} >= 0 else math.exp(-abs({0}))) / (1.0 + math.exp(-abs({0}))))",
         onnx="Sigmoid", note="sigma(z) = 1 / (1 + e^-|z|) for z >= 0, e^-|z| / (1 + e^-|z|) below: e^-|z| <= 1 never "
                              "overflows")
register("tanh", shape=_same_shape, numpy=np.tanh, grad=lambda n, g: (g * (1.0 - square(n)),),
         kind="elementwise", scalar="math.tanh({0})", onnx="Tanh")
register("relu", shape=_same_shape, numpy=lambda x: np.maximum(x, 0), grad=lambda n, g: (g * greater(n.inputs[0], 0.0),),
         kind="elementwise", scalar="({0} if {0} > 0.0 or {0} != {0} else 0.0)", onnx="Relu")  # NaN stays NaN
register("softplus", shape=_same_shape, numpy=lambda x: np.logaddexp(0, x).astype(x.dtype),
         grad=lambda n, g: (g * sigmoid(n.inputs[0]),), onnx="Softplus",
         note="softplus(z) = max(z, 0) + log1p(e^-|z|): no overflow for large z",
         kind="elementwise", scalar="(({0} if {0} > 0.0 or {0} != {0} else 0.0) + math.log1p(math.exp(-abs({0}))))")
register("step", shape=_same_shape, numpy=lambda x: (x > 0).astype(x.dtype), grad=no_gradient,
         kind="elementwise", scalar="(1.0 if {0} > 0 else 0.0)")


def _hard_sigmoid_grad(node, g):
    """alpha where the line is inside (0, 1), else 0."""
    line = node.inputs[0] * node.attrs["alpha"] + node.attrs["beta"]
    return (g * (greater(line, 0.0) * less(line, 1.0)) * node.attrs["alpha"],)


register("hard_sigmoid", shape=_same_shape, grad=_hard_sigmoid_grad, kind="elementwise",
         numpy=lambda x, alpha, beta: np.clip(x * alpha + beta, 0, 1).astype(x.dtype),
         # NaN fails both tests and stays NaN, as in np.clip
         scalar="(0.0 if {alpha} * {0} + {beta} <= 0.0 else (1.0 if {alpha} * {0} + {beta} >= 1.0 "
                "else {alpha} * {0} + {beta}))",
         onnx=("HardSigmoid", {"alpha": 0.2, "beta": 0.5}))


def hard_sigmoid(z, alpha=0.2, beta=0.5):
    """max(0, min(1, alpha z + beta)): a sigmoid made of three lines, cheap and saturating at 0 and 1
    (ONNX's HardSigmoid; alpha=1/6, beta=0.5 is PyTorch's hardsigmoid)."""
    require_tensor("hard_sigmoid", z)
    alpha = checks.real("hard_sigmoid", "alpha", alpha, checks.POSITIVE)
    beta = checks.real("hard_sigmoid", "beta", beta, checks.Interval(-math.inf))
    return make_node("hard_sigmoid", (z,), {"alpha": alpha, "beta": beta})


def sigmoid(z):
    """1 / (1 + e^-z), the book's sigmoid neuron."""
    return make_node("sigmoid", (z,))


def tanh(z):
    """Hyperbolic tangent, a sigmoid rescaled to (-1, 1)."""
    return make_node("tanh", (z,))


def relu(z):
    """max(0, z), the rectified linear unit."""
    return make_node("relu", (z,))


def softplus(z):
    """ln(1 + e^z), a smooth relu."""
    return make_node("softplus", (z,))


def step(z):
    """The perceptron's threshold: 1 where z > 0, else 0 (its gradient is zero)."""
    return make_node("step", (z,))


def leaky_relu(z, alpha=0.01):
    """z where positive, alpha*z elsewhere."""
    require_tensor("leaky_relu", z)
    return where(greater(z, 0.0), z, mul(z, alpha))


def prelu(z, slope=None, name="prelu"):
    """Leaky relu whose slope is learned, one per unit (the last axis); starts at 0.25."""
    require_tensor("prelu", z)
    if slope is None:
        from .. import init
        slope = param(f"{name}/alpha", (z.shape[-1],), init=init.constant(0.25), dtype=z.dtype, regularize=False)
    return where(greater(z, 0.0), z, mul(z, slope))


def elu(z, alpha=1.0):
    """z where positive, alpha (e^z - 1) elsewhere; exp sees only z <= 0, so it cannot overflow."""
    require_tensor("elu", z)
    return where(greater(z, 0.0), z, mul(exp(minimum(z, 0.0)) - 1.0, alpha))


def swish(z, beta=1.0):
    """z * sigmoid(beta z)."""
    require_tensor("swish", z)
    return z * sigmoid(z * beta if beta != 1.0 else z)


def gelu(z, approximate="none"):
    """z Phi(z): exact with erf, or the "tanh" and "sigmoid" (z sigmoid(1.702 z)) approximations."""
    require_tensor("gelu", z)
    if approximate == "none":
        return z * (0.5 * (erf(z * (1 / math.sqrt(2))) + 1.0))
    if approximate == "tanh":
        inner = (z + 0.044715 * z * square(z)) * math.sqrt(2 / math.pi)
        return z * (0.5 * (tanh(inner) + 1.0))
    if approximate == "sigmoid":
        return swish(z, 1.702)
    fail(GraphError, "gelu", f"approximate={approximate!r}: use 'none', 'tanh' or 'sigmoid'")


def _softmax_shape(x, axis):
    return x.shape, require_float(x, what="input")


def _softmax_ref(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _rowwise_lowering(kernel):
    def lower(node, d):
        z = node.inputs[0]
        if node.attrs["axis"] != z.ndim - 1:
            raise GraphError(f"{node.op} at {node.loc}: the compiled backend takes the last axis only "
                             f"(got axis {node.attrs['axis']} of {z.shape}); transpose first")
        d.library(kernel, [d.matrix(z), d.matrix(node)])
    return lower


register("softmax", shape=_softmax_shape, numpy=_softmax_ref,
         grad=lambda n, g: (n * (g - reduce_sum(g * n, n.attrs["axis"], keepdims=True)),), kind="opaque",
         lower=_rowwise_lowering("softmax_rows"), note="e^(z - max z) / sum e^(z - max z) per row: the largest power is "
                                                         "e^0, so none overflows")
register("log_softmax", shape=_softmax_shape, numpy=_log_softmax_ref,
         grad=lambda n, g: (g - exp(n) * reduce_sum(g, n.attrs["axis"], keepdims=True),), kind="opaque",
         lower=_rowwise_lowering("log_softmax_rows"), note="z - max z - log sum e^(z - max z) per row: no overflow, no "
                                                             "log of 0")


def _axis(op, z, axis):
    try:
        (axis,) = normalize_axes(axis, z.ndim, z.shape)
    except ShapeError as e:
        fail(ShapeError, op, str(e))
    except ValueError:
        fail(ShapeError, op, f"takes one axis, got {axis!r}")
    return axis


def softmax(z, axis=-1):
    """e^z / sum e^z along `axis`, computed with the maximum subtracted."""
    return make_node("softmax", (z,), {"axis": _axis("softmax", z, axis)})


def log_softmax(z, axis=-1):
    """z - log sum e^z along `axis`, stable for large |z|."""
    return make_node("log_softmax", (z,), {"axis": _axis("log_softmax", z, axis)})


ACTIVATIONS = {
    "linear": lambda z: z, "step": step, "sigmoid": sigmoid, "tanh": tanh, "relu": relu,
    "leaky_relu": leaky_relu, "elu": elu, "softplus": softplus, "swish": swish, "gelu": gelu,
    "hard_sigmoid": hard_sigmoid,
    "gelu_tanh": lambda z: gelu(z, "tanh"), "gelu_sigmoid": lambda z: gelu(z, "sigmoid"),
    "softmax": softmax, "log_softmax": log_softmax,
}


def activation(name, z, op="activation"):
    """Apply an activation given by name (None means linear), or a callable."""
    if name is None:
        return z
    if callable(name):
        return name(z)
    if name not in ACTIVATIONS:
        fail(GraphError, op, f"unknown activation {name!r}; {checks.did_you_mean(name, [*ACTIVATIONS, 'prelu'])}"
                             f"valid names: {', '.join(sorted(ACTIVATIONS))}, prelu")
    return ACTIVATIONS[name](z)
