"""Constant folding: an op whose inputs are all constants becomes a constant."""
import numpy as np

from ..graph import Tensor
from ..registry import registry
from .rules import EVERY_OP, RuleSet

FOLDABLE_KINDS = ("elementwise", "broadcast", "reduce", "shape", "gemm")

fold_constants = RuleSet("fold_constants")


@fold_constants.rule(EVERY_OP)
def evaluate_constant_op(node, inputs, context):
    """op(constants...) -> constant(op's NumPy reference applied to them)."""
    opdef = registry[node.op]
    if opdef.kind not in FOLDABLE_KINDS or None in node.shape or not all(t.op == "constant" for t in inputs):
        return None
    value = np.asarray(opdef.numpy(*(t.value for t in inputs), **node.attrs), dtype=node.dtype)
    value = np.array(np.broadcast_to(value, node.shape))
    value.setflags(write=False)
    return Tensor("constant", (), {}, node.shape, node.dtype, node.loc, value=value)
