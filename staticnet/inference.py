"""Prediction with NumPy only: a saved .snet model or an ONNX model, where Numba is not available.

    from staticnet import inference
    model = inference.load("mnist.snet")        # or "model.onnx" (needs the onnx package too)
    probabilities = model.predict({"x": images})

How it avoids Numba: importing staticnet no longer imports it (the compiling names, sn.compile and
sn.Model, load staticnet.model on first use), and nothing here reaches the code generator.  A .snet file
is read by serialize.read_forward_graph, which checks the file and rebuilds the graph through the ops'
builders exactly as sn.load does, but stops before compiling; an ONNX file is translated into the same
kind of graph by onnx_import.  Either graph is then run node by node by the reference interpreter
(staticnet.interpreter), each op with its own NumPy definition from staticnet.ops.

Why the interpreter and not a separate evaluator over the file's JSON or the ONNX graph: the ops' NumPy
references are the definitions every compiled kernel is tested against, so predictions here are the
reference values of the same graph (not a second implementation that could drift), and the file is
validated by the same reader as sn.load.  The ops package imports only NumPy; a test runs this module
in a subprocess where importing numba fails, to keep it so.
"""
from __future__ import annotations

import os

from .errors import DataError
from .predictor import Predictor


ZIP_MAGIC = b"PK\x03\x04"  # how a .snet file (a zip archive) begins; an ONNX file is a protobuf message


def load(path) -> Predictor:
    """A Predictor for a model file: a staticnet .snet (told by its first bytes) or an ONNX model."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such model file")
    with open(path, "rb") as f:
        start = f.read(len(ZIP_MAGIC))
    if start == ZIP_MAGIC:
        from .serialize import read_forward_graph
        features, outputs, single_output = read_forward_graph(path)
        return Predictor(features, outputs, single_output)
    from .onnx_support import require_onnx
    require_onnx(f"inference.load({os.fspath(path)!r}) of an ONNX file")
    from .onnx_import import import_model
    return import_model(path).predictor()
