"""An update W <- beta W + alpha (a @ b), alpha and beta scalars, is one BLAS call.

Plain SGD (W - lr dW) and SGD with L2 weight decay (W - lr (dW + lam/n W)) have
this form; BLAS's gemm computes it in place, reading the gradient product as it
is formed, so the gradient is never stored.
"""
from __future__ import annotations

from ..graph import Tensor, derived_from, lift
from ..ops.fused import gemm_update
from ..program import Program, origins


def _affine(update_leaf: Tensor, gemm: Tensor):
    """(alpha, beta) tensors if the gemm epilogue is alpha * product + beta * leaf, else None."""
    inputs = [None] + list(gemm.inputs[2:])
    one, zero = lift(1.0, update_leaf), None
    values = [(one, zero)] + [None] * (len(inputs) - 1)  # per input: (coefficient of product, of leaf)
    scalars = {}
    for i, t in enumerate(inputs[1:], 1):
        if t is update_leaf:
            values[i] = (zero, one)
        elif t.shape == () or (t.op == "constant" and t.value.size == 1):
            scalars[i] = t if t.shape == () else lift(float(t.value.reshape(-1)[0]), update_leaf)
    for op, args, _ in gemm.attrs["epilogue"]:
        forms = [values[a] if a < len(values) else None for a in args]
        ins = [scalars.get(a) for a in args]
        if op == "broadcast_like" and ins[0] is not None:  # a scalar stretched to a shape is still that scalar
            values.append(None)
            scalars[len(values) - 1] = ins[0]
            continue
        result = _combine(op, forms, ins)
        if result is None:
            return None
        values.append(result)
        scalars[len(values) - 1] = None
    alpha, beta = values[-1]
    if alpha is None or beta is None:
        return None
    return alpha, beta


def _scale(form, s):
    return tuple(None if c is None else c * s for c in form)


def _combine(op, forms, scalars):
    """The linear form of one instruction, or None if it is not linear in (product, leaf)."""
    if op in ("add", "sub") and forms[0] is not None and forms[1] is not None:
        sign = 1.0 if op == "add" else -1.0
        return tuple(a if b is None else (b * sign if a is None else a + b * sign)
                     for a, b in zip(forms[0], forms[1]))
    if op == "mul":
        if forms[0] is not None and scalars[1] is not None:
            return _scale(forms[0], scalars[1])
        if forms[1] is not None and scalars[0] is not None:
            return _scale(forms[1], scalars[0])
    if op == "div" and forms[0] is not None and scalars[1] is not None:
        return tuple(None if c is None else c / scalars[1] for c in forms[0])
    if op == "neg" and forms[0] is not None:
        return tuple(None if c is None else -c for c in forms[0])
    return None


def fuse_gemm_update(program: Program) -> Program:
    """(W, gemm(a, b; epilogue alpha P + beta W)) -> gemm_update(a, b, W, alpha, beta), an in-place effect."""
    kept, effects = [], list(program.effects)
    for leaf, value in program.updates:
        form = None
        if value.kind == "gemm" and value.attrs.get("epilogue") and leaf not in value.inputs[:2]:  # a fused product
            with derived_from(value.loc):
                form = _affine(leaf, value)
        if form is None:
            kept.append((leaf, value))
            continue
        alpha, beta = form
        effect = gemm_update(value.inputs[0], value.inputs[1], leaf, alpha, beta, value.attrs["trans_a"],
                             value.attrs["trans_b"], value.loc)
        effect.origin = origins(value)
        effects.append(effect)
    if len(kept) == len(program.updates):
        return program
    return program.replace(updates=tuple(kept), effects=tuple(effects))
