"""The filter gradient of a max-pooled convolution is one kernel: contract(patches, max_pool2d_grad(z,
pooled, g)) becomes max_pool_contract(patches, z, pooled, g) when nothing else reads the pooling gradient
(a first layer, whose input needs none).  The full-resolution gradient is then made a few images at a
time in each thread's cache instead of written out for the whole batch and read back by the product
(kernels/pool.py says what that gained)."""
from __future__ import annotations

from ..graph import make_node
from ..program import Program, consumers, rebuild


def fuse_pool_contract(program: Program) -> Program:
    """contract(patches, max_pool2d_grad(z, pooled, g)) -> max_pool_contract(patches, z, pooled, g)."""
    readers = consumers(program)
    fired = []

    def rule(node, inputs):
        delta = node.inputs[1] if node.op == "contract" else None
        if delta is None or delta.op != "max_pool2d_grad" or len(readers[delta.id]) != 1:
            return None
        fired.append(node)
        return make_node("max_pool_contract", (inputs[0], *inputs[1].inputs), delta.attrs, loc=node.loc)

    out = rebuild(program, rule)
    return out if fired else program
