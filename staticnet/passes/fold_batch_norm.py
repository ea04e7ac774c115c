"""For a deployed model (staticnet.inference, ONNX export): a batch norm reading its moving statistics right
after a dense or conv layer is folded into that layer's weights.

    BN(x @ W + b) = (x @ W + b - mean) * s + beta,  s = gamma / sqrt(var + eps)
                  = x @ (W * s) + ((b - mean) * s + beta)

A convolution is a product of its patches with W, so one rule serves both. The folded W and b are computed in
float64 from the current values and become constants of the layer's dtype: the graph that deploys a model's
weights as they are, not the compiled model, whose predict and evaluate read the parameters a later fit changes
(there the batch norm is one elementwise pass over the layer's output). A batch norm whose input is anything
else, or whose layer's weights are computed rather than held, is left as it is.
"""
from __future__ import annotations

import numpy as np

from ..graph import constant, make_node
from ..registry import has_trait
from .rules import RuleSet

fold_batch_norm = RuleSet("fold_batch_norm")


def _held(t) -> bool:
    """A value known now: a parameter's or a constant's."""
    return t.op in ("param", "constant")


def _layer(z):
    """(product, bias or None) when z is x @ W or x @ W + b with W and b held, else None."""
    if has_trait(z, "product"):
        product, bias = z, None
    elif z.op == "add" and has_trait(z.inputs[0], "product") and _held(z.inputs[1]) and z.inputs[1].ndim == 1:
        product, bias = z.inputs
    else:
        return None
    weights = product.inputs[1]
    if not _held(weights) or weights.ndim != 2 or weights.shape[1] != z.shape[-1]:
        return None
    return product, bias


@fold_batch_norm.rule("batch_norm")
def into_the_layer_before(node, inputs, context):
    """BN(x @ W + b) -> x @ (W * s) + ((b - mean) * s + beta), s = gamma / sqrt(var + eps)"""
    z, gamma, beta, mean, var = inputs
    layer = _layer(z)
    if node.attrs["training"] or layer is None or not all(_held(t) for t in (gamma, beta, mean, var)):
        return None
    product, bias = layer
    scale = gamma.value.astype(np.float64) / np.sqrt(var.value.astype(np.float64) + node.attrs["eps"])
    weights = product.inputs[1].value.astype(np.float64) * scale
    offset = bias.value.astype(np.float64) if bias is not None else 0.0
    shift = (offset - mean.value.astype(np.float64)) * scale + beta.value.astype(np.float64)
    folded = make_node(product.op, (product.inputs[0], constant(weights.astype(node.dtype))), product.attrs,
                       loc=product.loc)
    folded.layer = product.layer
    result = folded + constant(shift.astype(node.dtype))
    result.layer = node.layer
    return result
