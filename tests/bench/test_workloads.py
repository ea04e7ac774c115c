"""The bench's staticnet models are the networks they name, and W5's takes the NumPy baseline's step."""
import os
import re
import runpy

import numpy as np

import staticnet as sn
from staticnet.bench.workloads import WORKLOADS, model_file, staticnet_model

from .same_step import assert_same_step

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def graph_lines(loss):
    """The graph's listing without its source locations (the two files differ in those alone)."""
    return [re.sub(r"\s+\S+:\d+(?=\s|$)", "", line).rstrip() for line in str(sn.Graph(loss)).splitlines()]


def test_w5_is_the_examples_net_3():
    namespace = {}
    exec(model_file(WORKLOADS["W5"]), namespace)
    bench = namespace["build"]()
    example = runpy.run_path(os.path.join(ROOT, "examples", "mnist_cnn.py"))["build"](net=3)
    assert graph_lines(bench["loss"]) == graph_lines(example["loss"])
    assert sum("dropout_mask(" in line and "rate=0.5" in line for line in graph_lines(bench["loss"])) == 3
    assert repr(bench["optimizer"]) == repr(example["optimizer"])


def test_a_model_file_is_built_with_the_size_asked(tmp_path):
    """The compile-time table's 'resized' situation compiles the same file with 37 hidden units."""
    path = tmp_path / "model.py"
    path.write_text(model_file(WORKLOADS["W1"]))
    net = staticnet_model(WORKLOADS["W1"], hidden=37, path=str(path))
    assert [v.shape for v in net.params.values()] == [(784, 37), (37,), (37, 10), (10,)]


def test_w5_staticnet_takes_the_numpy_step(w5_batch):
    """One step of the bench's W5 model without dropout, from the NumPy baseline's weights, in float32."""
    x, y, params, expected = w5_batch
    net = staticnet_model(WORKLOADS["W5"], dropout=0.0)
    assert [v.shape for v in net.params.values()] == [p.shape for p in params]
    for name, value in zip(list(net.params), params):
        net.params[name] = value
    net.fit({"x": x, "y": y}, epochs=1, batch_size=len(x), seed=0, verbose=0)
    assert_same_step(params, [np.array(v) for v in net.params.values()], expected)
