"""Pool as early as the values allow: before a per-channel bias, and max-pool before a monotone
activation.

max(z + b) = max(z) + b and mean(z + b) = mean(z) + b when b is the same over the window (one
value per channel); max(f(z)) = f(max(z)) for non-decreasing f.  Runs on the forward graph,
before differentiation, so that the backward pass follows: the bias, the activation and their
gradients then touch a quarter of the values (2x2 windows), and the pooling gradient lands
directly on the convolution's output.  Moving the activation removes two full-resolution passes
per step (the activation, a sigmoid's exp included, and its derivative loop); moving the bias removes the bias
pass over the convolution's output and, in the backward pass, the bias gradient's sum over it.
Where a moved node's output has other readers the rewrite still holds; the unpooled value is then
computed as well, for them.
"""
from ..graph import make_node
from ..registry import has_trait
from .rules import RuleSet

pool_early = RuleSet("pool_early")


def per_channel_bias(node):
    """(z, b) when node is z + b with b one value per channel (a vector along the last axis)."""
    if node.op != "add":
        return None
    for z, b in (node.inputs, node.inputs[::-1]):
        if z.shape == node.shape and b.ndim == 1 and node.ndim == 4 and b.shape[0] == node.shape[-1]:
            return z, b
    return None


def pooled(pool, x):
    """`pool` applied to x, pushed below every bias and (for max) activation it can pass."""
    bias = per_channel_bias(x)
    if bias is not None:
        z, b = bias
        return make_node("add", (pooled(pool, z), b), x.attrs, loc=x.loc)
    if pool.op == "max_pool2d" and has_trait(x, "monotone"):
        return make_node(x.op, (pooled(pool, x.inputs[0]),), x.attrs, loc=x.loc)
    return make_node(pool.op, (x,), pool.attrs, loc=pool.loc)


@pool_early.rule("max_pool2d", "avg_pool2d")
def pool_before_bias_and_activation(node, inputs, context):
    """pool(f(z + b)) -> f(pool(z) + b), as far as each pooling's input allows."""
    (x,) = inputs
    if not (per_channel_bias(x) or (node.op == "max_pool2d" and has_trait(x, "monotone"))):
        return None
    return pooled(node, x)
