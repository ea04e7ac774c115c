"""Ops made by the fusion passes, never by users.

An elementwise *program* is a tuple of instructions ``(op, args, attrs)``; an arg
below the number of node inputs names an input, and arg ``k + j`` the result of
instruction j.  A program runs as one loop over the output's elements.

- ``fused``: one program, one output.
- ``fused_multi``: a program with several results, some summed over every axis but
  the last in the same loop (a bias gradient beside its delta); read through ``part``.
- ``fused_update``: a program whose results overwrite some of its inputs in place
  (an optimizer step: parameter and state in one pass).
- ``gemm``: a matrix product (operands possibly transposed views) followed by an
  elementwise epilogue program whose input 0 is the product.
- ``gemm_update``: target <- alpha op(a) @ op(b) + beta target in place, alpha and
  beta scalars: an SGD step (with weight decay) as a single BLAS call.
"""
from __future__ import annotations

import numpy as np

from ..codegen.library import split_gemm
from ..registry import register, registry


def run_program(program, arrays):
    """The reference value of every instruction of an elementwise program."""
    values = list(arrays)
    for op, args, attrs in program:
        values.append(np.asarray(registry[op].numpy(*(values[a] for a in args), **dict(attrs))))
    return values[len(arrays):]


def _declared(*inputs, shape, dtype, **attrs):
    return shape, np.dtype(dtype)


register("fused", shape=_declared, grad=None, kind="elementwise",
         numpy=lambda *arrays, program, shape, dtype: run_program(program, arrays)[-1])


def _multi_ref(*arrays, program, results, parts, **_):
    values = run_program(program, arrays)
    leading = tuple(range(len(parts[0][0]) - 1))
    return tuple(np.sum(values[index], axis=leading) if mode == "colsum" else values[index] for index, mode in results)


def _lower_multi(node, d):
    """One loop computing the results of the program that are read; "colsum" ones summed over every axis
    but the last."""
    parts = d.parts(node)
    wanted = [i for i in range(len(node.attrs["results"])) if i in parts]
    d.loop(node.attrs["parts"][0][0], list(node.inputs), node.attrs["program"],
           [node.attrs["results"][i] for i in wanted], [d.address(parts[i]) for i in wanted],
           [parts[i].dtype for i in wanted])


register("fused_multi", shape=lambda *inputs, **attrs: ((), np.dtype(attrs["parts"][0][1])), grad=None,
         kind="multi", numpy=_multi_ref, lower=_lower_multi)


def _update_ref(*arrays, program, writes, **_):
    values = run_program(program, arrays)
    return tuple(np.broadcast_to(values[index], arrays[target].shape) for index, target in writes)


def _lower_update(node, d):
    """The optimizer step of one parameter: one loop, parameter and state overwritten in place."""
    writes = node.attrs["writes"]
    target = node.inputs[writes[0][1]]
    d.loop(target.shape, list(node.inputs), node.attrs["program"],
           [(instruction, ("write", k)) for instruction, k in writes], [None] * len(writes),
           [node.inputs[k].dtype for _, k in writes])


register("fused_update", shape=lambda *inputs, **attrs: ((), inputs[0].dtype), grad=None, kind="effect",
         numpy=_update_ref, lower=_lower_update)

register("part", shape=_declared, grad=None, kind="part", numpy=lambda multi, index, shape, dtype: multi[index],
         lower=lambda node, d: None)  # parts are written by the node they are part of


def as_matrix(x):
    """A stack of rows (..., K) as the matrix (rows, K) the product kernel sees."""
    return x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x


def product_of(a, b, trans_a, trans_b, out_shape):
    a, b = as_matrix(a), as_matrix(b)
    product = (a.T if trans_a else a) @ (b.T if trans_b else b)
    return product.reshape(-1, *out_shape[1:]) if len(out_shape) > 2 else product


def _gemm_ref(a, b, *extra, trans_a, trans_b, epilogue, shape, dtype):
    product = product_of(a, b, trans_a, trans_b, shape)
    return run_program(epilogue, (product,) + extra)[-1] if epilogue else product


def gemm_call(d, a, b, out, trans_a, trans_b, alpha: str, beta: str):
    """out = alpha op(a) @ op(b) + beta out for library.Array operands: large products outside a batch
    segment are cut among the threads (codegen/library.py split_gemm); inside one, where each thread works
    on its own rows, the same kernel runs whole (one part, no runner)."""
    kernel, part = split_gemm(out.dtype)
    flags = [str(int(trans_a)), str(int(trans_b))]  # values, not constants: one compiled product for every layout
    arguments = [x for m in (a, b, out) for x in [m.address, *m.dims]] + flags + [alpha, beta]
    if d.batch == "n":
        d.call(kernel, arguments + ["parts", "threads", "runner_at", d.lazy_part(part)])
    else:
        d.call(kernel, arguments + ["1", "1", "0", "0"])


def _lower_gemm(node, d):
    a, b, *extra = node.inputs
    gemm_call(d, d.matrix(a), d.matrix(b), d.matrix(node), node.attrs["trans_a"], node.attrs["trans_b"], "1.0", "0.0")
    epilogue = node.attrs["epilogue"]
    if epilogue:
        d.loop(node.shape, [node] + list(extra), epilogue, [(len(epilogue) - 1, "map")], [d.address(node)],
               [node.dtype])


register("gemm", shape=_declared, grad=None, kind="gemm", numpy=_gemm_ref, lower=_lower_gemm)


def _gemm_update_ref(a, b, target, alpha, beta, *, trans_a, trans_b, writes):
    product = product_of(a, b, trans_a, trans_b, target.shape)
    return (alpha * product + beta * target,)


def _lower_gemm_update(node, d):
    """target <- alpha op(a) @ op(b) + beta target: one BLAS call, in place."""
    a, b, target, alpha, beta = node.inputs
    gemm_call(d, d.matrix(a), d.matrix(b), d.matrix(target), node.attrs["trans_a"], node.attrs["trans_b"],
              d.value(alpha), d.value(beta))


register("gemm_update", shape=lambda *inputs, **attrs: ((), inputs[2].dtype), grad=None, kind="effect",
         numpy=_gemm_update_ref, lower=_lower_gemm_update)
