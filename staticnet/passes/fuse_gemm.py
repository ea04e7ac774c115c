"""Matrix products become `gemm` nodes: transposed operands are read as views, and
an elementwise reader of the product (bias add, activation, the activation
derivative times the incoming gradient) becomes the product's epilogue."""
from __future__ import annotations

from ..graph import Tensor, make_node
from ..loop_body import loop_body_of
from ..ops.fused import gemm
from ..program import Program, consumers, rebuild
from ..registry import has_trait
from .fuse_elementwise import LoopBodyBuilder, loopable


def _operand(t: Tensor):
    """A 2-D transpose is absorbed as a flag: BLAS and the kernels read x.T for free."""
    if t.op == "transpose" and t.ndim == 2:
        return t.inputs[0], True
    return t, False


def _gemm(product: Tensor, extra_inputs, epilogue, shape, dtype, loc):
    if product.op == "contract":  # (..., K) x (..., F): a as rows, transposed
        (a, trans_a), (b, trans_b) = (product.inputs[0], True), (product.inputs[1], False)
    else:
        (a, trans_a), (b, trans_b) = _operand(product.inputs[0]), _operand(product.inputs[1])
    return gemm(a, b, extra_inputs, trans_a, trans_b, epilogue, shape, dtype, loc)


def fuse_gemm(program: Program) -> Program:
    """matmul(a, b) -> gemm(a, b); f(matmul(a, b), c...) -> gemm(a, b, c...; epilogue=f) for elementwise f."""
    readers = consumers(program)

    def epilogue_slot(node: Tensor):
        """Which input product an elementwise node absorbs (the first that only it reads), if any."""
        if not loopable(node):
            return None
        for i, t in enumerate(node.inputs):
            if has_trait(t, "product") and len(readers.get(t.id, [])) == 1 and t.shape == node.shape:
                return i
        return None

    def absorbed(product: Tensor) -> bool:
        return any(r is not None and epilogue_slot(r) is not None and r.inputs[epilogue_slot(r)] is product
                   for r in readers.get(product.id, []))

    def rule(node, inputs):
        slot = epilogue_slot(node)
        if slot is not None:
            builder = LoopBodyBuilder()
            product = inputs[slot]
            builder.input_ref(product)  # the product is input 0 of the epilogue
            builder.add(*loop_body_of(node, inputs))
            epilogue_inputs, epilogue = builder.finish()
            return _gemm(product, epilogue_inputs[1:], epilogue, node.shape, node.dtype, node.loc)
        if has_trait(node, "product") and not absorbed(node):
            return _gemm(make_node(node.op, inputs, loc=node.loc), (), (), node.shape, node.dtype, node.loc)
        return None

    return rebuild(program, rule)
