"""staticnet: a static-graph compiler for neural networks on the CPU.

Importing the package does not import Numba: building graphs, the NumPy reference executor, model files
and `staticnet.inference` work without it.  The names that compile (sn.compile, sn.Model, sn.load)
are loaded on first use, from staticnet.model, which brings in the code generator and Numba.
"""
from .errors import ArgumentError, DataError, DTypeError, GraphError, NumericalError, ShapeError
from .graph import Graph, Tensor, constant, describe, input, layer_scope, param, to_dot
from . import init
from .init import seed
from .ops.elementwise import (abs, add, cast, cos, div, equal, erf, exp, greater, greater_equal, less, less_equal,
                              log, maximum, minimum, mul, neg, sign, sin, sqrt, square, sub, where)
from .ops.linalg import matmul
from .ops.reduce import broadcast_like, max, mean, sum
from .ops.shape import flatten, reshape, transpose
from .ops.activations import *  # noqa: F401,F403  (every activation's builder: that module's __all__)
from .ops.loss import cross_entropy, l1, l2, mse, one_hot, perceptron_loss, softmax_cross_entropy
from .ops.nn import dense
from .ops.conv import conv2d
from .ops.pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, l2_pool2d, max_pool2d
from .ops.rnn import rnn
from .ops.slicing import concat, split, stack
from .ops.layer_norm import layer_norm
from .ops.batch_norm import batch_norm
from .ops.lstm import lstm
from .ops.gru import gru
from .ops.embedding import embedding
from .autodiff import grad
from .function import NumpyFunction
from .gradcheck import gradcheck
from .history import History
from .optim import (SGD, AdaGrad, Adam, AdamW, RMSProp, constant as constant_lr, cosine_decay, exponential_decay,
                    one_cycle, step_decay, warmup)
from .ops.nn import dropout
from .ensemble import ensemble
from . import callbacks, data, metrics, plot, search
from .version import __version__

_COMPILING = ("Model", "compile", "load")  # defined in staticnet.model, which imports Numba


def __getattr__(name):
    if name in _COMPILING:
        from . import model
        return getattr(model, name)
    raise AttributeError(f"module 'staticnet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_COMPILING))


def export_onnx(outputs, path, inputs=None, opset=None, output_names=None):
    """Write the graph computing `outputs` from `inputs` (default: every input they read) as an ONNX model.

    Dropout is removed (the inference graph); parameters become initializers holding their current values;
    the batch dimension is symbolic.  opset defaults to staticnet.onnx_support.DEFAULT_OPSET (17).  Needs the
    onnx package: pip install onnx."""
    from .onnx_export import export
    export(outputs, path, inputs=inputs, opset=opset, output_names=output_names)


def import_onnx(path):
    """An ONNX model as a staticnet graph (staticnet.onnx_import.ImportedGraph): its inputs and outputs
    as tensors to compile and fine-tune, .compile() for a Model ready to predict, and .predict() to run
    it with NumPy.  Needs the onnx package: pip install onnx."""
    from .onnx_import import import_model
    return import_model(path)


def function(inputs, outputs, updates=None, training=False, backend="numba", check_finite=False):
    """Compile `outputs` as a function of `inputs`; `updates` are (param, new value) pairs applied after each call.

    training=False (the default) makes an inference function: sn.dropout is the identity, so two calls on the
    same arrays agree, as Model.predict does.  Pass training=True for a training step on a graph with dropout:
    each call then draws new masks.
    backend="numba" (the default) fuses the graph and runs it as generated Numba code;
    backend="numpy" runs it node by node with each op's NumPy reference.
    check_finite=True: a call whose outputs or updated parameters are not finite raises sn.NumericalError
    naming the first node (found with the NumPy reference) that produced such a value, and leaves the
    parameters as they were (staticnet/nan_guard.py); it costs a copy of the updated parameters per call.
    """
    if not isinstance(check_finite, bool):
        from .checks import refuse, shown
        refuse("function", f"check_finite must be True or False, got {shown(check_finite)}", ArgumentError)
    if backend == "numba":
        from .runtime import CompiledFunction
        compiled = CompiledFunction(inputs, outputs, updates, training)
    elif backend == "numpy":
        compiled = NumpyFunction(inputs, outputs, updates, training)
    else:
        raise ArgumentError(f"unknown backend {backend!r}; use 'numba' or 'numpy'")
    if check_finite:
        from .nan_guard import FiniteChecked
        return FiniteChecked(compiled)
    return compiled
