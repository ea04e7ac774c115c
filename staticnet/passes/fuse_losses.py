"""Softmax and its cross-entropy (and sigmoid and its binary cross-entropy) as one
stable kernel: when a graph needs both the probabilities and the loss of the same
logits, one pass over the logits gives both."""
from __future__ import annotations

from ..graph import make_node
from ..ops.fused import part
from ..program import Program, rebuild
from ..registry import has_trait, registry


def _activation_matches(node, loss):
    """node is the activation whose cross-entropy `loss` is (its registration's cross_entropy_of), of the same
    logits, along the last axis where it takes one."""
    if node.op != registry[loss.op].cross_entropy_of or node.inputs[0] is not loss.inputs[0]:
        return False
    return node.attrs.get("axis", node.ndim - 1) == node.ndim - 1


def fuse_losses(program: Program) -> Program:
    """softmax(z) and softmax_xent(z, y[, w]) -> parts of softmax_xent_multi(z, y[, w]); likewise for sigmoid."""
    nodes = program.nodes()
    losses = [n for n in nodes if has_trait(n, "with_activation")]
    pairs = {}
    for loss in losses:
        partner = next((n for n in nodes if _activation_matches(n, loss)), None)
        if partner is not None:
            pairs[loss.id], pairs[partner.id] = (loss, partner), (loss, partner)
    if not pairs:
        return program
    made = {}

    def rule(node, inputs):
        if node.id not in pairs:
            return None
        loss, partner = pairs[node.id]
        if loss.id not in made:
            # logits, labels (and row weights, where given) are upstream of both: never rebuilt differently
            multi = make_node(registry[loss.op].with_activation, loss.inputs, loc=loss.loc)
            made[loss.id] = {
                loss.id: part(multi, 0, (), loss.dtype, loss.loc),
                partner.id: part(multi, 1, partner.shape, partner.dtype, partner.loc)}
        return made[loss.id][node.id]

    return rebuild(program, rule)
