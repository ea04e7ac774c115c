"""The GRU layer, with PyTorch's equations (the reset gate applied after the recurrent product, as cuDNN and
Keras's reset_after do) so that weights port by a transpose.

Input (batch, steps, features), hidden states (batch, steps, hidden); gates in PyTorch's order r, z, n:
    a = x_t W + b, p = h_{t-1} U
    r = sigmoid(a_r + p_r), z = sigmoid(a_z + p_z), n = tanh(a_n + r * (p_n + b_hn))
    h_t = (1 - z) * n + z * h_{t-1},  h_{-1} = 0.
W (features, 3h) is PyTorch's weight_ih_l0.T, U (h, 3h) its weight_hh_l0.T; b is b_ih with b_hh's r and z
blocks added, b_hn b_hh's n block (it sits inside r * (...), so it cannot be summed).  The time loop runs
inside one compiled kernel (kernels/gru.py); one `gru_grad` node gives every gradient.  ONNX's GRU orders
the gates z, r, h (linear_before_reset=1 is this form): export and import permute the blocks.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from .. import init as initializers
from ..graph import layer_scope, make_node, param
from ..onnx_support import Plan
from ..registry import register
from .lstm import (batch_first, check_onnx_recurrence, check_sequence, gate_weights, import_outputs, lower_backward,
                   onnx_blocks, recurrent_flops, recurrent_gradient, require_weights, sigmoid, time_first)
from .shape_rules import require_float

ONNX_GATES = [1, 0, 2]  # staticnet's (PyTorch's) blocks r, z, n in ONNX's order z, r, h (h is n)


def _gru_shape(x, w, u, b, b_hn):
    dtype = require_float(x, w, u, b, b_hn)
    return (x.shape[0], x.shape[1], u.shape[0]), dtype


def _gates(x, previous, w, u, b, b_hn):
    """r, z, n of one step and the reset gate's operand p_n + b_hn, from its input and the state before it."""
    hidden = u.shape[0]
    a, p = x @ w + b, previous @ u
    r = sigmoid(a[:, :hidden] + p[:, :hidden])
    z = sigmoid(a[:, hidden:2 * hidden] + p[:, hidden:2 * hidden])
    recurrent = p[:, 2 * hidden:] + b_hn
    return r, z, np.tanh(a[:, 2 * hidden:] + r * recurrent), recurrent


def _gru_ref(x, w, u, b, b_hn):
    batch, steps, _ = x.shape
    h = np.zeros((batch, steps, u.shape[0]), x.dtype)
    previous = np.zeros((batch, u.shape[0]), x.dtype)
    for t in range(steps):
        r, z, n, _ = _gates(x[:, t], previous, w, u, b, b_hn)
        previous = h[:, t] = (1 - z) * n + z * previous
    return h


def _gru_grad_ref(x, h, w, u, b, b_hn, g, *scratch):
    batch, steps, _ = x.shape
    hidden = u.shape[0]
    previous = np.concatenate([np.zeros((batch, 1, hidden), x.dtype), h[:, :-1]], 1)
    da = np.zeros((batch, steps, 3 * hidden), x.dtype)  # gradients of x_t W + b
    dp = np.zeros((batch, steps, 3 * hidden), x.dtype)  # gradients of h_{t-1} U
    carry = np.zeros((batch, hidden), x.dtype)
    for t in reversed(range(steps)):
        r, z, n, recurrent = _gates(x[:, t], previous[:, t], w, u, b, b_hn)
        dh = g[:, t] + carry
        d_new = dh * (1 - z) * (1 - n * n)
        d_r = d_new * recurrent * r * (1 - r)
        d_z = dh * (previous[:, t] - n) * z * (1 - z)
        da[:, t] = np.concatenate([d_r, d_z, d_new], 1)
        dp[:, t] = np.concatenate([d_r, d_z, d_new * r], 1)
        carry = dh * z + dp[:, t] @ u.T
    a_rows, p_rows = da.reshape(batch * steps, -1), dp.reshape(batch * steps, -1)
    return (da @ w.T, x.reshape(batch * steps, -1).T @ a_rows, previous.reshape(batch * steps, -1).T @ p_rows,
            a_rows.sum(0), p_rows[:, 2 * hidden:].sum(0))


def _lower_gru(node, d):
    d.library("gru.gru_forward", [d.array(t) for t in node.inputs] + [d.array(node)])


def _onnx_gru(node, b):
    """ONNX's GRU with linear_before_reset=1: W = W^T and R = U^T with the gate blocks in ONNX's order,
    B = (Wb, Rb) with b in Wb and b_hn as Rb's h block."""
    x, w, u, bias, bias_hn = node.inputs
    require_weights("gru", node, (w, u, bias, bias_hn))
    hidden = u.shape[0]

    def emit(b, xs, out):
        recurrent_bias = np.concatenate([np.zeros(2 * hidden, bias.dtype), bias_hn.value])
        weights = [b.initializer(onnx_blocks(w.value, ONNX_GATES, hidden).T[None], f"{w.name or 'gru'}/onnx_W"),
                   b.initializer(onnx_blocks(u.value, ONNX_GATES, hidden).T[None], f"{u.name or 'gru'}/onnx_R"),
                   b.initializer(np.concatenate([onnx_blocks(bias.value, ONNX_GATES, hidden), recurrent_bias])[None],
                                 f"{bias.name or 'gru'}/onnx_B")]
        states = b.node("GRU", [time_first(b, xs[0])] + weights, hidden_size=hidden, linear_before_reset=1)
        return batch_first(b, states, out)
    return Plan((x,), emit)


def _import_gru(imp, operands, attrs):
    """ONNX's GRU with linear_before_reset=1 (time-first, one direction) as staticnet's gru, batch-first."""
    check_onnx_recurrence(imp, operands, attrs, ["Sigmoid", "Tanh"], (5,))
    attrs.require("linear_before_reset", [1], 0)
    hidden = attrs.take("hidden_size")
    w, r = imp.known(operands[1], "W"), imp.known(operands[2], "R")
    biases = imp.known(operands[3], "B") if imp.optional(operands, 3) else np.zeros((1, 6 * hidden), w.dtype)
    to_staticnet = np.argsort(ONNX_GATES)
    input_bias, recurrent_bias = (onnx_blocks(biases[0, k * 3 * hidden:(k + 1) * 3 * hidden], to_staticnet, hidden)
                                  for k in range(2))
    bias = input_bias + np.concatenate([recurrent_bias[:2 * hidden], np.zeros(hidden, w.dtype)])
    x = imp.transpose(imp.tensor(operands[0]), (1, 0, 2))
    bias_name = imp.optional(operands, 3) or f"{operands[1]}_bias"
    states = make_node("gru", (x, imp.parameter(operands[1], onnx_blocks(w[0].T, to_staticnet, hidden)),
                               imp.parameter(operands[2], onnx_blocks(r[0].T, to_staticnet, hidden)),
                               imp.parameter(bias_name, bias),
                               imp.parameter(f"{bias_name}_hn", recurrent_bias[2 * hidden:])), {})
    return import_outputs(imp, states)


def _gru_scratch(node):
    steps, hidden = node.shape[1], node.shape[2]
    return [("input_products", (steps, 3 * hidden)), ("state_products", (steps, 3 * hidden)),
            ("previous", (steps, hidden))]


register("gru", shape=_gru_shape, numpy=_gru_ref, grad=recurrent_gradient("gru_grad", 5, _gru_scratch),
         kind="opaque", lower=_lower_gru, flops=recurrent_flops(3), onnx_export=_onnx_gru, onnx_import={"GRU": _import_gru},
         note="GRU, PyTorch's gates r, z, n with the reset after the product: a = x_t @ W + b, p = h_(t-1) @ U "
              "(one product per step for the three gates), r = sigmoid(a_r + p_r), z = sigmoid(a_z + p_z), "
              "n = tanh(a_n + r * (p_n + b_hn)), h_t = (1 - z) * n + z * h_(t-1), from a zero state")
register("gru_grad", shape=lambda x, h, w, u, b, b_hn, g, *scratch: ((), x.dtype), numpy=_gru_grad_ref, grad=None,
         kind="multi", lower=lower_backward("gru.gru_backward", 5),
         flops=recurrent_flops(3, passes=2),
         note="backpropagation through time: the gates are computed again from x and the stored h, then from the "
              "last step back dn = dh_t * (1 - z) * tanh'(.), dr = dn * (p_n + b_hn) * r', dz = dh_t * "
              "(h_(t-1) - n) * z', dh_(t-1) = dh_t * z + (dr, dz, dn * r) @ U.T; dW = sum x_t.T @ (dr, dz, dn), "
              "dU = sum h_(t-1).T @ (dr, dz, dn * r), db = sum (dr, dz, dn), db_hn = sum dn * r")


def gru(x_seq, hidden_size: int, return_sequences: bool = False, name=None, trainable: bool = True):
    """A gated recurrent unit layer over (batch, steps, features), with PyTorch's equations and gate order
    r, z, n (see this module's docstring): `{name}/W` (features, 3h), `{name}/U` (h, 3h), `{name}/b` (3h,),
    `{name}/b_hn` (h,).  W and U start as PyTorch's do, uniform in +-1/sqrt(h); the biases at zero.
    Returns every hidden state (batch, steps, h) with return_sequences, else the last (batch, h).
    trainable=False freezes W, U, b and b_hn.
    """
    from .nn import layer_name

    hidden_size = check_sequence("gru", x_seq, hidden_size)
    trainable = checks.flag("gru", "trainable", trainable)
    name = layer_name("gru", name, x_seq)
    with layer_scope(name):
        w, u = gate_weights(name, x_seq, hidden_size, 3, trainable)
        b = param(f"{name}/b", (3 * hidden_size,), init=initializers.zeros(), dtype=w.dtype, trainable=trainable)
        b_hn = param(f"{name}/b_hn", (hidden_size,), init=initializers.zeros(), dtype=w.dtype, trainable=trainable)
        h = make_node("gru", (x_seq, w, u, b, b_hn), {})
        return h if return_sequences else make_node("step_at", (h,), {"index": x_seq.shape[1] - 1})
