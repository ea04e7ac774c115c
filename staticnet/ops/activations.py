"""Activation functions.

sigmoid, tanh, relu, softplus, step, hard_sigmoid, softmax and log_softmax are primitives
with hand-written, numerically stable gradients; the rest are named composites (ops/composite.py)
whose reference and gradient come from their decomposition.  Nothing here overflows for |z|
up to 1e4 in float32.
"""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..errors import GraphError, ShapeError
from ..graph import fail, layer_scope, make_node, param, require_tensor
from .shape_rules import broadcast_shapes, normalize_axes, require_float
from ..onnx_support import Plan, Unsupported, same_operands
from ..registry import no_gradient, register
from .composite import register_composite
from .elementwise import abs as absolute, erf, exp, greater, less, log, maximum, minimum, mul, square, where
from .reduce import sum as reduce_sum

# the builders staticnet exports as sn.<name>: a new activation adds itself here
__all__ = ["elu", "gelu", "hard_sigmoid", "leaky_relu", "log_softmax", "mish", "prelu", "relu", "sigmoid", "softmax",
           "softplus", "step", "swish", "tanh"]


def _same_shape(x, **attrs):
    return x.shape, require_float(x, what="input")


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


register("sigmoid", shape=_same_shape, numpy=_stable_sigmoid, grad=lambda n, g: (g * (n * (1.0 - n)),),
         activation=True, classifier_output=True, monotone=True,
         # one exp of -|x| and a choice of numerator: no overflow, and the loop still vectorises
         kind="elementwise", scalar="((1.0 if {0} >= 0 else math.exp(-abs({0}))) / (1.0 + math.exp(-abs({0}))))",
         onnx="Sigmoid", note="sigma(z) = 1 / (1 + e^-|z|) for z >= 0, e^-|z| / (1 + e^-|z|) below: e^-|z| <= 1 never "
                              "overflows")
register("tanh", shape=_same_shape, numpy=np.tanh, grad=lambda n, g: (g * (1.0 - square(n)),),
         kind="elementwise", scalar="math.tanh({0})", onnx="Tanh", activation=True, monotone=True)
register("relu", shape=_same_shape, numpy=lambda x: np.maximum(x, 0), grad=lambda n, g: (g * greater(n.inputs[0], 0.0),),
         kind="elementwise", scalar="({0} if {0} > 0.0 or {0} != {0} else 0.0)", onnx="Relu",  # NaN stays NaN
         activation=True, monotone=True)
register("softplus", shape=_same_shape, numpy=lambda x: np.logaddexp(0, x).astype(x.dtype),
         grad=lambda n, g: (g * sigmoid(n.inputs[0]),), onnx="Softplus", activation=True, monotone=True,
         decomposition=lambda z: relu(z) + log(1.0 + exp(-absolute(z))),  # its lowering, with log1p, is kept
         note="softplus(z) = max(z, 0) + log1p(e^-|z|): no overflow for large z",
         kind="elementwise", scalar="(({0} if {0} > 0.0 or {0} != {0} else 0.0) + math.log1p(math.exp(-abs({0}))))")


def _onnx_step(node, b):
    zero = np.zeros((), node.dtype)
    return Plan(node.inputs, lambda b, xs, out: b.cast(b.node("Greater", [xs[0], b.constant(zero)]), node.dtype, out))


register("step", shape=_same_shape, numpy=lambda x: (x > 0).astype(x.dtype), grad=no_gradient,
         activation=True, classifier_output=True, onnx_export=_onnx_step,
         kind="elementwise", scalar="(1.0 if {0} > 0 else 0.0)")


def _hard_sigmoid_grad(node, g):
    """alpha where the line is inside (0, 1), else 0."""
    line = node.inputs[0] * node.attrs["alpha"] + node.attrs["beta"]
    return (g * (greater(line, 0.0) * less(line, 1.0)) * node.attrs["alpha"],)


register("hard_sigmoid", shape=_same_shape, grad=_hard_sigmoid_grad, kind="elementwise", activation=True,
         numpy=lambda x, alpha, beta: np.clip(x * alpha + beta, 0, 1).astype(x.dtype),
         # NaN fails both tests and stays NaN, as in np.clip
         scalar="(0.0 if {alpha} * {0} + {beta} <= 0.0 else (1.0 if {alpha} * {0} + {beta} >= 1.0 "
                "else {alpha} * {0} + {beta}))",
         onnx=("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
         decomposition=lambda z, alpha, beta: maximum(minimum(z * alpha + beta, 1.0), 0.0))  # its lowering is kept


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


# ---------------------------------------------------------------- composites: named ops written with others
# Each keeps its name in the graph (explain, summary and ONNX export see it) and is inlined from its
# decomposition before code generation (passes/inline_composites.py); reference and gradient come from it.

def _leaky_relu(z, alpha):
    return where(greater(z, 0.0), z, mul(z, alpha))


def _prelu_shape(z, slope):
    return broadcast_shapes(z.shape, slope.shape), require_float(z, slope, what="input")


def _prelu(z, slope):
    return where(greater(z, 0.0), z, mul(z, slope))


def _elu(z, alpha):
    return where(greater(z, 0.0), z, mul(exp(minimum(z, 0.0)) - 1.0, alpha))  # exp sees only z <= 0


def _swish(z, beta):
    return z * sigmoid(z * beta if beta != 1.0 else z)


GELU_FORMS = ("none", "tanh", "sigmoid")
ANY_REAL = checks.Interval(-math.inf)


def _gelu(z, approximate):
    if approximate == "none":
        return z * (0.5 * (erf(z * (1 / math.sqrt(2))) + 1.0))
    if approximate == "tanh":
        inner = (z + 0.044715 * z * square(z)) * math.sqrt(2 / math.pi)
        return z * (0.5 * (tanh(inner) + 1.0))
    return _swish(z, 1.702)


def _onnx_alpha(op_type, attr):
    """The ONNX op of the same name, its alpha the node's attribute `attr`."""
    return lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node(op_type, xs, out, alpha=node.attrs[attr]))


def _onnx_prelu(node, b):
    """PRelu, where its slope broadcasts against z as ONNX's unidirectional broadcasting allows."""
    z, slope = node.inputs
    if len(slope.shape) <= len(z.shape) and all(s in (1, d) for s, d in zip(slope.shape[::-1], z.shape[::-1])):
        return Plan(node.inputs, lambda b, xs, out: b.node("PRelu", xs, out))
    return None


def _onnx_swish(node, b):
    return _onnx_alpha("Swish", "beta")(node, b) if b.has("Swish") else None


def _onnx_gelu(node, b):
    """Gelu from opset 20, exact or with approximate="tanh"; the sigmoid approximation is Swish (opset 24)."""
    form = node.attrs["approximate"]
    if form == "sigmoid":
        return Plan(node.inputs, lambda b, xs, out: b.node("Swish", xs, out, alpha=1.702)) if b.has("Swish") else None
    if not b.has("Gelu"):
        return None
    return Plan(node.inputs, lambda b, xs, out: b.node("Gelu", xs, out, **({"approximate": "tanh"} if form == "tanh"
                                                                            else {})))


def _import_alpha(build, default):
    """The import form of an ONNX activation whose one attribute, alpha, is the builder's second argument."""
    return lambda imp, operands, attrs: [build(imp.tensor(operands[0]), attrs.take("alpha", default))]


def _import_gelu(imp, operands, attrs):
    return [gelu(imp.tensor(operands[0]), attrs.require("approximate", ["none", "tanh"], "none"))]


register_composite("leaky_relu", _leaky_relu, shape=_same_shape, activation=True,
                   onnx_export=_onnx_alpha("LeakyRelu", "alpha"),
                   onnx_import={"LeakyRelu": _import_alpha(lambda z, alpha: leaky_relu(z, alpha), 0.01)})
register_composite("prelu", _prelu, shape=_prelu_shape, activation=True, onnx_export=_onnx_prelu,
                   onnx_import={"PRelu": same_operands(lambda z, slope: prelu(z, slope))})
register_composite("elu", _elu, shape=_same_shape, activation=True, onnx_export=_onnx_alpha("Elu", "alpha"),
                   onnx_import={"Elu": _import_alpha(lambda z, alpha: elu(z, alpha), 1.0)})
register_composite("swish", _swish, shape=_same_shape, activation=True, onnx_export=_onnx_swish,
                   onnx_import={"Swish": _import_alpha(lambda z, alpha: swish(z, alpha), 1.0)})
register_composite("gelu", _gelu, shape=_same_shape, activation=True, onnx_export=_onnx_gelu,
                   onnx_import={"Gelu": _import_gelu})


def _mish(z):
    return z * tanh(softplus(z))


def _onnx_mish(node, b):
    """Mish from opset 18 (the `onnx` rule names it for import)."""
    return Plan(node.inputs, lambda b, xs, out: b.node("Mish", xs, out)) if b.has("Mish") else None


register_composite("mish", _mish, shape=_same_shape, activation=True, onnx="Mish", onnx_export=_onnx_mish)


def mish(z):
    """z tanh(softplus(z)) (Misra, 2019): smooth, dipping slightly below zero, unbounded above."""
    require_tensor("mish", z)
    return make_node("mish", (z,))


def leaky_relu(z, alpha=0.01):
    """z where positive, alpha*z elsewhere."""
    require_tensor("leaky_relu", z)
    return make_node("leaky_relu", (z,), {"alpha": checks.real("leaky_relu", "alpha", alpha, ANY_REAL)})


def prelu(z, slope=None, name="prelu", trainable=True):
    """Leaky relu whose slope is learned, one per unit (the last axis); starts at 0.25 (trainable=False:
    frozen there)."""
    require_tensor("prelu", z)
    if slope is None:
        from .. import init
        trainable = checks.flag("prelu", "trainable", trainable)
        with layer_scope(name):
            slope = param(f"{name}/alpha", (z.shape[-1],), init=init.constant(0.25), dtype=z.dtype, regularize=False,
                          trainable=trainable)
            return make_node("prelu", (z, slope))
    return make_node("prelu", (z, slope))


def elu(z, alpha=1.0):
    """z where positive, alpha (e^z - 1) elsewhere; exp sees only z <= 0, so it cannot overflow."""
    require_tensor("elu", z)
    return make_node("elu", (z,), {"alpha": checks.real("elu", "alpha", alpha, ANY_REAL)})


def swish(z, beta=1.0):
    """z * sigmoid(beta z)."""
    require_tensor("swish", z)
    return make_node("swish", (z,), {"beta": checks.real("swish", "beta", beta, ANY_REAL)})


def gelu(z, approximate="none"):
    """z Phi(z): exact with erf, or the "tanh" and "sigmoid" (z sigmoid(1.702 z)) approximations."""
    require_tensor("gelu", z)
    if approximate not in GELU_FORMS:
        fail(GraphError, "gelu", f"approximate={approximate!r}: use 'none', 'tanh' or 'sigmoid'")
    return make_node("gelu", (z,), {"approximate": approximate})


def _softmax_shape(x, axis):
    return x.shape, require_float(x, what="input")


def _softmax_ref(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _onnx_softmax(op_type):
    return lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node(op_type, xs, out, axis=node.attrs["axis"]))


def _import_softmax(build):
    """Softmax and LogSoftmax: one axis from opset 13; before it, every axis from `axis` on, which staticnet
    imports only for the last axis."""
    def translate(imp, operands, attrs):
        x = imp.tensor(operands[0])
        axis = attrs.take("axis", -1 if imp.opset >= 13 else 1) % max(x.ndim, 1)
        if imp.opset < 13 and axis != x.ndim - 1:
            raise Unsupported(f"axis={axis} before opset 13 normalises over every axis from {axis} on; staticnet "
                              "imports that only for the last axis")
        return [build(x, axis)]
    return translate


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
         activation=True, classifier_output=True, onnx_export=_onnx_softmax("Softmax"),
         onnx_import={"Softmax": _import_softmax(lambda z, axis: softmax(z, axis))},
         lower=_rowwise_lowering("softmax.softmax_rows"),
         note="e^(z - max z) / sum e^(z - max z) per row: the largest power is "
                                                         "e^0, so none overflows")
register("log_softmax", shape=_softmax_shape, numpy=_log_softmax_ref,
         grad=lambda n, g: (g - exp(n) * reduce_sum(g, n.attrs["axis"], keepdims=True),), kind="opaque",
         activation=True, onnx_export=_onnx_softmax("LogSoftmax"),
         onnx_import={"LogSoftmax": _import_softmax(lambda z, axis: log_softmax(z, axis))},
         lower=_rowwise_lowering("softmax.log_softmax_rows"),
         note="z - max z - log sum e^(z - max z) per row: no overflow, no "
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
    "hard_sigmoid": hard_sigmoid, "mish": mish,
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
