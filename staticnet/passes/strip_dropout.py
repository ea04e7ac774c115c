"""For evaluation and prediction: inverted dropout is the identity, the book's form a scaling by 1 - rate, and a
batch norm reads its moving statistics instead of the batch's."""
from ..graph import lift, make_node
from ..ops.nn import dropout_scales
from ..ops.reduce import broadcast_like
from .rules import RuleSet

strip_dropout = RuleSet("strip_dropout", keep_shape=False)  # the mask becomes a scalar that broadcasts


@strip_dropout.rule("dropout_mask")
def mask_of_ones(node, inputs, context):
    """x * dropout_mask(x) -> x * 1 (which simplification then removes), or x * (1 - rate) for the book's
    non-inverted dropout."""
    return lift(dropout_scales(node.attrs)[1], node)


@strip_dropout.rule("batch_norm", "batch_norm_grad")
def moving_statistics(node, inputs, context):
    """batch_norm(x; training) -> batch_norm(x; moving statistics), and its gradient node likewise"""
    if not node.attrs["training"]:
        return None
    evaluating = make_node(node.op, inputs, {**node.attrs, "training": False}, loc=node.loc)
    evaluating.layer = node.layer
    return evaluating


@strip_dropout.rule("training_select")
def evaluation_operand(node, inputs, context):
    """training_select(a, b) -> b (stretched to a's shape where b is a scalar)"""
    a, b = inputs
    return b if b.shape == node.shape else broadcast_like(b, a)
