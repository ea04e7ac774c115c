"""Batch normalisation (Ioffe and Szegedy 2015), with Keras's names and defaults and PyTorch's moving variance.

Over every axis but the last (the features of (batch, features), the channels of NHWC images):

    training:    y = (x - mean_B) / sqrt(var_B + eps) * gamma + beta   (mean_B, var_B: the batch's, var_B biased)
    evaluation:  y = (x - moving_mean) / sqrt(moving_var + eps) * gamma + beta
    after each training step:
                 moving_mean <- momentum * moving_mean + (1 - momentum) * mean_B
                 moving_var  <- momentum * moving_var  + (1 - momentum) * var_B * n / (n - 1)

n is the number of values each statistic is taken over (rows times positions).  The moving variance takes the
unbiased variance, as PyTorch's does; Keras's momentum m is PyTorch's 1 - m.

One op, `batch_norm`, with an attribute `training`.  It is a composite whose decomposition is made of three
ops each computed by one kernel of kernels/batch_norm.py: `channel_mean` and `channel_variance` (a pass over
the rows each) and `batch_normalize` (one pass: normalise, scale and shift).  Its gradient is not the
decomposition's (many passes over x): one `batch_norm_grad` node gives dx, dgamma, dbeta and the statistics'
gradients in two passes, the standard batch-norm gradient in training.  Its `state_updates` rule
gives the moving statistics' new values, which the model adds to the optimizer's updates; they read the same
`channel_mean` and `channel_variance` nodes, which common-subexpression elimination shares with the forward
pass.  For evaluation and prediction, passes/strip_dropout.py's rules set `training` to False on the batch
norm and on its gradient node (a gradient taken in training form follows the mode of the function or loop it
runs in, as the value does), and for deployment passes/fold_batch_norm.py folds it into a dense or conv layer
before it.
gamma and beta are trainable parameters; moving_mean and moving_var are parameters with trainable=False, the
one mechanism of frozen parameters: no gradient, no optimizer update, saved, loaded and exported like the rest.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import DTypeError, ShapeError
from ..graph import derived_from, fail, fmt_shape, layer_scope, lift, make_node, param, require_tensor
from .. import init as initializers
from ..onnx_support import Plan, Unsupported, number_attribute
from ..registry import has_trait, register
from ..codegen.library import Literal
from .shape_rules import broadcast_shapes, require_float
from .composite import register_composite
from .elementwise import maximum, sqrt
from .reduce import count, sum as reduce_sum


def _axes(x) -> tuple:
    return tuple(range(x.ndim - 1))


def _training_select_grad(node, g):
    """The gradient goes where the value came from: to the training value, and at evaluation to the other."""
    zero = lift(0.0, g)
    return make_node("training_select", (g, zero)), make_node("training_select", (zero, g))


# The one place the mode lives inside a graph: its first operand in a training step, its second at evaluation,
# where passes/strip_dropout.py replaces it by that operand.  Batch norm's statistics pass through it, so a
# gradient taken of a batch norm (its nodes made in training form) follows the mode of the function or loop it
# runs in, as its value does: sn.function(training=False), evaluate and learning_speed differentiate the form
# that reads the moving statistics.
register("training_select", shape=lambda a, b: (broadcast_shapes(a.shape, b.shape), require_float(a, b)),
         numpy=lambda a, b: np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)).copy(),
         grad=_training_select_grad, kind="elementwise", scalar="{0}")


def _lower_mean(node, d):
    d.library("batch_norm.channel_mean", [d.matrix(node.inputs[0]), d.array(node)])


def _lower_variance(node, d):
    x, mean = node.inputs
    d.library("batch_norm.channel_variance", [d.matrix(x), d.array(mean), d.array(node)])


def _lower_normalize(node, d):
    x, mean, variance, gamma, beta = node.inputs
    d.library("batch_norm.normalize", [d.matrix(x)] + [d.array(t) for t in (mean, variance, gamma, beta)]
              + [Literal(node.attrs["eps"]), d.matrix(node)])


# The batch's statistics over every axis but the last, and the normalisation given them: the ops a batch norm
# is inlined as, each one kernel.  Their decompositions give their shape rules, references and gradients.
register_composite("channel_mean", lambda x: reduce_sum(x, _axes(x)) / count(x, _axes(x)), kind="opaque",
                   lower=_lower_mean)
register_composite("channel_variance", lambda x, mean: reduce_sum((x - mean) * (x - mean), _axes(x))
                   / count(x, _axes(x)), kind="opaque", lower=_lower_variance)
register_composite("batch_normalize", lambda x, mean, variance, gamma, beta, eps:
                   (x - mean) / sqrt(variance + lift(eps, x)) * gamma + beta, kind="opaque", lower=_lower_normalize)


def batch_statistics(x):
    """(mean, biased variance, n) of x over every axis but the last: the nodes the forward pass and the
    moving update share."""
    mean = make_node("channel_mean", (x,))
    return mean, make_node("channel_variance", (x, mean)), count(x, _axes(x))


def _statistics(x, moving_mean, moving_var, training):
    """The mean and variance a batch norm normalises with: in training form the batch's, passed through
    training_select so that evaluation reads the moving ones."""
    if not training:
        return moving_mean, moving_var
    mean, variance, _ = batch_statistics(x)
    return make_node("training_select", (mean, moving_mean)), make_node("training_select", (variance, moving_var))


def _decomposition(x, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    mean, variance = _statistics(x, moving_mean, moving_var, training)
    return make_node("batch_normalize", (x, mean, variance, gamma, beta), {"eps": eps})


def _gradient(node, g):
    """dx, dgamma, dbeta, d moving_mean, d moving_var: the parts of one batch_norm_grad node."""
    x, gamma, beta, moving_mean, moving_var = node.inputs
    training = node.attrs["training"]
    mean, variance = _statistics(x, moving_mean, moving_var, training)
    multi = make_node("batch_norm_grad", (x, gamma, mean, variance, g),
                      {"eps": node.attrs["eps"], "training": training})
    return tuple(make_node("part", (multi,), {"index": i, "shape": t.shape, "dtype": t.dtype.name})
                 for i, t in enumerate(node.inputs))


def _gradient_reference(x, gamma, mean, variance, g, eps, training):
    """The gradient in NumPy from the formulas (the kernel's docstring says them): dx, dgamma, dbeta, dmean,
    dvariance."""
    axes = _axes(x)
    n = x.size // x.shape[-1]
    inverse = 1 / np.sqrt(variance + x.dtype.type(eps))
    normalized = (x - mean) * inverse
    sum_g, sum_g_normalized = g.sum(axes), (g * normalized).sum(axes)
    if training:
        dx = gamma * inverse * (g - sum_g / n - normalized * sum_g_normalized / n)
        dmean, dvariance = np.zeros_like(mean), np.zeros_like(variance)
    else:
        dx = g * gamma * inverse
        dmean, dvariance = -gamma * inverse * sum_g, -0.5 * gamma * inverse * inverse * sum_g_normalized
    return tuple(a.astype(x.dtype) for a in (dx, sum_g_normalized, sum_g, dmean, dvariance))


def _lower_gradient(node, d):
    x, gamma, mean, variance, g = node.inputs
    parts = d.parts(node)  # a gradient nothing reads is left unwritten; a stand-in of its rank is passed
    outputs = [d.matrix(parts[0]) if 0 in parts else d.matrix(x)]
    outputs += [d.array(parts[i]) if i in parts else d.array(mean) for i in range(1, 5)]
    d.library("batch_norm.normalize_grad", [d.matrix(x), d.array(mean), d.array(variance), d.array(gamma),
                                            d.matrix(g), Literal(node.attrs["eps"]),
                                            Literal(bool(node.attrs["training"]))] + outputs
              + [Literal(i in parts) for i in range(5)])


register("batch_norm_grad", shape=lambda x, gamma, mean, variance, g, eps, training: ((), x.dtype),
         numpy=_gradient_reference, grad=None, kind="multi", lower=_lower_gradient)


def _reference(x, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """The definition in NumPy's own mean and variance (not the decomposition's sums)."""
    axes = _axes(x)
    mean, variance = (x.mean(axes), x.var(axes)) if training else (moving_mean, moving_var)
    return ((x - mean) / np.sqrt(variance + x.dtype.type(eps)) * gamma + beta).astype(x.dtype)


def _moving_updates(node):
    """[(moving_mean, its value after the step), (moving_var, ...)] of a batch norm in training."""
    x, _, _, moving_mean, moving_var = node.inputs
    if not node.attrs["training"]:
        return []
    with derived_from(node.loc):  # made when the model compiles: the nodes carry the batch norm's line
        momentum = node.attrs["momentum"]
        mean, variance, n = batch_statistics(x)
        unbiased = variance * (n / maximum(n - lift(1.0, x), lift(1.0, x)))  # one value: its biased variance, 0
        keep, take = lift(momentum, x), lift(1.0 - momentum, x)
        return [(moving_mean, moving_mean * keep + mean * take), (moving_var, moving_var * keep + unbiased * take)]


def _shape(x, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    channels = (x.shape[-1],)
    for what, t in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean), ("moving_var", moving_var)):
        if t.shape != channels:
            raise ShapeError(f"{what} has shape {fmt_shape(t.shape)}; the input {fmt_shape(x.shape)} needs "
                             f"{fmt_shape(channels)}, one per feature of the last axis")
        if t.dtype != x.dtype:
            raise DTypeError(f"{what} has dtype {t.dtype}, the input {x.dtype}")
    return x.shape, x.dtype


def _onnx_batch_norm(node, b):
    """ONNX's BatchNormalization (inference: the moving statistics) on the channel axis 1: NHWC images are
    transposed to NCHW and back; (batch, features) needs no transpose."""
    if node.attrs["training"]:
        return None
    x = node.inputs[0]

    def emit(b, xs, out):
        operands = xs[1:]
        if x.ndim == 2:
            return b.node("BatchNormalization", [xs[0]] + operands, out, epsilon=node.attrs["eps"])
        to_first = tuple([0, x.ndim - 1] + list(range(1, x.ndim - 1)))
        back = tuple([0] + list(range(2, x.ndim)) + [1])
        normalised = b.node("BatchNormalization", [b.node("Transpose", [xs[0]], perm=list(to_first))] + operands,
                            epsilon=node.attrs["eps"])
        return b.node("Transpose", [normalised], out, perm=list(back))
    return Plan(node.inputs, emit)


def folded(weights, bias, gamma, beta, mean, var, eps):
    """(W', b') of a layer x @ W + b followed by a batch norm at evaluation, as one layer x @ W' + b':
    BN(z) = (z - mean) * s + beta with s = gamma / sqrt(var + eps), so W' = W * s and b' = (b - mean) * s + beta
    (bias None: 0).  Computed in float64, returned in W's dtype."""
    wide = [np.asarray(a, np.float64) for a in (gamma, beta, mean, var)]
    scale = wide[0] / np.sqrt(wide[3] + eps)
    offset = np.asarray(bias, np.float64) if bias is not None else 0.0
    dtype = np.asarray(weights).dtype
    return ((np.asarray(weights, np.float64) * scale).astype(dtype),
            ((offset - wide[2]) * scale + wide[1]).astype(dtype))


def layer_before(z):
    """(the product, its bias or None) when z is x @ W or x @ W + b, a dense or conv layer whose W and b are
    held (parameters or constants, W 2-D with one column per feature of z); else None."""
    def held(t):
        return t.op in ("param", "constant")
    if has_trait(z, "product"):
        product, bias = z, None
    elif z.op == "add" and has_trait(z.inputs[0], "product") and held(z.inputs[1]) and z.inputs[1].ndim == 1:
        product, bias = z.inputs
    else:
        return None
    weights = product.inputs[1]
    if not held(weights) or weights.ndim != 2 or weights.shape[1] != z.shape[-1]:
        return None
    return product, bias


def _import_batch_norm(imp, operands, attrs):
    """ONNX's BatchNormalization in an inference graph (training_mode 0), on axis 1 of (N, C) or (N, C, H, W).
    After a Conv, Gemm or MatMul whose weights are initializers it is folded into them (new parameters, the
    weights' names suffixed "_bn"); elsewhere it is staticnet's batch_norm, its statistics state as Keras's."""
    if attrs.take("training_mode", 0):
        raise Unsupported("training_mode is 1; staticnet imports the inference graph (the running statistics)")
    eps = number_attribute(attrs, "epsilon", 1e-5, checks.POSITIVE)
    momentum = number_attribute(attrs, "momentum", 0.9, checks.FRACTION)
    x = imp.tensor(operands[0])
    if x.ndim not in (2, 4):
        raise Unsupported(f"input of shape {x.shape}: staticnet imports BatchNormalization of (N, C) or (N, C, H, W)")
    z = imp.to_nhwc(x, "batch_norm") if x.ndim == 4 else x
    gamma, beta, mean, var = (imp.known(name, what) for name, what in
                              zip(operands[1:], ("scale", "bias", "mean", "variance")))
    layer = layer_before(z)
    if layer is not None:
        product, bias = layer
        weights = product.inputs[1]
        w, b = folded(weights.value, None if bias is None else bias.value, gamma, beta, mean, var, eps)
        y = make_node(product.op, (product.inputs[0], imp.parameter(f"{weights.name or operands[1]}_bn", w)),
                      product.attrs) + imp.parameter(f"{bias.name if bias is not None and bias.name else operands[2]}_bn", b)
    else:
        statistics = [imp.parameter(name, value, trainable=False) for name, value in zip(operands[3:5], (mean, var))]
        y = make_node("batch_norm", (z, imp.tensor(operands[1]), imp.tensor(operands[2]), *statistics),
                      {"eps": eps, "momentum": momentum, "training": True})
    return [imp.to_nchw(y) if x.ndim == 4 else y]


def _equations(node, state: bool) -> list[str]:
    """explain's lines for a batch norm: its values (normalise, scale and shift) or its state (moving update)."""
    name, m, eps = node.layer or "batch_norm", node.attrs["momentum"], node.attrs["eps"]
    if state:
        return [f"BN moving update ({name}): moving_mean <- {m:g} moving_mean + {1 - m:g} mu_B; moving_var <- "
                f"{m:g} moving_var + {1 - m:g} var_B n/(n-1), n values per feature"]
    statistics = ("mu_B, var_B: the batch's mean and biased variance of each feature" if node.attrs["training"]
                  else "mu_B, var_B: moving_mean, moving_var")
    return [f"BN normalise ({name}): z_hat = (z - mu_B) / sqrt(var_B + {eps:g}); {statistics}",
            f"BN scale and shift ({name}): y = gamma * z_hat + beta"]


def _flops(node, size):
    """Per value: subtract, divide, scale, shift; training adds the two sums and the centred square."""
    return size(node.shape) * (7 if node.attrs["training"] else 4)


register_composite("batch_norm", _decomposition, shape=_shape, numpy=_reference, grad=_gradient, state_updates=_moving_updates,
                   onnx_export=_onnx_batch_norm, onnx_import={"BatchNormalization": _import_batch_norm}, flops=_flops,
                   equations=_equations)


def batch_norm(x, momentum: float = 0.99, eps: float = 1e-3, name=None, trainable: bool = True):
    """Batch normalisation over every axis but the last (Keras's BatchNormalization, its defaults and names).

    Parameters {name}/gamma (ones) and {name}/beta (zeros), trained unless trainable=False; state
    {name}/moving_mean (zeros) and {name}/moving_var (ones), never trained, written by each training step as
    moving = momentum * moving + (1 - momentum) * batch (the variance unbiased, n/(n-1), as PyTorch's;
    PyTorch's momentum is 1 - this one).  Training normalises with the batch's mean and biased variance;
    evaluate, predict and inference with the moving statistics.  trainable=False freezes the layer as Keras
    does: gamma and beta are not trained, and it runs in inference mode in training too (the moving statistics
    normalise and no step writes them), so that fine-tuning a network under a frozen batch norm keeps what the
    layer learned; the gradient flows through it to the layers before.
    """
    from .nn import layer_name

    require_tensor("batch_norm", x)
    if x.ndim < 2:
        fail(ShapeError, "batch_norm", f"input of shape {fmt_shape(x.shape)} needs a batch axis and a feature axis")
    if not x.is_float:
        fail(DTypeError, "batch_norm", f"input has dtype {x.dtype}; batch_norm takes float32 or float64")
    momentum = checks.real("batch_norm", "momentum", momentum, checks.FRACTION)
    eps = checks.real("batch_norm", "eps", eps, checks.POSITIVE)
    trainable = checks.flag("batch_norm", "trainable", trainable)
    name = layer_name("batch_norm", name, x)
    channels = (x.shape[-1],)
    with layer_scope(name):
        gamma = param(f"{name}/gamma", channels, init=initializers.constant(1.0), dtype=x.dtype, regularize=False,
                      trainable=trainable)
        beta = param(f"{name}/beta", channels, init=initializers.zeros(), dtype=x.dtype, trainable=trainable)
        moving_mean = param(f"{name}/moving_mean", channels, init=initializers.zeros(), dtype=x.dtype,
                            trainable=False)
        moving_var = param(f"{name}/moving_var", channels, init=initializers.constant(1.0), dtype=x.dtype, trainable=False)
        return make_node("batch_norm", (x, gamma, beta, moving_mean, moving_var),
                         {"eps": float(eps), "momentum": float(momentum), "training": trainable}, called="batch_norm")
