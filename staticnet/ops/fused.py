"""Ops made by the fusion passes, never by users.

Each but the products runs a loop body (staticnet/loop_body.py) as one loop over
its elements:

- ``fused``: one body, one output.
- ``fused_multi``: a body with several results, some summed over every axis but
  the last in the same loop (a bias gradient beside its delta); read through ``part``.
- ``fused_update``: a body whose results overwrite some of its inputs in place
  (an optimizer step: parameter and state in one pass).
- ``gemm``: a matrix product (operands possibly transposed views) followed by an
  elementwise epilogue body whose input 0 is the product.
- ``gemm_update``: target <- alpha op(a) @ op(b) + beta target in place, alpha and
  beta scalars: an SGD step (with weight decay) as a single BLAS call.
"""
from __future__ import annotations

import numpy as np

from ..codegen.library import split_gemm
from ..graph import make_node
from ..loop_body import evaluate_body
from ..registry import register


def _declared(*inputs, shape, dtype, **attrs):
    return shape, np.dtype(dtype)


def _body_rules(name, loop_shape, extra=""):
    """The report's rules of an op running one loop body over `loop_shape(node)`: one FLOP per
    instruction and element, named by its instructions' ops."""
    return dict(flops=lambda node, size: len(node.attrs["body"]) * size(loop_shape(node)),
                describe=lambda node: f"{name}[{', '.join(op for op, _, _ in node.attrs['body'])}]{extra}",
                source_ops=lambda node: {op for op, _, _ in node.attrs["body"]})


register("fused", shape=_declared, grad=None, kind="elementwise",
         numpy=lambda *arrays, body, shape, dtype: evaluate_body(body, arrays)[-1],
         **_body_rules("fused", lambda node: node.shape))


def _multi_ref(*arrays, body, results, parts, **_):
    values = evaluate_body(body, arrays)
    leading = tuple(range(len(parts[0][0]) - 1))
    return tuple(np.sum(values[index], axis=leading) if mode == "colsum" else values[index] for index, mode in results)


def _lower_multi(node, d):
    """One loop computing the results of the body that are read; "colsum" ones summed over every axis
    but the last."""
    parts = d.parts(node)
    wanted = [i for i in range(len(node.attrs["results"])) if i in parts]
    d.loop(node.attrs["parts"][0][0], list(node.inputs), node.attrs["body"],
           [node.attrs["results"][i] for i in wanted], [d.address(parts[i]) for i in wanted],
           [parts[i].dtype for i in wanted])


register("fused_multi", shape=lambda *inputs, **attrs: ((), np.dtype(attrs["parts"][0][1])), grad=None,
         kind="multi", numpy=_multi_ref, lower=_lower_multi,
         **_body_rules("fused_multi", lambda node: node.attrs["parts"][0][0], " + column sums"))


def _update_ref(*arrays, body, writes, **_):
    values = evaluate_body(body, arrays)
    return tuple(np.broadcast_to(values[index], arrays[target].shape) for index, target in writes)


def _lower_update(node, d):
    """The optimizer step of one parameter: one loop, parameter and state overwritten in place."""
    writes = node.attrs["writes"]
    target = node.inputs[writes[0][1]]
    d.loop(target.shape, list(node.inputs), node.attrs["body"],
           [(instruction, ("write", k)) for instruction, k in writes], [None] * len(writes),
           [node.inputs[k].dtype for _, k in writes])


register("fused_update", shape=lambda *inputs, **attrs: ((), inputs[0].dtype), grad=None, kind="effect",
         numpy=_update_ref, lower=_lower_update,
         **_body_rules("fused_update", lambda node: node.inputs[node.attrs["writes"][0][1]].shape, " in place"))

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
    return evaluate_body(epilogue, (product,) + extra)[-1] if epilogue else product


def gemm_call(d, a, b, out, trans_a, trans_b, alpha: str, beta: str):
    """out = alpha op(a) @ op(b) + beta out for library.Array operands: large products outside a batch
    segment are cut among the threads (codegen/library.py split_gemm); inside one, where each thread works
    on its own rows, the same kernel runs whole (one part, no runner)."""
    kernel, part = split_gemm(out.dtype)
    flags = [str(int(trans_a)), str(int(trans_b))]  # values, not constants: one compiled product for every layout
    arguments = [x for m in (a, b, out) for x in [m.address, *m.dims]] + flags + [alpha, beta]
    if d.batch == "n":
        d.call(kernel, arguments + ["threads", "runner_at", d.lazy_part(part)])
    else:
        d.call(kernel, arguments + ["1", "0", "0"])


def _lower_gemm(node, d):
    a, b, *extra = node.inputs
    gemm_call(d, d.matrix(a), d.matrix(b), d.matrix(node), node.attrs["trans_a"], node.attrs["trans_b"], "1.0", "0.0")
    epilogue = node.attrs["epilogue"]
    if epilogue:
        d.loop(node.shape, [node] + list(extra), epilogue, [(len(epilogue) - 1, "map")], [d.address(node)],
               [node.dtype])


def _product_flops(node, size):
    """2 m k n for the product, plus one per element and epilogue instruction."""
    a, b = node.inputs[:2]
    matrix = lambda t: (size(t.shape[:-1]), t.shape[-1])  # noqa: E731  rows of a stack, then K
    rows, inner = matrix(a)[::-1] if node.attrs["trans_a"] else matrix(a)
    cols = matrix(b)[0] if node.attrs["trans_b"] else matrix(b)[1]
    return 2 * rows * inner * cols + len(node.attrs.get("epilogue", ())) * rows * cols


def _gemm_source_ops(node):
    return {"matmul"} | {op for op, _, _ in node.attrs.get("epilogue", ())}


def _describe_gemm(node):
    ops = [op for op, _, _ in node.attrs["epilogue"]]
    return "gemm" + (f" + epilogue[{', '.join(ops)}]" if ops else "")


def _gemm_row_wise(node, views):
    """Row by row when the rows of a (untransposed) are the batch and the weights b and the epilogue's
    batched inputs line up with the product's rows."""
    a, b, *extra = node.inputs
    return (not node.attrs["trans_a"] and None in a.shape and None not in b.shape
            and all(t.ndim == node.ndim for t in extra if None in t.shape))


register("gemm", shape=_declared, grad=None, kind="gemm", numpy=_gemm_ref, lower=_lower_gemm,
         row_wise=_gemm_row_wise, flops=_product_flops, describe=_describe_gemm, source_ops=_gemm_source_ops)


def _gemm_update_ref(a, b, target, alpha, beta, *, trans_a, trans_b, writes):
    product = product_of(a, b, trans_a, trans_b, target.shape)
    return (alpha * product + beta * target,)


def _lower_gemm_update(node, d):
    """target <- alpha op(a) @ op(b) + beta target: one BLAS call, in place."""
    a, b, target, alpha, beta = node.inputs
    gemm_call(d, d.matrix(a), d.matrix(b), d.matrix(target), node.attrs["trans_a"], node.attrs["trans_b"],
              d.value(alpha), d.value(beta))


register("gemm_update", shape=lambda *inputs, **attrs: ((), inputs[2].dtype), grad=None, kind="effect",
         numpy=_gemm_update_ref, lower=_lower_gemm_update, flops=_product_flops, source_ops=_gemm_source_ops,
         describe=lambda node: "gemm_update (W <- beta W + alpha a@b, in place)")


# ---------------------------------------------------------------- builders, for the fusion passes (each at `loc`,
# the line of the node it replaces)

def fused(inputs, body, shape, dtype, loc):
    """One loop over `shape` running `body`, whose last instruction is the value."""
    return make_node("fused", tuple(inputs), {"body": body, "shape": shape, "dtype": np.dtype(dtype).name}, loc=loc)


def fused_multi(inputs, body, results, parts, loc):
    """One loop running `body` for several results ((instruction, "map" or "colsum") each), read through parts
    of the (shape, dtype) given in `parts`."""
    return make_node("fused_multi", tuple(inputs), {"body": body, "results": results, "parts": parts}, loc=loc)


def fused_update(inputs, body, writes, loc):
    """One in-place loop: `writes` holds (instruction, input it overwrites) pairs."""
    return make_node("fused_update", tuple(inputs), {"body": body, "writes": writes}, loc=loc)


def part(multi, index, shape, dtype, loc):
    """Result `index` of a node computing several (a fused_multi, a cost with its activation)."""
    return make_node("part", (multi,), {"index": index, "shape": shape, "dtype": np.dtype(dtype).name}, loc=loc)


def gemm(a, b, extra_inputs, trans_a, trans_b, epilogue, shape, dtype, loc):
    """op(a) @ op(b) followed by the elementwise `epilogue` body, whose input 0 is the product."""
    return make_node("gemm", (a, b, *extra_inputs), {"trans_a": trans_a, "trans_b": trans_b, "epilogue": epilogue,
                                                     "shape": shape, "dtype": np.dtype(dtype).name}, loc=loc)


def gemm_update(a, b, target, alpha, beta, trans_a, trans_b, loc):
    """target <- alpha op(a) @ op(b) + beta target, in place."""
    return make_node("gemm_update", (a, b, target, alpha, beta),
                     {"trans_a": trans_a, "trans_b": trans_b, "writes": ((0, 2),)}, loc=loc)
