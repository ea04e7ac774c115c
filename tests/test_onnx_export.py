"""ONNX export, checked against onnxruntime: every exported file passes onnx.checker and runs there, and its
outputs match the NumPy reference interpreter on the same graph."""
import inspect
import os
import re
import sys

import numpy as np
import pytest

import staticnet as sn
from staticnet.errors import GraphError, MissingDependency
from staticnet.graph import make_node
from staticnet.interpreter import run
from staticnet.ops.activations import ACTIVATIONS
from staticnet.passes import rewrite_forward
from staticnet.program import Program

import onnx  # noqa: E402  (part of .[dev]: missing, these tests fail, never skip)
import onnxruntime as ort  # noqa: E402


def exported(tmp_path, outputs, inputs, **options):
    """(the checked ONNX model, an onnxruntime session) of a graph written by sn.export_onnx."""
    path = str(tmp_path / "model.onnx")
    sn.export_onnx(outputs, path, inputs=inputs, **options)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return model, ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def compare(tmp_path, outputs, inputs, arrays, rtol=1e-5, atol=1e-5, **options):
    """Run the export in onnxruntime and the graph in the reference interpreter; returns the ONNX op types."""
    model, session = exported(tmp_path, outputs, inputs, **options)
    got = session.run(None, {t.name: a for t, a in zip(inputs, arrays)})
    expected = run(outputs, {t.id: a for t, a in zip(inputs, arrays)})
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"output {i}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"output {i}")
    return [n.op_type for n in model.graph.node]


# the ONNX op each activation should become, and the first opset that has it
NATIVE = {"sigmoid": ("Sigmoid", 13), "tanh": ("Tanh", 13), "relu": ("Relu", 13), "softplus": ("Softplus", 13),
          "leaky_relu": ("LeakyRelu", 13), "prelu": ("PRelu", 13), "elu": ("Elu", 13), "softmax": ("Softmax", 13),
          "log_softmax": ("LogSoftmax", 13), "hard_sigmoid": ("HardSigmoid", 13), "gelu": ("Gelu", 20), "gelu_tanh": ("Gelu", 20),
          "swish": ("Swish", 24), "gelu_sigmoid": ("Swish", 24), "mish": ("Mish", 18)}
COMPOSED = {"gelu": "Erf", "gelu_tanh": "Tanh", "swish": "Sigmoid", "gelu_sigmoid": "Sigmoid", "step": "Greater",
            "mish": "Softplus"}


def dense_then(name: str, seed: int):
    """(the input, a dense layer of 5 units followed by the activation `name`) on 6 features."""
    sn.seed(seed)
    x = sn.input("x", (None, 6))
    z = sn.dense(x, 5)
    return x, (sn.prelu(z) if name == "prelu" else ACTIVATIONS[name](z))


@pytest.mark.parametrize("opset", [13, 17, 18, 20, 24])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS.keys() - {"linear"}) + ["prelu"])
def test_every_activation_exports_natively_where_the_opset_can_and_exactly_composed_otherwise(tmp_path, name, opset):
    x, a = dense_then(name, seed=3)
    rows = np.random.default_rng(0).normal(scale=3.0, size=(9, 6)).astype(np.float32)
    rows[0] = 40.0  # far out on both sides: the stable forms must survive
    rows[1] = -40.0
    types = compare(tmp_path, a, [x], [rows], opset=opset)
    native, since = NATIVE.get(name, (None, None))
    if native and opset >= since:
        assert native in types and "Where" not in types, types
    else:
        assert COMPOSED[name] in types and (native is None or native not in types), types


CONVOLUTIONS = [  # kernel, stride, padding, pooling
    (3, 1, "valid", "max"), (3, 2, "same", "avg"), ((3, 2), 1, 1, "l2"), (5, 1, "same", "max"), (2, (2, 1), 0, "none")]


@pytest.mark.parametrize("kernel, stride, padding, pooling", CONVOLUTIONS)
def test_convolution_pooling_and_flatten_compute_the_same_numbers_in_staticnets_layout(tmp_path, kernel, stride,
                                                                                        padding, pooling):
    sn.seed(1)
    x = sn.input("x", (None, 12, 11, 3))
    h = sn.conv2d(x, 4, kernel, stride=stride, padding=padding, activation="relu")
    h = {"max": sn.max_pool2d, "avg": sn.avg_pool2d, "l2": sn.l2_pool2d, "none": lambda t, w: t}[pooling](h, 2)
    p = sn.dense(sn.flatten(h), 3, activation="softmax")
    images = np.random.default_rng(2).normal(size=(5, 12, 11, 3)).astype(np.float32)
    types = compare(tmp_path, [p, h], [x], [images])
    assert types.count("Conv") == 1
    if pooling == "max":  # in a Model's graph the pooling comes first: conv -> max pool stay in NCHW
        pooled_first = rewrite_forward(Program(outputs=(p,))).outputs[0]
        compare(tmp_path, pooled_first, [x], [images])
        model, _ = exported(tmp_path, pooled_first, [x])
        (conv,) = [n for n in model.graph.node if n.op_type == "Conv"]
        (pool,) = [n for n in model.graph.node if n.op_type == "MaxPool"]
        assert pool.input[0] == conv.output[0]
        assert [n.op_type for n in model.graph.node].count("Transpose") == 2  # into the Conv, out of the pool


def test_patches_of_a_computed_filter_bank_export_exactly(tmp_path):
    """im2col whose product is not with a weight leaf: a Conv with a kernel of ones copies every window."""
    x = sn.input("x", (None, 6, 6, 2))
    W = sn.param("W", value=np.random.default_rng(4).normal(size=(3 * 3 * 2, 4)).astype(np.float32))
    patches = make_node("im2col", (x,), {"kh": 3, "kw": 3, "sh": 1, "sw": 1, "pads": (1, 1, 0, 2)})
    y = patches @ (W * 2.0)
    images = np.random.default_rng(5).normal(size=(3, 6, 6, 2)).astype(np.float32)
    compare(tmp_path, y, [x], [images])
    model, session = exported(tmp_path, patches, [x])
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Conv", "Transpose"]
    np.testing.assert_array_equal(session.run(None, {"x": images})[0], run(patches, {x.id: images})[0])


def test_elementwise_comparison_reduction_and_shape_ops(tmp_path):
    rng = np.random.default_rng(6)
    x = sn.input("x", (None, 4, 3))
    c = sn.param("c", value=rng.normal(size=(3,)).astype(np.float32))
    outputs = [
        x + c, x - c, x * c, x / (sn.abs(c) + 1.0), sn.maximum(x, c), sn.minimum(x, 0.5), -x, sn.exp(x),
        sn.log(sn.abs(x) + 1.0), sn.sqrt(sn.abs(x)), sn.square(x), sn.sign(x), sn.erf(x), sn.cos(x), sn.sin(x),
        x > c, x >= 0.0, x < c, x <= 0.0, sn.equal(sn.sign(x), 1.0), sn.where(x > 0.0, x, c), sn.where(x, c, -1.0),
        sn.cast(sn.cast(x, "float64") * 2.0, "float32"),
        sn.sum(x, axis=1), sn.sum(x, axis=(1, 2), keepdims=True), sn.max(x, axis=-1), sn.mean(x, axis=2),
        sn.mean(x), sn.sum(x), sn.max(x, axis=0),
        sn.reshape(x, (None, 12)), sn.transpose(x, (0, 2, 1)), sn.flatten(x), sn.broadcast_like(c, x),
        sn.softmax(x, axis=1), sn.log_softmax(x, axis=-1),
    ]
    values = rng.normal(size=(5, 4, 3)).astype(np.float32)
    values[0, 0] = 0.0
    compare(tmp_path, outputs, [x], [values])


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_the_elman_rnn_exports_as_onnx_rnn(tmp_path, activation, return_sequences):
    sn.seed(2)
    x = sn.input("x", (None, 7, 3))
    h = sn.rnn(x, 5, activation=activation, return_sequences=return_sequences)
    sequences = np.random.default_rng(7).normal(size=(4, 7, 3)).astype(np.float32)
    types = compare(tmp_path, h, [x], [sequences])
    assert types.count("RNN") == 1


def test_dropout_is_left_out_and_the_export_computes_what_predict_does(tmp_path):
    sn.seed(0)
    x = sn.input("x", (None, 8))
    p = sn.dense(sn.dropout(sn.dense(x, 16, activation="relu"), 0.5), 2, activation="softmax")
    rows = np.random.default_rng(8).normal(size=(6, 8)).astype(np.float32)
    model, session = exported(tmp_path, p, [x])
    expected = sn.function([x], p, backend="numpy")(rows)  # an inference function: dropout is the identity
    np.testing.assert_allclose(session.run(None, {"x": rows})[0], expected, rtol=1e-6, atol=1e-6)
    assert not {"Dropout", "RandomUniformLike", "RandomUniform"} & {n.op_type for n in model.graph.node}


def test_names_the_batch_dimension_and_the_weights_come_from_the_graph(tmp_path):
    sn.seed(0)
    x = sn.input("pixels", (None, 5))
    hidden = sn.dense(x, 4, activation="tanh", name="hidden")
    p = sn.dense(hidden, 3, activation="sigmoid", name="out")
    model, session = exported(tmp_path, [p, hidden], [x], output_names=["probabilities", "features"])
    (given,) = model.graph.input
    assert given.name == "pixels"
    dims = given.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 5
    assert [o.name for o in model.graph.output] == ["probabilities", "features"]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    for leaf in sn.Graph(p).params:
        np.testing.assert_array_equal(weights[leaf.name], leaf.value)
    for batch in (1, 37):  # any batch size
        rows = np.random.default_rng(batch).normal(size=(batch, 5)).astype(np.float32)
        got = session.run(None, {"pixels": rows})
        np.testing.assert_allclose(got[0], run(p, {x.id: rows})[0], rtol=1e-5, atol=1e-6)
        assert got[1].shape == (batch, 4)


def test_a_float64_graph_exports_in_double(tmp_path):
    x = sn.input("x", (None, 3), dtype="float64")
    p = sn.dense(x, 2, activation="tanh")
    rows = np.random.default_rng(9).normal(size=(4, 3))
    model, session = exported(tmp_path, p, [x])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    np.testing.assert_allclose(session.run(None, {"x": rows})[0], run(p, {x.id: rows})[0], rtol=1e-12)


def test_an_op_with_no_onnx_form_is_refused_naming_it_the_users_line_and_the_exportable_ops(tmp_path):
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 3))
    z = sn.dense(x, 3)
    loss = sn.softmax_cross_entropy(z, y); line = inspect.currentframe().f_lineno  # noqa: E702
    with pytest.raises(GraphError) as caught:
        sn.export_onnx(loss, str(tmp_path / "loss.onnx"))
    message = str(caught.value)
    assert message.startswith(f"softmax_xent at {os.path.relpath(__file__)}:{line}: cannot be exported to ONNX")
    for op in ("matmul", "im2col", "max_pool2d", "rnn", "softmax", "where"):
        assert op in message
    assert not (tmp_path / "loss.onnx").exists()


@pytest.mark.parametrize("options, message", [
    ({"opset": 12}, "opset must be an integer from 13 to"),
    ({"opset": 1000}, "opset must be an integer from 13 to"),
    ({"opset": "17"}, "got '17'"),
    ({"inputs": []}, "the outputs read input 'x'"),
    ({"output_names": ["a", "b"]}, "output_names must be 1 non-empty strings"),
    ({"output_names": ["x"]}, "must differ from each other and from the input names"),
])
def test_bad_export_arguments_are_refused(tmp_path, options, message):
    x = sn.input("x", (None, 2))
    with pytest.raises(GraphError, match=message):
        sn.export_onnx(sn.dense(x, 2), str(tmp_path / "m.onnx"), **options)


def test_a_path_in_a_missing_directory_is_refused_before_anything_is_written(tmp_path):
    x = sn.input("x", (None, 2))
    with pytest.raises(GraphError, match="the directory .* does not exist"):
        sn.export_onnx(sn.dense(x, 2), str(tmp_path / "no" / "m.onnx"))


@pytest.mark.parametrize("path,message", [("", "path '': is empty; name a file"),
                                          (".", "path '.': is a directory; name a file in it"),
                                          ("/sys/m.onnx", "path '/sys/m.onnx': cannot write in the directory /sys")])
def test_a_path_that_cannot_be_a_file_is_refused_before_the_model_is_built(tmp_path, monkeypatch, path, message):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # export_onnx('') used to write its temporary in the parent directory, tmp_path
    x = sn.input("x", (None, 2))
    with pytest.raises(GraphError, match=f"^export_onnx at .*: {re.escape(message)}"):
        sn.export_onnx(sn.dense(x, 2), path)
    assert os.listdir(tmp_path) == ["work"] and os.listdir(work) == []


def test_export_replaces_the_file_atomically(tmp_path, monkeypatch):
    x = sn.input("x", (None, 2))
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the previous export")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        sn.export_onnx(sn.dense(x, 2), str(path))
    assert path.read_bytes() == b"the previous export"
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary left behind
    monkeypatch.undo()
    sn.export_onnx(sn.dense(x, 2), str(path))
    onnx.checker.check_model(onnx.load(str(path)))


def test_without_the_onnx_package_export_and_import_name_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails, as where it is not installed
    x = sn.input("x", (None, 2))
    with pytest.raises(MissingDependency, match=r"^ONNX export needs the onnx package: pip install onnx$"):
        sn.export_onnx(sn.dense(x, 2), str(tmp_path / "m.onnx"))
    with pytest.raises(MissingDependency, match=r"^ONNX import needs the onnx package: pip install onnx$"):
        sn.import_onnx(str(tmp_path / "m.onnx"))


# what an activation's native ONNX op imports back as: (op, attributes)
IMPORTED = {"gelu": ("gelu", {"approximate": "none"}), "gelu_tanh": ("gelu", {"approximate": "tanh"}),
            "gelu_sigmoid": ("swish", {"beta": 1.702}), "swish": ("swish", {"beta": 1.0}),
            "leaky_relu": ("leaky_relu", {"alpha": 0.01}), "elu": ("elu", {"alpha": 1.0}),
            "hard_sigmoid": ("hard_sigmoid", {"alpha": 0.2, "beta": 0.5}), "softmax": ("softmax", {"axis": 1}),
            "log_softmax": ("log_softmax", {"axis": 1})}


@pytest.mark.parametrize("name, opset", [(name, opset) for name, (_, since) in sorted(NATIVE.items())
                                         for opset in (13, 17, 18, 20, 24) if opset >= since])
def test_an_activation_round_trips_through_its_native_onnx_op(tmp_path, name, opset):
    x, a = dense_then(name, seed=4)
    rows = np.random.default_rng(1).normal(scale=3.0, size=(9, 6)).astype(np.float32)
    types = compare(tmp_path, a, [x], [rows], opset=opset)  # checked by onnx's checker, run by onnxruntime
    assert NATIVE[name][0] in types and "Where" not in types, types
    imported = sn.import_onnx(str(tmp_path / "model.onnx"))
    (out,) = imported.outputs
    op, attrs = IMPORTED.get(name, (name, {}))
    assert out.op == op and {k: pytest.approx(v) for k, v in out.attrs.items()} == attrs, (out.op, out.attrs)
    np.testing.assert_allclose(imported.predict(rows), run(a, {x.id: rows})[0], rtol=1e-5, atol=1e-5)


def test_the_onnx_nodes_are_named_after_the_layer_that_made_them(tmp_path):
    sn.seed(0)
    x = sn.input("x", (None, 5))
    p = sn.dense(sn.sigmoid(sn.dense(x, 4, activation="gelu", name="hidden")), 3, name="head")
    model, _ = exported(tmp_path, p, [x], opset=20)
    names = {n.op_type: n.name for n in model.graph.node}
    assert names["Gelu"] == "hidden/gelu" and names["Sigmoid"] == "sigmoid"  # sn.sigmoid is no layer's
    assert [n.name for n in model.graph.node if n.op_type == "MatMul"] == ["hidden/matmul", "head/matmul"]


@pytest.mark.parametrize("opset", [13, 17])
def test_slicing_joining_layer_norm_and_global_pools_export_as_their_onnx_ops(tmp_path, opset):
    """Slice, Concat, LayerNormalization (opset 17 on; before it, its decomposition), GlobalAveragePool and
    GlobalMaxPool, each computing what the reference interpreter does; the round trip imports the same numbers."""
    sn.seed(4)
    rng = np.random.default_rng(7)
    x = sn.input("x", (None, 4, 6))
    img = sn.reshape(x, (None, 2, 2, 6))
    norm = sn.layer_norm(x, eps=0.01)
    norm.inputs[1].value[...] = rng.normal(size=6)
    norm.inputs[2].value[...] = rng.normal(size=6)
    first, second = sn.split(x, [2, 4])
    outputs = [x[:, 1:3], x[:, ::-1, 1::2], x[:, -1], sn.concat([first * 2.0, second, x[..., :1]]),
               sn.stack([x, -x], axis=2), norm, sn.global_avg_pool2d(img), sn.global_max_pool2d(img)]
    values = rng.normal(size=(5, 4, 6)).astype(np.float32)
    types = compare(tmp_path, outputs, [x], [values], opset=opset)
    assert {"Slice", "Concat", "GlobalAveragePool", "GlobalMaxPool"} <= set(types)
    assert ("LayerNormalization" in types) == (opset >= 17), types
    imported = sn.import_onnx(str(tmp_path / "model.onnx"))
    for got, expected in zip(imported.predict(values), run(outputs, {x.id: values})):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", ["lstm", "gru"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_lstm_and_gru_export_as_onnx_lstm_and_gru_with_their_gate_orders(tmp_path, layer, return_sequences):
    """Random biases (b_hn too) so that every block of every weight must land in ONNX's gate order."""
    sn.seed(3)
    x = sn.input("x", (None, 6, 3))
    h = getattr(sn, layer)(x, 5, return_sequences=return_sequences)
    rng = np.random.default_rng(9)
    for p in sn.Graph(h).params:
        p.value = rng.normal(scale=0.6, size=p.shape).astype(np.float32)
    sequences = rng.normal(size=(4, 6, 3)).astype(np.float32)
    types = compare(tmp_path, h, [x], [sequences])
    assert types.count(layer.upper()) == 1
    imported = sn.import_onnx(str(tmp_path / "model.onnx"))  # and back: the same layer, the same weights
    np.testing.assert_allclose(imported.predict(sequences), sn.function([x], h, backend="numpy")(sequences),
                               rtol=1e-6, atol=1e-6)


def test_an_embedding_exports_as_gather_and_imports_back(tmp_path):
    sn.seed(4)
    ids = sn.input("ids", (None, 5), dtype="int64")
    h = sn.lstm(sn.embedding(ids, 11, 3), 4)
    words = np.random.default_rng(10).integers(0, 11, (6, 5))
    types = compare(tmp_path, h, [ids], [words])
    assert types.count("Gather") == 2 and types.count("LSTM") == 1  # the table's rows; the last step
    imported = sn.import_onnx(str(tmp_path / "model.onnx"))
    np.testing.assert_allclose(imported.predict(words), sn.function([ids], h, backend="numpy")(words), rtol=1e-6,
                               atol=1e-6)
