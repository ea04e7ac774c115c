"""Layer helpers: composites that create their own parameters."""
from __future__ import annotations

import re

from .. import checks
from ..errors import DTypeError, GraphError, ShapeError
from ..graph import fail, fmt_shape, make_node, param, require_tensor, topological
from ..registry import no_gradient, register
from .. import init as initializers
from .activations import activation as apply_activation, prelu
from .linalg import matmul

def layer_name(kind: str, name: str | None, x) -> str:
    """A name for a layer's parameters: the user's, or the kind numbered by how many such layers
    feed x (dense1, dense2, ...), so the same model built twice gets the same names."""
    if name:
        return name
    pattern = re.compile(rf"{kind}(\d+)/W$")
    upstream = [int(m.group(1)) for t in topological(x) if t.op == "param" and (m := pattern.match(t.name or ""))]
    return f"{kind}{max(upstream, default=0) + 1}"


def dense(x, units: int, activation=None, init=None, bias_init=None, name=None):
    """activation(x @ W + b), with W of shape (in, units) and b of shape (units,)."""
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
    try:
        weight_init, bias_init = initializers.resolve(init), initializers.resolve(bias_init)
    except ValueError as e:
        fail(GraphError, "dense", str(e))
    name = layer_name("dense", name, x)
    W = param(f"{name}/W", (x.shape[1], units), init=weight_init, dtype=x.dtype)
    b = param(f"{name}/b", (units,), init=bias_init or initializers.zeros(), dtype=x.dtype)
    z = matmul(x, W) + b
    if activation == "prelu":
        return prelu(z, name=name)
    return apply_activation(activation, z, op="dense")


def _dropout_mask_ref(x, rate):
    from ..init import generator
    keep = generator().random(x.shape) >= rate
    return (keep / (1.0 - rate)).astype(x.dtype)


def _lower_dropout_mask(node, d):
    """Each element kept (scaled by 1/(1 - rate)) or zeroed by Numba's generator, seeded per epoch."""
    from ..codegen.kernel_layer import ABI_POINTER, Kernel
    from ..codegen.driver import product
    from ..codegen.elementwise import typed_literal
    rate = node.attrs["rate"]
    keep, zero = typed_literal(1.0 / (1.0 - rate), node.dtype), typed_literal(0.0, node.dtype)
    kernel = Kernel("dropout_mask", (("out_p", ABI_POINTER[node.dtype.name]), ("size", "i64")),
                    ("out = carray(out_p, (size,))", "for i in range(size):",
                     f"    out[i] = {keep} if np.random.random() >= {rate!r} else {zero}"),
                    f"Inverted dropout mask, rate {rate!r}")
    d.call(kernel, [d.address(node), product(d.dims(node))])


register("dropout_mask", shape=lambda x, rate: (x.shape, x.dtype), numpy=_dropout_mask_ref, grad=no_gradient,
         kind="random", lower=_lower_dropout_mask)


def dropout(x, rate: float):
    """Inverted dropout: in training each unit is kept with probability 1 - rate and scaled by
    1/(1 - rate); at evaluation and prediction it is the identity."""
    require_tensor("dropout", x)
    rate = checks.real("dropout", "rate", rate, checks.FRACTION)
    if rate == 0.0:
        return x
    return x * make_node("dropout_mask", (x,), {"rate": float(rate)})
