"""Layer helpers: composites that create their own parameters."""
from __future__ import annotations

import re

from .. import checks
from ..errors import DTypeError, GraphError, ShapeError
from ..graph import fail, fmt_shape, layer_scope, make_node, param, require_tensor, topological
from ..onnx_support import Unsupported
from ..registry import no_gradient, register
from .. import init as initializers
from .activations import activation as apply_activation, prelu
from .linalg import matmul

def layer_name(kind: str, name: str | None, x, op: str | None = None) -> str:
    """A layer's name (its layer_scope and its parameters' prefix): the user's (checked as a name, errors
    naming `op`, the layer's builder), or the kind numbered by how many such layers feed x (dense1, dense2,
    ...), so the same model built twice gets the same names."""
    if name is not None and name != "":
        return checks.name(op or kind, name, "layer name")
    pattern = re.compile(rf"{kind}(\d+)$")
    upstream = [int(m.group(1)) for t in topological(x) if t.layer and (m := pattern.match(t.layer))]
    return f"{kind}{max(upstream, default=0) + 1}"


def dense(x, units: int, activation=None, init=None, bias_init=None, name=None, trainable=True):
    """activation(x @ W + b), with W of shape (in, units) and b of shape (units,); trainable=False freezes W and
    b (and a prelu's slopes)."""
    require_tensor("dense", x)
    if x.ndim == 1:
        declared = f"sn.input({x.name!r}, (None, {x.shape[0]}))" if x.op == "input" else "a first axis of None"
        fail(ShapeError, "dense", f"input of shape {fmt_shape(x.shape)} has no batch dimension: dense takes (batch, "
                                  f"features); declare the batch axis as None, e.g. {declared}")
    if x.ndim != 2:
        fail(ShapeError, "dense", f"input of shape {fmt_shape(x.shape)} must be (batch, features); use sn.flatten first")
    if not x.is_float:
        fail(DTypeError, "dense", f"input has dtype {x.dtype}; dense layers take float32 or float64 (use sn.cast)")
    units = checks.count("dense", "units", units)
    trainable = checks.flag("dense", "trainable", trainable)
    try:
        weight_init, bias_init = initializers.resolve(init), initializers.resolve(bias_init)
    except ValueError as e:
        fail(GraphError, "dense", str(e))
    name = layer_name("dense", name, x)
    with layer_scope(name):
        W = param(f"{name}/W", (x.shape[1], units), init=weight_init, dtype=x.dtype, trainable=trainable)
        b = param(f"{name}/b", (units,), init=bias_init or initializers.zeros(), dtype=x.dtype, trainable=trainable)
        z = matmul(x, W) + b
        if activation == "prelu":
            return prelu(z, name=name, trainable=trainable)
        return apply_activation(activation, z, op="dense")


def dropout_scales(attrs) -> tuple[float, float]:
    """(what a kept unit is multiplied by in training, what every unit is multiplied by at evaluation) for a
    dropout_mask's attributes.  Inverted dropout (the default) scales in training, the book's network3.py at
    evaluation; both keep each unit's expected value.  A mask saved before the option existed has no
    `inverted` attribute and is inverted."""
    rate = attrs["rate"]
    return (1.0 / (1.0 - rate), 1.0) if attrs.get("inverted", True) else (1.0, 1.0 - rate)


def _dropout_mask_ref(x, rate, inverted=True):
    from ..init import generator
    kept_scale, _ = dropout_scales({"rate": rate, "inverted": inverted})
    keep = generator().random(x.shape) >= rate
    return (keep * kept_scale).astype(x.dtype)


def _lower_dropout_mask(node, d):
    """Each element kept (times dropout_scales' training factor) or zeroed by Numba's generator, seeded per
    epoch."""
    from ..codegen.kernel_layer import ABI_POINTER, Kernel
    from ..codegen.driver import product
    from ..codegen.elementwise import typed_literal
    rate = node.attrs["rate"]
    kept_scale, _ = dropout_scales(node.attrs)
    keep, zero = typed_literal(kept_scale, node.dtype), typed_literal(0.0, node.dtype)
    kernel = Kernel("dropout_mask", (("out_p", ABI_POINTER[node.dtype.name]), ("size", "i64")),
                    ("out = carray(out_p, (size,))", "for i in range(size):",
                     f"    out[i] = {keep} if np.random.random() >= {rate!r} else {zero}"),
                    f"Dropout mask, rate {rate!r}, kept units times {kept_scale!r}")
    d.call(kernel, [d.address(node), product(d.dims(node))])


def _import_dropout(imp, operands, attrs):
    """ONNX's Dropout in an inference graph: the identity (ONNX's is inverted dropout)."""
    attrs.take("seed")
    training = imp.optional(operands, 2)
    if training is not None and bool(imp.known(training, "training_mode")):
        raise Unsupported("training_mode is true; staticnet imports the inference graph (dropout the identity)")
    return [imp.tensor(operands[0])]


register("dropout_mask", shape=lambda x, rate, inverted=True: (x.shape, x.dtype), numpy=_dropout_mask_ref,
         grad=no_gradient, kind="random", lower=_lower_dropout_mask, onnx_import={"Dropout": _import_dropout})


def dropout(x, rate: float, inverted: bool = True):
    """Dropout: in training each unit is kept with probability 1 - rate and the others zeroed.

    inverted=True (the default): a kept unit is scaled by 1/(1 - rate) in training, and at evaluation and
    prediction dropout is the identity.  inverted=False is the book's form (network3.py): kept units are
    unscaled in training and every unit is multiplied by 1 - rate at evaluation and prediction (the book
    scales the next layer's weights, which is the same product).  Both keep each unit's expected value."""
    require_tensor("dropout", x)
    rate = checks.real("dropout", "rate", rate, checks.FRACTION)
    if not isinstance(inverted, bool):
        fail(GraphError, "dropout", f"inverted must be True or False, got {checks.shown(inverted)}")
    if rate == 0.0:
        return x
    attrs = {"rate": float(rate)} if inverted else {"rate": float(rate), "inverted": False}
    return x * make_node("dropout_mask", (x,), attrs)
