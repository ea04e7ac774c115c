"""Elementwise arithmetic, comparison masks, where and cast."""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..errors import DTypeError, GraphError
from ..graph import Tensor, as_dtype, fail, lift, make_node
from .shape_rules import broadcast_shapes, require_float
from ..onnx_support import Plan, Unsupported, same_operands
from ..registry import ATOM, no_gradient, register
from .reduce import unbroadcast


def _elementwise_shape(*inputs, **attrs):
    dtype = require_float(*inputs)
    return broadcast_shapes(*(t.shape for t in inputs)), dtype


def lifted(op, values):
    """The operands of an op as tensors: numbers and arrays become constants of the tensor operands' dtype."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    if like is None:
        fail(GraphError, op, f"needs at least one tensor operand, got {', '.join(type(v).__name__ for v in values)}")
    for v in values:
        if not isinstance(v, Tensor) and not hasattr(v, "resolve_against"):  # a WeightPenalty resolves itself
            checks.numeric(op, v)
    return tuple(lift(v, like) for v in values)


def _binary(name, reference, grad, scalar, onnx=None, **rules):
    register(name, shape=_elementwise_shape, numpy=reference, grad=grad, kind="elementwise", scalar=scalar, onnx=onnx,
             **rules)

    def build(a, b):
        return make_node(name, lifted(name, (a, b)))

    build.__name__ = name
    return build


def _unary(name, reference, grad, scalar, doc, onnx=None, **rules):
    register(name, shape=_elementwise_shape, numpy=reference, grad=grad, kind="elementwise", scalar=scalar, onnx=onnx,
             **rules)

    def build(x):
        return make_node(name, (x,))

    build.__name__, build.__doc__ = name, doc
    return build


def _sides(node, ga, gb):
    a, b = node.inputs
    return (None if ga is None else unbroadcast(ga, a.shape), None if gb is None else unbroadcast(gb, b.shape))


def _import_not(imp, operands, attrs):
    """ONNX's Not of a boolean is 1 - the mask (staticnet's booleans are masks of 0 and 1)."""
    return [1.0 - imp.tensor(operands[0])]


def _pairwise(build):
    """The import form of ONNX's Max and Min, which take any number of operands: build folded over them."""
    def translate(imp, operands, attrs):
        out = imp.tensor(operands[0])
        for x in operands[1:]:
            out = build(out, imp.tensor(x))
        return [out]
    return translate


add = _binary("add", np.add, lambda n, g: _sides(n, g, g), "({0} + {1})", "Add", infix=(" + ", 1), associative=True)
sub = _binary("sub", np.subtract, lambda n, g: _sides(n, g, neg(g)), "({0} - {1})", "Sub", infix=(" - ", 1),
              onnx_import={"Not": _import_not})
mul = _binary("mul", np.multiply, lambda n, g: _sides(n, g * n.inputs[1], g * n.inputs[0]), "({0} * {1})", "Mul",
              infix=(" * ", 2), associative=True)
div = _binary("div", np.divide, lambda n, g: _sides(n, g / n.inputs[1], neg(g * n) / n.inputs[1]), "({0} / {1})",
              "Div", infix=(" / ", 2))
# NaN on either side gives NaN, as np.maximum / np.minimum do (Python's max would keep whichever came first)
maximum = _binary("maximum", np.maximum,
                  lambda n, g: _sides(n, g * greater_equal(*n.inputs), g * less(*n.inputs)),
                  "({0} if {0} >= {1} or {0} != {0} else {1})", "Max",
                  onnx_import={"Max": _pairwise(lambda a, b: maximum(a, b))})
minimum = _binary("minimum", np.minimum,
                  lambda n, g: _sides(n, g * less_equal(*n.inputs), g * greater(*n.inputs)),
                  "({0} if {0} <= {1} or {0} != {0} else {1})", "Min",
                  onnx_import={"Min": _pairwise(lambda a, b: minimum(a, b))})


ONNX_COMPARISONS = {}  # comparison op -> the ONNX op giving its boolean


def _mask(name, compare, symbol, onnx_type):
    ONNX_COMPARISONS[name] = onnx_type
    return _binary(name, lambda a, b: compare(a, b).astype(np.result_type(a, b)), no_gradient,
                   f"(1.0 if {{0}} {symbol} {{1}} else 0.0)", onnx_export=_onnx_mask,
                   onnx_import={onnx_type: same_operands(lambda a, b: make_node(name, lifted(name, (a, b))))})


def _onnx_mask(node, b):
    """staticnet comparisons give masks of 0 and 1 in the operands' dtype; ONNX's give booleans."""
    return Plan(node.inputs, lambda b, xs, out: b.cast(b.node(ONNX_COMPARISONS[node.op], xs), node.dtype, out))


greater = _mask("greater", np.greater, ">", "Greater")
greater_equal = _mask("greater_equal", np.greater_equal, ">=", "GreaterOrEqual")
less = _mask("less", np.less, "<", "Less")
less_equal = _mask("less_equal", np.less_equal, "<=", "LessOrEqual")
equal = _mask("equal", np.equal, "==", "Equal")

neg = _unary("neg", np.negative, lambda n, g: (neg(g),), "(-{0})", "-x", "Neg",
             notation=lambda node, args, top: (f"-{args[0][0]}" if args[0][1] == ATOM else f"-({args[0][0]})", ATOM))
exp = _unary("exp", np.exp, lambda n, g: (g * n,), "math.exp({0})", "e**x", "Exp")
log = _unary("log", np.log, lambda n, g: (g / n.inputs[0],), "math.log({0})", "natural logarithm", "Log")
sqrt = _unary("sqrt", np.sqrt, lambda n, g: (g / (2.0 * n),), "math.sqrt({0})", "square root", "Sqrt")
cos = _unary("cos", np.cos, lambda n, g: (neg(g * sin(n.inputs[0])),), "math.cos({0})", "cosine (radians)", "Cos")
sin = _unary("sin", np.sin, lambda n, g: (g * cos(n.inputs[0]),), "math.sin({0})", "sine (radians)", "Sin")
def _import_pow(imp, operands, attrs):
    """Pow with a constant exponent of 2 or 0.5, the two staticnet has (square, sqrt)."""
    exponent = imp.known(operands[1], "exponent")
    if exponent.size != 1 or exponent.item() not in (2.0, 0.5):
        raise Unsupported(f"exponent {exponent.tolist()!r}: staticnet imports x**2 and x**0.5")
    x = imp.tensor(operands[0])
    return [square(x) if exponent.item() == 2.0 else sqrt(x)]


square = _unary("square", np.square, lambda n, g: (g * (2.0 * n.inputs[0]),), "({0} * {0})", "x**2",
                onnx_export=lambda node, b: Plan(node.inputs, lambda b, xs, out: b.node("Mul", [xs[0], xs[0]], out)),
                onnx_import={"Pow": _import_pow})
abs = _unary("abs", np.abs, lambda n, g: (g * sign(n.inputs[0]),), "abs({0})", "|x|", "Abs")  # noqa: A001
sign = _unary("sign", np.sign, no_gradient, "(1.0 if {0} > 0 else (-1.0 if {0} < 0 else {0} * 0.0))",
              "-1, 0 or 1 (NaN for NaN)", "Sign")


def _erf(x):
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


erf = _unary("erf", _erf, lambda n, g: (g * ((2 / math.sqrt(math.pi)) * exp(neg(square(n.inputs[0])))),),
             "math.erf({0})", "the error function", "Erf")


def _where_shape(cond, a, b):
    dtype = require_float(cond, a, b, what="operand")
    return broadcast_shapes(cond.shape, a.shape, b.shape), dtype


def _where_grad(node, g):
    cond, a, b = node.inputs
    zero = lift(0.0, g)
    return None, unbroadcast(where(cond, g, zero), a.shape), unbroadcast(where(cond, zero, g), b.shape)


def _onnx_where(node, b):
    cond, a, c = node.inputs
    if cond.op in ONNX_COMPARISONS:  # the comparison's boolean, without the round trip through a mask
        return Plan(cond.inputs + (a, c), lambda b, xs, out: b.node(
            "Where", [b.node(ONNX_COMPARISONS[cond.op], xs[:2])] + xs[2:], out))
    return Plan(node.inputs, lambda b, xs, out: b.node("Where", [b.cast(xs[0], bool)] + xs[1:], out))


register("where", shape=_where_shape, numpy=lambda c, a, b: np.where(c != 0, a, b), grad=_where_grad,
         kind="elementwise", scalar="({1} if {0} != 0 else {2})", onnx_export=_onnx_where,
         onnx_import={"Where": same_operands(lambda cond, a, b: where(cond, a, b))})


def where(cond, a, b):
    """a where cond is nonzero, else b (cond is usually a comparison mask)."""
    return make_node("where", lifted("where", (cond, a, b)))


def _cast_shape(x, dtype):
    return x.shape, np.dtype(dtype)


def _cast_grad(node, g):
    x = node.inputs[0]
    return (cast(g, x.dtype) if x.is_float else None,)


def _import_cast(imp, operands, attrs):
    x = imp.tensor(operands[0])
    target = imp.numpy_dtype(attrs.take("to"))
    if target == np.bool_:  # a nonzero test, as ONNX casts numbers to booleans
        return [greater(abs(x), 0.0)]
    return [x if target == x.dtype else cast(x, target)]


register("cast", shape=_cast_shape, numpy=lambda x, dtype: x.astype(dtype), grad=_cast_grad,
         kind="elementwise", scalar="np.{dtype}({0})",  # to an integer: truncated toward zero, as astype does
         onnx_export=lambda node, b: Plan(node.inputs, lambda b, xs, out: b.cast(xs[0], node.attrs["dtype"], out)),
         onnx_import={"Cast": _import_cast})


def cast(x, dtype):
    """x converted to another dtype (float32, float64, int32, int64)."""
    try:
        dtype = as_dtype(dtype)
    except DTypeError as e:
        fail(DTypeError, "cast", str(e))
    return make_node("cast", (x,), {"dtype": dtype.name})
