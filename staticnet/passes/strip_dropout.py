"""For evaluation and prediction: inverted dropout is the identity, the book's form a scaling by 1 - rate."""
from ..graph import lift
from ..ops.nn import dropout_scales
from .rules import RuleSet

strip_dropout = RuleSet("strip_dropout", keep_shape=False)  # the mask becomes a scalar that broadcasts


@strip_dropout.rule("dropout_mask")
def mask_of_ones(node, inputs, context):
    """x * dropout_mask(x) -> x * 1 (which simplification then removes), or x * (1 - rate) for the book's
    non-inverted dropout."""
    return lift(dropout_scales(node.attrs)[1], node)
