"""The LSTM layer, with PyTorch's equations so that weights port by a transpose.

Input (batch, steps, features), hidden states (batch, steps, hidden); gates in PyTorch's order i, f, g, o:
    z = x_t W + h_{t-1} U + b,  i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
    c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  h_{-1} = c_{-1} = 0.
W (features, 4h) is PyTorch's weight_ih_l0.T, U (h, 4h) its weight_hh_l0.T, b its two biases summed.
The time loop runs inside one compiled kernel (kernels/lstm.py); its gradient is backpropagation through
time, one `lstm_grad` node giving the gradients of the input, both weight matrices and the bias.
ONNX's LSTM orders the gates i, o, f, c: export and import permute the blocks.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from .. import init as initializers
from ..codegen.kernel_layer import ABI_POINTER, split_kernel
from ..codegen.library import Literal, by_address
from ..errors import GraphError, ShapeError
from ..graph import fail, fmt_shape, layer_scope, located, make_node, param, require_tensor
from ..onnx_support import Plan, Unsupported
from ..registry import register
from .shape_rules import require_float

ONNX_GATES = [0, 3, 1, 2]  # staticnet's (PyTorch's) blocks i, f, g, o in ONNX's order i, o, f, c (c is g)


def sigmoid(s):
    """1 / (1 + e^-s) without overflow, as the kernel computes it (NaN gives NaN)."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))


def _lstm_shape(x, w, u, b, tape):
    dtype = require_float(x, w, u, b)
    return (x.shape[0], x.shape[1], u.shape[0]), dtype


def _gates(x, previous, w, u, b):
    """The four gates of one step, from its input and the hidden state before it."""
    hidden = u.shape[0]
    z = x @ w + previous @ u + b
    i, f, g, o = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
    return sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)


def _lstm_ref(x, w, u, b, tape):
    batch, steps, _ = x.shape
    hidden = u.shape[0]
    h = np.zeros((batch, steps, hidden), x.dtype)
    previous, cell = np.zeros((batch, hidden), x.dtype), np.zeros((batch, hidden), x.dtype)
    for t in range(steps):
        i, f, g, o = _gates(x[:, t], previous, w, u, b)
        cell = f * cell + i * g
        previous = h[:, t] = o * np.tanh(cell)
    return h


def _lstm_grad_ref(x, h, w, u, b, tape, g, *scratch):
    batch, steps, _ = x.shape
    hidden = u.shape[0]
    previous = np.concatenate([np.zeros((batch, 1, hidden), x.dtype), h[:, :-1]], 1)
    gates, cells, cell = [], [], np.zeros((batch, hidden), x.dtype)
    for t in range(steps):
        i, f, gg, o = _gates(x[:, t], previous[:, t], w, u, b)
        cell = f * cell + i * gg
        gates.append((i, f, gg, o))
        cells.append(cell)
    dz = np.zeros((batch, steps, 4 * hidden), x.dtype)
    carry_h, carry_c = np.zeros((batch, hidden), x.dtype), np.zeros((batch, hidden), x.dtype)
    for t in reversed(range(steps)):
        i, f, gg, o = gates[t]
        squashed = np.tanh(cells[t])
        dh = g[:, t] + carry_h
        dc = dh * o * (1 - squashed * squashed) + carry_c
        before = cells[t - 1] if t > 0 else np.zeros_like(cell)
        dz[:, t] = np.concatenate([dc * gg * i * (1 - i), dc * before * f * (1 - f), dc * i * (1 - gg * gg),
                                   dh * squashed * o * (1 - o)], 1)
        carry_c = dc * f
        carry_h = dz[:, t] @ u.T
    rows = dz.reshape(batch * steps, -1)
    return (dz @ w.T, x.reshape(batch * steps, -1).T @ rows, previous.reshape(batch * steps, -1).T @ rows,
            rows.sum(0))


def _scratch_shape(like, *owners, shape, use):
    return (like.shape[0],) + tuple(shape), like.dtype


def _scratch_ref(like, *owners, shape, use):
    return np.zeros((like.shape[0],) + tuple(shape), like.dtype)


register("scratch", shape=_scratch_shape, numpy=_scratch_ref, grad=None, kind="opaque", lower=lambda node, d: None,
         flops=lambda node, size: 0, workspace=True)
# A scratch node is a buffer of the step's workspace (batch rows of `shape`) for a recurrent layer's kernels: the
# gates and cells of every step, which the forward kernel writes and the backward kernel reads (the tape), or
# the backward kernel's own products.  Megabytes allocated afresh in every call cost page faults that took as
# long as the backward pass's products (an LSTM of 128 units at batch 32); the workspace's buffers are
# allocated once.  It computes nothing (its lowering emits no code, its reference gives zeros); its inputs are
# what it belongs to (the first gives the batch) and `use` what it holds, so that two scratch nodes are merged
# into one buffer only where their kernels would be merged too.


def recurrent_gradient(grad_op, gradients, scratch):
    """The gradient rule of a recurrent op whose first `gradients` inputs are differentiated (x and the weights;
    the rest are its tape): one `grad_op` node (inputs x, the op's states, the op's other inputs, the incoming
    gradient and the scratch buffers `scratch(node)` lists as (use, shape per example) pairs) whose parts are
    those gradients."""
    def gradient(node, g):
        x, *rest = node.inputs
        buffers = [make_node("scratch", (g,), {"shape": shape, "use": use}) for use, shape in scratch(node)]
        multi = make_node(grad_op, (x, node, *rest, g, *buffers), node.attrs)
        parts = tuple(make_node("part", (multi,), {"index": k, "shape": t.shape, "dtype": t.dtype.name})
                      for k, t in enumerate(node.inputs[:gradients]))
        return parts + (None,) * (len(node.inputs) - gradients)
    return gradient


def lower_backward(path, gradients):
    """The lowering of a recurrent op's gradient node (as recurrent_gradient makes it, for an op of `gradients`
    inputs): the kernel at `path` takes every input of the node, an array per gradient and a flag per gradient
    saying whether anything reads it (an unread one is skipped: an unwritten stand-in of its rank is passed)."""
    def lower(node, d):
        forward_inputs = (node.inputs[0],) + node.inputs[2:gradients + 1]  # x, then the weights
        parts = d.parts(node)
        arrays = [d.array(parts[k] if k in parts else t) for k, t in enumerate(forward_inputs)]
        d.library(path, [d.array(t) for t in node.inputs] + arrays + [Literal(k in parts) for k in range(gradients)])
    return lower


def _lower_lstm(node, d):
    """The recurrence in runs of examples shared among the threads (kernels/lstm.py, row_parts)."""
    params, arguments, views = by_address([d.array(t) for t in node.inputs] + [d.array(node)])
    x, w, u, b, tape_view, h = views
    kernel = split_kernel("lstm_forward", params + [("threads", "i64")], [("row_parts", "i64")],
                          [f"K.lstm.lstm_forward_rows({x}, {w}, {u}, {b}, {tape_view}, {h}, chunk, chunks)"],
                          "The LSTM's recurrence, by runs of examples", before=["row_parts = K.lstm.row_parts(a0_0)"],
                          chunks="row_parts")
    d.call(kernel, arguments + ["threads"])


def _lower_lstm_grad(node, d):
    """Backpropagation through time in runs of examples shared among the threads, each run also making its rows
    of dx and its share of the weights' gradients; the shares added in order after, on the calling thread
    (kernels/lstm.py).  A gradient nothing reads is not written (the forward input stands in for it)."""
    parts = d.parts(node)
    forward_inputs = (node.inputs[0],) + node.inputs[2:5]  # x, then the weights
    gradients = [d.array(parts[k] if k in parts else t) for k, t in enumerate(forward_inputs)]
    params, arguments, views = by_address([d.array(t) for t in node.inputs] + gradients)
    x, h, w, u, b, tape_view, g, work, dx, dw, du, db = views
    wanted = [str(k in parts) for k in range(len(forward_inputs))]  # dx, dw, du, db
    before = ["row_parts = K.lstm.row_parts(a0_0)",
              f"partials = np.empty((row_parts, K.lstm.partial_size(a0_2, a3_0)), np.{node.inputs[0].dtype.name})",
              "partials_at, partials_size = partials.ctypes.data, partials.shape[1]"]
    shares = (f"P = carray(abi.pointer_{ABI_POINTER[node.inputs[0].dtype.name][:3]}(partials_at), "
              "(row_parts, partials_size))")
    kernel = split_kernel("lstm_backward", params + [("threads", "i64")],
                          [("row_parts", "i64"), ("partials_at", "i64"), ("partials_size", "i64")],
                          [shares, f"K.lstm.lstm_backward_rows({x}, {h}, {w}, {u}, {tape_view}, {g}, {work}, {dx}, P, "
                                   f"{', '.join(wanted)}, chunk, chunks)"],
                          "The LSTM's backpropagation through time, by runs of examples", before=before,
                          finish=[shares, f"K.lstm.lstm_backward_sums(P, {dw}, {du}, {db}, {', '.join(wanted[1:])})"],
                          chunks="row_parts", keep=["partials"])
    d.call(kernel, arguments + ["threads"])


def _rows_shared(node, batch: int) -> bool:
    """Whether the kernels cut a batch of this size among the threads (more than one run of examples)."""
    from ..kernels.lstm import row_parts  # not at import: loading the kernels finds and binds BLAS
    return row_parts(batch) > 1


def recurrent_flops(gates: int, passes: int = 1):
    """Multiply-adds of the products (x_t W, h_{t-1} U) counted twice, and a few operations per gate value;
    `passes` times that for a gradient node (whose second input is the forward node's states)."""
    def flops(node, size):
        x, states = node.inputs[0], (node if passes == 1 else node.inputs[1])
        rows, hidden = size(x.shape[:2]), states.shape[2]
        return passes * (2 * rows * gates * hidden * (x.shape[2] + hidden) + 6 * rows * gates * hidden)
    return flops


def require_weights(op, node, weights):
    """Weights that ONNX can carry as initializers: parameters or constants, not computed values."""
    for weight in weights:
        if weight.op not in ("param", "constant"):
            raise located(GraphError, op, node.loc, f"its weights must be parameters or constants to export "
                                                    f"to ONNX; {weight.op} at {weight.loc} is computed")


def time_first(b, x):
    return b.node("Transpose", [x], perm=[1, 0, 2])


def batch_first(b, states, out):
    """ONNX's Y (steps, 1 direction, batch, hidden) as (batch, steps, hidden)."""
    return b.node("Transpose", [b.node("Squeeze", [states, b.ints([1])])], out, perm=[1, 0, 2])


def onnx_blocks(array, order, hidden):
    """The gate blocks of the last axis of `array` (blocks of `hidden`) in another order."""
    return np.concatenate([array[..., k * hidden:(k + 1) * hidden] for k in order], -1)


def _onnx_lstm(node, b):
    """ONNX's LSTM: W = W^T and R = U^T with the gate blocks in ONNX's order, B = (b, 0), run time-first."""
    x, w, u, bias, _ = node.inputs
    require_weights("lstm", node, (w, u, bias))
    hidden = u.shape[0]

    def emit(b, xs, out):
        weights = [b.initializer(onnx_blocks(w.value, ONNX_GATES, hidden).T[None], f"{w.name or 'lstm'}/onnx_W"),
                   b.initializer(onnx_blocks(u.value, ONNX_GATES, hidden).T[None], f"{u.name or 'lstm'}/onnx_R"),
                   b.initializer(np.concatenate([onnx_blocks(bias.value, ONNX_GATES, hidden),
                                                 np.zeros(4 * hidden, bias.dtype)])[None],
                                 f"{bias.name or 'lstm'}/onnx_B")]
        states = b.node("LSTM", [time_first(b, xs[0])] + weights, hidden_size=hidden)
        return batch_first(b, states, out)
    return Plan((x,), emit)


def check_onnx_recurrence(imp, operands, attrs, activations, states):
    """Refuse what staticnet's recurrent layers do not compute: other activations, directions or layouts,
    clipping, sequence lengths, nonzero initial states (the operands at indices `states`)."""
    given = attrs.take("activations", activations)
    if list(given) != activations:
        raise Unsupported(f"activations={given}: staticnet computes {activations}")
    attrs.require("direction", ["forward"], "forward")
    attrs.require("layout", [0], 0)
    for unsupported in ("clip", "activation_alpha", "activation_beta"):
        if unsupported in attrs.values:
            raise Unsupported(f"attribute {unsupported} is not supported")
    if imp.optional(operands, 4):
        raise Unsupported("sequence_lens is not supported (staticnet runs every sequence to its full length)")
    for k in states:
        initial = imp.optional(operands, k)
        if initial is not None and np.any(imp.known(initial, f"input {k}")):
            raise Unsupported(f"input {k} ({initial!r}) must be zeros: staticnet's recurrent layers start from zeros")


def import_outputs(imp, states):
    """ONNX's Y (steps, 1, batch, hidden) and Y_h (1, batch, hidden) from states (batch, steps, hidden)."""
    steps, hidden = states.shape[1], states.shape[2]
    sequence = imp.reshape(imp.transpose(states, (1, 0, 2)), (steps, 1, None, hidden))
    last = imp.reshape(make_node("step_at", (states,), {"index": steps - 1}), (1, None, hidden))
    return [sequence, last]


def _import_lstm(imp, operands, attrs):
    """ONNX's LSTM (time-first, one direction, no peepholes) as staticnet's lstm, batch-first; its Y_c (the last
    cell state) is not computed, and refused where the graph reads it."""
    check_onnx_recurrence(imp, operands, attrs, ["Sigmoid", "Tanh", "Tanh"], (5, 6))
    attrs.require("input_forget", [0], 0)
    if imp.optional(operands, 7):
        raise Unsupported("peepholes (input P) are not supported")
    hidden = attrs.take("hidden_size")
    w, r = imp.known(operands[1], "W"), imp.known(operands[2], "R")
    biases = imp.known(operands[3], "B") if imp.optional(operands, 3) else np.zeros((1, 8 * hidden), w.dtype)
    to_staticnet = np.argsort(ONNX_GATES)  # ONNX's block k is staticnet's block ONNX_GATES[k]
    bias = biases[0, :4 * hidden] + biases[0, 4 * hidden:]
    x = imp.transpose(imp.tensor(operands[0]), (1, 0, 2))
    bias_name = imp.optional(operands, 3) or f"{operands[1]}_bias"
    weights = (imp.parameter(operands[1], onnx_blocks(w[0].T, to_staticnet, hidden)),
               imp.parameter(operands[2], onnx_blocks(r[0].T, to_staticnet, hidden)),
               imp.parameter(bias_name, onnx_blocks(bias, to_staticnet, hidden)))
    states = make_node("lstm", (x, *weights, tape(x, *weights)), {})
    return import_outputs(imp, states)


def _lstm_scratch(node):
    """The backward kernel's buffer: the gradients of z (4h a step) and h_{t-1} (h a step)."""
    return [("lstm_backward", (node.shape[1], 5 * node.shape[2]))]


def tape(x_seq, w, u, b):
    """The buffer the lstm kernel writes the gates and cells of every step to (6h a step), for its gradient."""
    return make_node("scratch", (x_seq, w, u, b), {"shape": (x_seq.shape[1], 6 * u.shape[0]), "use": "lstm_tape"})


register("lstm", shape=_lstm_shape, numpy=_lstm_ref, grad=recurrent_gradient("lstm_grad", 4, _lstm_scratch),
         kind="opaque", lower=_lower_lstm, flops=recurrent_flops(4), threads_at=_rows_shared, onnx_export=_onnx_lstm,
         onnx_import={"LSTM": _import_lstm},
         note="LSTM, PyTorch's gates i, f, g, o: z = x_t @ W + h_(t-1) @ U + b (one product per step for the four "
              "gates), i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o); c_t = f * c_(t-1) + "
              "i * g, h_t = o * tanh(c_t), from zero states")
register("lstm_grad", shape=lambda x, h, w, u, b, tape, g, *scratch: ((), x.dtype), numpy=_lstm_grad_ref, grad=None,
         kind="multi", lower=_lower_lstm_grad, flops=recurrent_flops(4, passes=2), threads_at=_rows_shared,
         note="backpropagation through time: the gates and cells read from the tape the forward pass wrote, then from the "
              "last step back dc_t = dh_t * o * tanh'(c_t) + dc_(t+1) * f_(t+1), dz_t = (dc_t * g * i', "
              "dc_t * c_(t-1) * f', dc_t * i * tanh'(z_g), dh_t * tanh(c_t) * o'), dh_(t-1) = dz_t @ U.T; "
              "dW = sum x_t.T @ dz_t, dU = sum h_(t-1).T @ dz_t, db = sum dz_t")


def check_sequence(op, x_seq, hidden_size):
    """A recurrent layer's input (batch, steps, features) with a fixed number of steps, and its width."""
    require_tensor(op, x_seq)
    if x_seq.ndim != 3 or x_seq.shape[1] is None or x_seq.shape[2] is None:
        fail(ShapeError, op, f"input {fmt_shape(x_seq.shape)} must be (batch, steps, features) with a fixed "
                             "number of steps and features")
    return checks.count(op, "hidden_size", hidden_size)


def gate_weights(name, x_seq, hidden_size, gates, trainable):
    """A gated recurrent layer's W (features, gates * h) and U (h, gates * h), uniform in +-1/sqrt(h) as
    PyTorch's start: the part LSTM and GRU share."""
    dtype = x_seq.dtype if x_seq.is_float else None
    start = initializers.uniform(1 / np.sqrt(hidden_size))
    w = param(f"{name}/W", (x_seq.shape[2], gates * hidden_size), init=start, dtype=dtype, trainable=trainable)
    u = param(f"{name}/U", (hidden_size, gates * hidden_size), init=start, dtype=w.dtype, trainable=trainable)
    return w, u


def lstm(x_seq, hidden_size: int, return_sequences: bool = False, name=None, trainable: bool = True):
    """A long short-term memory layer over (batch, steps, features), with PyTorch's equations and gate order
    i, f, g, o (see this module's docstring): `{name}/W` (features, 4h), `{name}/U` (h, 4h), `{name}/b` (4h,).

    W and U start as PyTorch's do, uniform in +-1/sqrt(h); b starts at zero except the forget gate's block,
    which starts at 1 (Jozefowicz et al. 2015; Keras's unit_forget_bias): the cell keeps its memory at first
    instead of halving it every step, so gradients reach early steps from the start.
    Returns every hidden state (batch, steps, h) with return_sequences, else the last (batch, h).
    trainable=False freezes W, U and b.
    """
    from .nn import layer_name

    hidden_size = check_sequence("lstm", x_seq, hidden_size)
    trainable = checks.flag("lstm", "trainable", trainable)
    name = layer_name("lstm", name, x_seq)
    with layer_scope(name):
        w, u = gate_weights(name, x_seq, hidden_size, 4, trainable)
        forget = np.zeros(4 * hidden_size)
        forget[hidden_size:2 * hidden_size] = 1.0
        b = param(f"{name}/b", value=forget, dtype=w.dtype, trainable=trainable)
        h = make_node("lstm", (x_seq, w, u, b, tape(x_seq, w, u, b)), {})
        return h if return_sequences else make_node("step_at", (h,), {"index": x_seq.shape[1] - 1})
