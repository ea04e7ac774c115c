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

from ..graph import constant, make_node
from ..ops.batch_norm import folded, layer_before
from .rules import RuleSet

fold_batch_norm = RuleSet("fold_batch_norm")


@fold_batch_norm.rule("batch_norm")
def into_the_layer_before(node, inputs, context):
    """BN(x @ W + b) -> x @ (W * s) + ((b - mean) * s + beta), s = gamma / sqrt(var + eps)"""
    z, gamma, beta, mean, var = inputs
    layer = layer_before(z)
    if node.attrs["training"] or layer is None or not all(t.op in ("param", "constant") for t in inputs[1:]):
        return None
    product, bias = layer
    weights, shift = folded(product.inputs[1].value, None if bias is None else bias.value, gamma.value, beta.value,
                            mean.value, var.value, node.attrs["eps"])
    layer_product = make_node(product.op, (product.inputs[0], constant(weights)), product.attrs, loc=product.loc)
    layer_product.layer = product.layer
    result = layer_product + constant(shift)
    result.layer = node.layer
    return result
