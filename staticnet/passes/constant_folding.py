"""Constant folding: an op whose inputs are all constants becomes a constant."""
import numpy as np

from ..graph import Tensor
from ..registry import registry
from .rules import EVERY_OP, RuleSet

fold_constants = RuleSet("fold_constants")


@fold_constants.rule(EVERY_OP)
def evaluate_constant_op(node, inputs, context):
    """op(constants...) -> constant(op's NumPy reference applied to them)."""
    opdef = registry[node.op]
    pure = node.kind in ("elementwise", "broadcast", "reduce", "shape", "gemm")  # no effect, randomness or kernel
    if not pure or None in node.shape or not all(t.op == "constant" for t in inputs):
        return None
    value = np.asarray(opdef.numpy(*(t.value for t in inputs), **node.attrs), dtype=node.dtype)
    value = np.array(np.broadcast_to(value, node.shape))
    value.setflags(write=False)
    return Tensor("constant", (), {}, node.shape, node.dtype, node.loc, value=value)
