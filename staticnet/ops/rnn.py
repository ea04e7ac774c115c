"""Recurrent networks: the Elman recurrence over a fixed sequence length.

Input (batch, steps, features), hidden states (batch, steps, hidden).  The time loop
runs inside one compiled kernel; its gradient is backpropagation through time, one
`rnn_grad` node giving the gradients of the input, both weight matrices and the bias.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import GraphError, ShapeError
from ..graph import fail, fmt_shape, layer_scope, make_node, param, require_tensor
from .. import init as initializers
from ..codegen.library import Array, Integer, Literal
from .shape_rules import require_float
from ..graph import located
from ..onnx_support import Plan, Unsupported
from ..registry import register
from .embedding import import_gather

ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2}


def _act(s, activation):
    if activation == "tanh":
        return np.tanh(s)
    if activation == "relu":
        return np.maximum(s, 0)
    return 1 / (1 + np.exp(-s))


def _slope(h, activation):
    if activation == "tanh":
        return 1 - h * h
    if activation == "relu":
        return (h > 0).astype(h.dtype)
    return h * (1 - h)


def _rnn_shape(x, wx, wh, b, activation):
    dtype = require_float(x, wx, wh, b)
    return (x.shape[0], x.shape[1], wh.shape[0]), dtype


def _rnn_ref(x, wx, wh, b, activation):
    h = np.zeros((x.shape[0], x.shape[1], wh.shape[0]), x.dtype)
    previous = np.zeros((x.shape[0], wh.shape[0]), x.dtype)
    for t in range(x.shape[1]):
        previous = _act(x[:, t] @ wx + previous @ wh + b, activation)
        h[:, t] = previous
    return h


def _rnn_grad_ref(x, h, wx, wh, g, activation):
    dx, dwx, dwh, db = np.zeros_like(x), np.zeros_like(wx), np.zeros_like(wh), np.zeros(wh.shape[0], x.dtype)
    carry = np.zeros((x.shape[0], wh.shape[0]), x.dtype)
    for t in reversed(range(x.shape[1])):
        dz = (g[:, t] + carry) * _slope(h[:, t], activation)
        db += dz.sum(0)
        dwx += x[:, t].T @ dz
        dx[:, t] = dz @ wx.T
        if t > 0:
            dwh += h[:, t - 1].T @ dz
        carry = dz @ wh.T
    return dx, dwx, dwh, db


def _rnn_grad(node, g):
    x, wx, wh, b = node.inputs
    multi = make_node("rnn_grad", (x, node, wx, wh, g), node.attrs)
    return tuple(make_node("part", (multi,), {"index": i, "shape": t.shape, "dtype": t.dtype.name})
                 for i, t in enumerate((x, wx, wh, b)))


def _lower_rnn(node, d):
    x, wx, wh, b = node.inputs
    d.library("rnn.rnn_forward", [d.array(x), d.array(wx), d.array(wh), d.array(b), d.array(node),
                              Literal(ACTIVATION_CODES[node.attrs["activation"]])])


def _lower_rnn_grad(node, d):
    x, h, wx, wh, g = node.inputs
    parts = d.parts(node)  # a gradient nothing reads is skipped; an unwritten stand-in of its rank is passed
    stand_ins = [d.array(x), d.array(wx), d.array(wh), Array(d.address(wh), wh.dtype.name, d.dims(wh)[1:])]
    arrays = [d.array(parts[i]) if i in parts else stand_in for i, stand_in in enumerate(stand_ins)]
    d.library("rnn.rnn_backward", [d.array(t) for t in (x, h, wx, wh, g)] + arrays
              + [Literal(ACTIVATION_CODES[node.attrs["activation"]])] + [Literal(i in parts) for i in range(4)])


def _onnx_rnn(node, b):
    """h_t = act(x_t Wx + h_{t-1} Wh + b) is ONNX's RNN with W = Wx^T, R = Wh^T and biases (b, 0), run
    time-first: (batch, steps, features) is transposed to (steps, batch, features) and the hidden states
    (steps, 1 direction, batch, hidden) back to (batch, steps, hidden)."""
    x, wx, wh, bias = node.inputs
    for weight in (wx, wh, bias):
        if weight.op not in ("param", "constant"):
            raise located(GraphError, "rnn", node.loc, f"its weights must be parameters or constants to export "
                                                       f"to ONNX's RNN; {weight.op} at {weight.loc} is computed")
    hidden = wh.shape[0]

    def emit(b, xs, out):
        time_first = b.node("Transpose", [xs[0]], perm=[1, 0, 2])
        weights = [b.initializer(wx.value.T[None], f"{wx.name or 'rnn'}/onnx_W"),
                   b.initializer(wh.value.T[None], f"{wh.name or 'rnn'}/onnx_R"),
                   b.initializer(np.concatenate([bias.value, np.zeros(hidden, bias.dtype)])[None],
                                 f"{bias.name or 'rnn'}/onnx_B")]
        states = b.node("RNN", [time_first] + weights, hidden_size=hidden,
                        activations=[node.attrs["activation"].capitalize()])
        return b.node("Transpose", [b.node("Squeeze", [states, b.ints([1])])], out, perm=[1, 0, 2])
    return Plan((x,), emit)


def _onnx_step_at(node, b):
    index = np.asarray(node.attrs["index"], np.int64)
    return Plan(node.inputs, lambda b, xs, out: b.node("Gather", [xs[0], b.constant(index)], out, axis=1))


def _import_rnn(imp, operands, attrs):
    """ONNX's RNN (time-first, one direction, biases Wb + Rb) as staticnet's Elman rnn, batch-first."""
    activation = attrs.take("activations", ["Tanh"])
    if len(activation) != 1 or activation[0] not in ("Tanh", "Relu", "Sigmoid"):
        raise Unsupported(f"activations={activation}: staticnet's rnn takes one of Tanh, Relu, Sigmoid")
    attrs.require("direction", ["forward"], "forward")
    attrs.require("layout", [0], 0)
    for unsupported in ("clip", "activation_alpha", "activation_beta"):
        if unsupported in attrs.values:
            raise Unsupported(f"attribute {unsupported} is not supported")
    hidden = attrs.take("hidden_size")
    w, r = imp.known(operands[1], "W"), imp.known(operands[2], "R")
    biases = imp.known(operands[3], "B") if imp.optional(operands, 3) else np.zeros((1, 2 * hidden), w.dtype)
    if imp.optional(operands, 4):
        raise Unsupported("sequence_lens is not supported (staticnet runs every sequence to its full length)")
    initial = imp.optional(operands, 5)
    if initial is not None and np.any(imp.known(initial, "initial_h")):
        raise Unsupported("a nonzero initial_h is not supported (staticnet's rnn starts from zeros)")
    x = imp.transpose(imp.tensor(operands[0]), (1, 0, 2))
    bias_name = imp.optional(operands, 3) or f"{operands[1]}_bias"
    states = make_node("rnn", (x, imp.parameter(operands[1], w[0].T), imp.parameter(operands[2], r[0].T),
                               imp.parameter(bias_name, biases[0, :hidden] + biases[0, hidden:])),
                       {"activation": activation[0].lower()})
    steps = x.shape[1]
    sequence = imp.reshape(imp.transpose(states, (1, 0, 2)), (steps, 1, None, hidden))
    last = imp.reshape(make_node("step_at", (states,), {"index": steps - 1}), (1, None, hidden))
    return [sequence, last]


def _import_gather(imp, operands, attrs):
    """One position along axis 1 (a time step of a sequence), as staticnet's step_at; rows of a float
    initializer at computed ids, as an embedding (ops/embedding.py)."""
    axis = attrs.take("axis", 0)
    table = imp.arrays.get(operands[0])
    if table is not None and table.dtype.kind == "f" and operands[1] not in imp.arrays:
        return import_gather(imp, operands, attrs, axis)
    x = imp.tensor(operands[0])
    index = imp.known(operands[1], "index")
    if axis % x.ndim != 1 or index.ndim != 0:
        raise Unsupported(f"staticnet imports Gather of one index (a scalar) along axis 1, got axis {axis} and "
                          f"indices of shape {index.shape}")
    size = x.shape[1]
    if not -size <= int(index) < size:  # ONNX (and onnxruntime) refuse it; wrapped, it would pick another step
        raise Unsupported(f"index {int(index)} is out of range for axis 1 of size {size} (from {-size} to {size - 1})")
    return [make_node("step_at", (x,), {"index": int(index) % size})]


register("rnn", shape=_rnn_shape, numpy=_rnn_ref, grad=_rnn_grad, kind="opaque", lower=_lower_rnn,
         onnx_export=_onnx_rnn, onnx_import={"RNN": _import_rnn})
register("rnn_grad", shape=lambda x, h, wx, wh, g, activation: ((), x.dtype), numpy=_rnn_grad_ref, grad=None,
         kind="multi", lower=_lower_rnn_grad)


def _step_shape(h, index):
    return (h.shape[0],) + h.shape[2:], h.dtype


def _step_grad_ref(g, like, index):
    out = np.zeros_like(like)
    out[:, index] = g
    return out


def _copy_step(node, d):
    d.library("rnn.copy_step", [d.array(node.inputs[0]), d.array(node), Integer(d.sizes(node.attrs["index"]))])


def _scatter_step(node, d):
    d.library("rnn.scatter_step", [d.array(node.inputs[0]), d.array(node), Integer(d.sizes(node.attrs["index"]))])


register("step_at", shape=_step_shape, numpy=lambda h, index: np.ascontiguousarray(h[:, index]), kind="opaque",
         grad=lambda n, g: (make_node("step_at_grad", (g, n.inputs[0]), n.attrs),),
         lower=_copy_step, onnx_export=_onnx_step_at, onnx_import={"Gather": _import_gather})
register("step_at_grad", shape=lambda g, like, index: (like.shape, like.dtype), numpy=_step_grad_ref, kind="opaque",
         grad=lambda n, d: (make_node("step_at", (d,), n.attrs), None), lower=_scatter_step)


def rnn(x_seq, hidden_size: int, activation: str = "tanh", return_sequences: bool = False, name=None,
        trainable=True):
    """An Elman network: h_t = act(x_t Wx + h_{t-1} Wh + b) over (batch, steps, features).

    Returns every hidden state (batch, steps, hidden) with return_sequences, else the last (batch, hidden).
    trainable=False freezes W, U and b.
    """
    from .nn import layer_name

    require_tensor("rnn", x_seq)
    if x_seq.ndim != 3 or x_seq.shape[1] is None:
        fail(ShapeError, "rnn", f"input {fmt_shape(x_seq.shape)} must be (batch, steps, features) with a fixed "
                                "number of steps")
    if activation not in ACTIVATION_CODES:
        near = checks.did_you_mean(activation, ACTIVATION_CODES)
        fail(GraphError, "rnn", f"unknown activation {activation!r}; {near}valid: {', '.join(ACTIVATION_CODES)}")
    hidden_size = checks.count("rnn", "hidden_size", hidden_size)
    trainable = checks.flag("rnn", "trainable", trainable)
    name = layer_name("rnn", name, x_seq)
    with layer_scope(name):
        dtype = x_seq.dtype if x_seq.is_float else None
        wx = param(f"{name}/W", (x_seq.shape[2], hidden_size), init=initializers.normal_scaled(), dtype=dtype,
                   trainable=trainable)
        wh = param(f"{name}/U", (hidden_size, hidden_size), init=initializers.normal_scaled(), dtype=wx.dtype,
                   trainable=trainable)
        b = param(f"{name}/b", (hidden_size,), init=initializers.zeros(), dtype=wx.dtype, trainable=trainable)
        h = make_node("rnn", (x_seq, wx, wh, b), {"activation": activation})
        return h if return_sequences else make_node("step_at", (h,), {"index": x_seq.shape[1] - 1})
