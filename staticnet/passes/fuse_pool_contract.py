"""The filter gradient of a max-pooled convolution is one kernel: contract(patches, max_pool2d_grad(z,
pooled, g)) becomes max_pool_contract(patches, z, pooled, g) when nothing else reads the pooling gradient
(a first layer, whose input needs none).  The full-resolution gradient is then made a few images at a
time in each thread's cache instead of written out for the whole batch and read back by the product
(kernels/pool.py, max_pool_contract_block, says what that gains)."""
from __future__ import annotations

from ..ops.pool import max_pool_contract
from .rules import RuleSet

fuse_pool_contract = RuleSet("fuse_pool_contract")


@fuse_pool_contract.rule("contract")
def pooled_filter_gradient(node, inputs, context):
    """contract(patches, max_pool2d_grad(z, pooled, g)) -> max_pool_contract(patches, z, pooled, g)."""
    delta = node.inputs[1]
    if delta.op != "max_pool2d_grad" or len(context.readers(delta)) != 1:
        return None
    return max_pool_contract(inputs[0], *inputs[1].inputs, delta.attrs, node.loc)
