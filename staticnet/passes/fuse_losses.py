"""Softmax and its cross-entropy (and sigmoid and its binary cross-entropy) as one
stable kernel: when a graph needs both the probabilities and the loss of the same
logits, one pass over the logits gives both."""
from __future__ import annotations

from ..graph import make_node
from ..program import Program, rebuild

PAIRS = {"softmax_xent": ("softmax", "softmax_xent_multi"), "sigmoid_xent": ("sigmoid", "sigmoid_xent_multi")}


def _activation_matches(node, loss):
    activation, _ = PAIRS[loss.op]
    if node.op != activation or node.inputs[0] is not loss.inputs[0]:
        return False
    return activation == "sigmoid" or node.attrs["axis"] == node.ndim - 1


def fuse_losses(program: Program) -> Program:
    """softmax(z) and softmax_xent(z, y) -> parts of softmax_xent_multi(z, y); likewise for sigmoid."""
    nodes = program.nodes()
    losses = [n for n in nodes if n.op in PAIRS]
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
            z, y = loss.inputs  # logits and labels are upstream of both: never rebuilt differently
            multi = make_node(PAIRS[loss.op][1], (z, y), loc=loss.loc)
            made[loss.id] = {
                loss.id: make_node("part", (multi,), {"index": 0, "shape": (), "dtype": loss.dtype.name}, loc=loss.loc),
                partner.id: make_node("part", (multi,), {"index": 1, "shape": partner.shape, "dtype": partner.dtype.name},
                                      loc=partner.loc)}
        return made[loss.id][node.id]

    return rebuild(program, rule)
