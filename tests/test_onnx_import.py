"""ONNX import of models staticnet did not write: built here with onnx.helper in NCHW, as other tools write
them (and by torch.onnx where torch is installed); staticnet's predictions are compared with onnxruntime's."""
import os
import warnings

import numpy as np
import pytest

import staticnet as sn
from staticnet.errors import DataError
from tests.conftest import hostile_strings

import onnx  # noqa: E402  (part of .[dev]: missing, these tests fail, never skip)
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(21)


def weights(name, *shape, scale=0.5):
    return numpy_helper.from_array(RNG.normal(scale=scale, size=shape).astype(np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def save(tmp_path, nodes, inputs, outputs, initializers, opset=17, name="model.onnx"):
    """A checked ONNX file of these nodes; inputs and outputs as (name, shape[, element type]) with "N" the batch
    (a shape of None leaves it to shape inference)."""
    value = lambda n, shape, kind=TensorProto.FLOAT: helper.make_tensor_value_info(n, kind, shape)  # noqa: E731
    graph = helper.make_graph(nodes, "foreign", [value(*i) for i in inputs], [value(*o) for o in outputs],
                              initializer=initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


def onnxruntime(path, feeds):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)


def mlp(tmp_path):
    """784-style MLP as torch writes nn.Linear: Gemm with transB=1 and weights (out, in)."""
    nodes = [helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["a"], name="relu1"),
             helper.make_node("Gemm", ["a", "fc2.weight", "fc2.bias"], ["z"], name="fc2", transB=1, alpha=0.5,
                              beta=2.0),
             helper.make_node("Softmax", ["z"], ["probabilities"], name="softmax", axis=1)]
    inits = [weights("fc1.weight", 16, 20), weights("fc1.bias", 16), weights("fc2.weight", 4, 16),
             weights("fc2.bias", 4)]
    return save(tmp_path, nodes, [("input", ("N", 20))], [("probabilities", ("N", 4))], inits)


def cnn(tmp_path):
    """A small NCHW CNN: conv (padded) -> relu -> max pool -> conv (strided) -> sigmoid -> average pool ->
    flatten (in C, H, W order) -> Gemm -> log-softmax."""
    nodes = [helper.make_node("Conv", ["image", "conv1.w", "conv1.b"], ["c1"], name="conv1", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "conv2.w"], ["c2"], name="conv2", strides=[2, 1]),
             helper.make_node("Sigmoid", ["c2"], ["s2"], name="sigmoid2"),
             helper.make_node("AveragePool", ["s2"], ["p2"], name="pool2", kernel_shape=[2, 2]),
             helper.make_node("Flatten", ["p2"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["z"], name="fc"),
             helper.make_node("LogSoftmax", ["z"], ["log_probabilities"], name="log_softmax")]
    # (2, 12, 10) -> conv1 (4, 12, 10) -> pool1 (4, 6, 5) -> conv2 (6, 3, 4) -> pool2 (6, 2, 3): 36 features
    inits = [weights("conv1.w", 4, 2, 3, 3), weights("conv1.b", 4), weights("conv2.w", 6, 4, 2, 2),
             weights("fc.w", 36, 5), weights("fc.b", 5)]
    return save(tmp_path, nodes, [("image", ("N", 2, 12, 10))], [("log_probabilities", ("N", 5))], inits)


def test_an_mlp_written_by_onnx_helper_predicts_as_onnxruntime_does(tmp_path):
    path = mlp(tmp_path)
    rows = RNG.normal(size=(33, 20)).astype(np.float32)
    (expected,) = onnxruntime(path, {"input": rows})
    imported = sn.import_onnx(path)
    assert [t.name for t in imported.inputs] == ["input"] and imported.output_names == ["probabilities"]
    assert sorted(t.name for t in imported.params) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    np.testing.assert_allclose(imported.predict(rows), expected, rtol=1e-5, atol=1e-6)  # NumPy reference
    net = imported.compile()  # the same graph through the compiler
    np.testing.assert_allclose(net.predict({"input": rows}), expected, rtol=1e-5, atol=1e-6)


def test_a_cnn_written_in_nchw_predicts_as_onnxruntime_does(tmp_path):
    path = cnn(tmp_path)
    images = RNG.normal(size=(7, 2, 12, 10)).astype(np.float32)
    (expected,) = onnxruntime(path, {"image": images})
    imported = sn.import_onnx(path)
    assert imported.inputs[0].shape == (None, 2, 12, 10)  # it takes the arrays onnxruntime takes
    np.testing.assert_allclose(imported.predict(images), expected, rtol=1e-5, atol=1e-5)
    ops = [n.op for n in sn.Graph(imported.outputs).nodes]
    # NCHW <-> NHWC around each conv and pool, but none between pool1 and conv2, which read NHWC values
    assert ops.count("transpose") == 6 and ops.count("im2col") == 2
    net = imported.compile()
    np.testing.assert_allclose(net.predict(images), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv_attrs", [{"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                                        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
                                        {"auto_pad": "VALID"}, {"pads": [2, 0, 1, 1]}])
def test_conv_padding_as_onnx_defines_it(tmp_path, conv_attrs):
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["y"], name="conv", kernel_shape=[3, 3], **conv_attrs)]
    path = save(tmp_path, nodes, [("image", ("N", 2, 9, 8))], [("y", None)], [weights("w", 3, 2, 3, 3), weights("b", 3)])
    images = RNG.normal(size=(3, 2, 9, 8)).astype(np.float32)
    (expected,) = onnxruntime(path, {"image": images})
    got = sn.import_onnx(path).predict(images)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


ELEMENTWISE_GRAPHS = {  # name: (nodes from "x" to "y", initializers, opset)
    "activations": ([helper.make_node("LeakyRelu", ["x"], ["a"], alpha=0.2),
                     helper.make_node("Elu", ["a"], ["b"], alpha=0.7),
                     helper.make_node("Softplus", ["b"], ["c"]),
                     helper.make_node("Tanh", ["c"], ["d"]),
                     helper.make_node("PRelu", ["x", "slope"], ["e"]),
                     helper.make_node("Add", ["d", "e"], ["y"])], [weights("slope", 6)], 17),
    "gelu": ([helper.make_node("Gelu", ["x"], ["a"]), helper.make_node("Gelu", ["x"], ["b"], approximate="tanh"),
              helper.make_node("Sub", ["a", "b"], ["c"]), helper.make_node("Mul", ["c", "x"], ["y"])], [], 20),
    "hard_sigmoid": ([helper.make_node("HardSigmoid", ["x"], ["a"]),  # ONNX's defaults, alpha 0.2 and beta 0.5
                      helper.make_node("HardSigmoid", ["x"], ["b"], alpha=1 / 6, beta=0.25),
                      helper.make_node("Sub", ["a", "b"], ["y"])], [], 17),
    "arithmetic": ([helper.make_node("Div", ["x", "d"], ["a"]), helper.make_node("Max", ["a", "x", "d"], ["b"]),
                    helper.make_node("Min", ["b", "d"], ["c"]), helper.make_node("Neg", ["c"], ["e"]),
                    helper.make_node("Abs", ["e"], ["f"]), helper.make_node("Sqrt", ["f"], ["g"]),
                    helper.make_node("Exp", ["g"], ["h"]), helper.make_node("Log", ["h"], ["i"]),
                    helper.make_node("Pow", ["i", "two"], ["j"]), helper.make_node("Erf", ["j"], ["y"])],
                   [numpy_helper.from_array(np.full(6, 1.5, np.float32), "d"),
                    numpy_helper.from_array(np.float32(2.0), "two")], 17),
    "masks": ([helper.make_node("Greater", ["x", "zero"], ["positive"]),
               helper.make_node("Not", ["positive"], ["negative"]),
               helper.make_node("Where", ["negative", "x", "zero"], ["a"]),
               helper.make_node("Cast", ["positive"], ["b"], to=TensorProto.FLOAT),
               helper.make_node("Add", ["a", "b"], ["y"])], [numpy_helper.from_array(np.float32(0.0), "zero")], 17),
    "shapes": ([helper.make_node("Reshape", ["x", "shape"], ["a"]),
                helper.make_node("Transpose", ["a"], ["b"], perm=[0, 2, 1]),
                helper.make_node("ReduceMean", ["b"], ["c"], axes=[2], keepdims=1),
                helper.make_node("Unsqueeze", ["c", "axes"], ["d"]),
                helper.make_node("Squeeze", ["d", "axes"], ["e"]),
                helper.make_node("Softmax", ["e"], ["f"], axis=1),
                helper.make_node("Sigmoid", ["b"], ["g"]),
                helper.make_node("ReduceSum", ["g", "axes"], ["h"], keepdims=0),
                helper.make_node("Identity", ["h"], ["i"]),
                helper.make_node("Dropout", ["i"], ["j"]),
                helper.make_node("Reshape", ["f", "flat"], ["k"]),
                helper.make_node("Mul", ["j", "k"], ["y"])],
               [ints("shape", [0, 2, 3]), ints("axes", [2]), ints("flat", [-1, 3])], 17),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_GRAPHS))
def test_activations_arithmetic_masks_and_shape_ops_import_as_onnxruntime_computes_them(tmp_path, name):
    nodes, inits, opset = ELEMENTWISE_GRAPHS[name]
    path = save(tmp_path, nodes, [("x", ("N", 6))], [("y", None)], inits, opset=opset)
    rows = RNG.normal(scale=2.0, size=(9, 6)).astype(np.float32)
    (expected,) = onnxruntime(path, {"x": rows})
    got = sn.import_onnx(path).predict(rows)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_global_pooling_imports(tmp_path):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["a"]), helper.make_node("GlobalMaxPool", ["x"], ["b"]),
             helper.make_node("Sub", ["b", "a"], ["y"])]
    path = save(tmp_path, nodes, [("x", ("N", 3, 5, 4))], [("y", None)], [])
    images = RNG.normal(size=(2, 3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(sn.import_onnx(path).predict(images), onnxruntime(path, {"x": images})[0], rtol=1e-5,
                               atol=1e-6)


def test_a_model_exported_by_torch_onnx_imports(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (the onnx.helper models above still run)")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(6 * 5 * 5, 10),
        torch.nn.LeakyReLU(0.1), torch.nn.Linear(10, 3), torch.nn.Softmax(dim=1)).eval()
    images = RNG.normal(size=(6, 1, 14, 14)).astype(np.float32)
    path = str(tmp_path / "torch.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.from_numpy(images),), path, dynamo=False, input_names=["image"],
                          output_names=["p"], dynamic_axes={"image": {0: "batch"}, "p": {0: "batch"}})
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(onnxruntime(path, {"image": images})[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sn.import_onnx(path).predict(images), expected, rtol=1e-5, atol=1e-6)


def test_an_imported_model_fine_tunes_with_sn_compile(tmp_path):
    imported = sn.import_onnx(mlp(tmp_path))
    before = {t.name: t.value.copy() for t in imported.params}
    rows = RNG.normal(size=(200, 20)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[(rows[:, 0] > 0) + 2 * (rows[:, 1] > 0)]
    y = sn.input("y", (None, 4))
    net = sn.compile(sn.cross_entropy(imported.output, y), outputs=imported.output, optimizer=sn.SGD(lr=0.5))
    start = net.evaluate({"input": rows, "y": labels})
    net.fit({"input": rows, "y": labels}, epochs=20, batch_size=20, verbose=0, seed=0)
    end = net.evaluate({"input": rows, "y": labels})
    assert end["loss"] < 0.5 * start["loss"] and end["accuracy"] > 0.9, (start, end)
    assert all(not np.array_equal(before[t.name], t.value) for t in imported.params)


def one_node(tmp_path, node, inits=(), shape=("N", 2, 6, 6)):
    return save(tmp_path, [node], [("x", shape)], [("y", None)], list(inits))


@pytest.mark.parametrize("node, inits, message", [
    (helper.make_node("LRN", ["x"], ["y"], name="norm", size=3), [],
     r"node 'norm' \(LRN\): op type LRN is not supported; staticnet imports Abs, Add, AveragePool, .*Conv"),
    (helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", group=2), [weights("w", 4, 1, 3, 3)],
     r"node 'grouped' \(Conv\): attribute group=2 is not supported"),
    (helper.make_node("Conv", ["x", "w"], ["y"], name="dilated", dilations=[2, 2]), [weights("w", 4, 2, 3, 3)],
     r"node 'dilated' \(Conv\): attribute dilations=\[2, 2\] is not supported"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="padded", kernel_shape=[2, 2], pads=[1, 1, 1, 1]), [],
     r"node 'padded' \(MaxPool\): padding is not supported"),
    (helper.make_node("Flatten", ["x"], ["y"], name="flat2", axis=2), [],
     r"node 'flat2' \(Flatten\): axis=2: staticnet flattens everything after the batch axis"),
    (helper.make_node("Relu", ["x"], ["y"]), [], None),  # a control: this one imports
])
def test_an_unsupported_op_or_attribute_names_the_node_and_its_op_type(tmp_path, node, inits, message):
    path = one_node(tmp_path, node, inits)
    if message is None:
        images = RNG.normal(size=(1, 2, 6, 6)).astype(np.float32)
        np.testing.assert_array_equal(sn.import_onnx(path).predict(images), np.maximum(images, 0))
        return
    with pytest.raises(DataError, match=message):
        sn.import_onnx(path)


def test_a_computed_reshape_target_is_refused_naming_the_node(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape_of_x"),
             helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")]
    path = save(tmp_path, nodes, [("x", ("N", 6))], [("y", None)], [])
    with pytest.raises(DataError, match=r"node 'shape_of_x' \(Shape\): op type Shape is not supported"):
        sn.import_onnx(path)
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")]
    path = save(tmp_path, nodes, [("x", ("N", 6)), ("s", (2,), TensorProto.INT64)], [("y", None)], [])
    with pytest.raises(DataError, match=r"node 'reshape' \(Reshape\): its shape \('s'\) must be an initializer"):
        sn.import_onnx(path)


def test_a_builder_error_names_the_onnx_node(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="stacked")]  # ONNX broadcasts a stack of matrices
    path = save(tmp_path, nodes, [("x", ("N", 6))], [("y", None)], [weights("w", 3, 6, 2)], name="m.onnx")
    with pytest.raises(DataError, match=r"m.onnx: matmul at m.onnx node 'stacked' \(MatMul\): \(None, 6\) @ \(3, 6, 2\)"):
        sn.import_onnx(path)


def test_files_that_are_not_onnx_models_are_refused(tmp_path):
    with pytest.raises(DataError, match="no such ONNX model file"):
        sn.import_onnx(str(tmp_path / "absent.onnx"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00 not protobuf " * 10)
    with pytest.raises(DataError, match="not an ONNX model|not a valid ONNX model"):
        sn.import_onnx(str(garbage))
    two_batches = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [("x", ("N", "M"))], [("y", None)], [])
    with pytest.raises(DataError, match="input 'x' has 2 symbolic sizes"):
        sn.import_onnx(two_batches)


# ---------------------------------------------------------------- hostile names run nothing

def named_mlp(directory, text="", file="model.onnx", rename=()):
    """A Gemm-Relu-Gemm-Softmax MLP whose node names, intermediate values and output hold `text`, and whose
    input or initializers (`rename`: "input" and initializer names) are named `text` too."""
    name = lambda n: text + n if n in rename else n  # noqa: E731
    nodes = [helper.make_node("Gemm", [name("input"), name("w1"), name("b1")], [text + "h"], name=text + "1", transB=1),
             helper.make_node("Relu", [text + "h"], [text + "a"], name=text + "r"),
             helper.make_node("Gemm", [text + "a", name("w2"), name("b2")], [text + "z"], name=text + "2", transB=1),
             helper.make_node("Softmax", [text + "z"], [text + "p"], axis=1)]  # unnamed
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name(n))
             for n, shape in (("w1", (5, 4)), ("b1", (5,)), ("w2", (3, 5)), ("b2", (3,)))]
    features = helper.make_tensor_value_info(name("input"), TensorProto.FLOAT, ("N", 4))
    probabilities = helper.make_tensor_value_info(text + "p", TensorProto.FLOAT, ("N", 3))
    graph = helper.make_graph(nodes, text or "g", [features], [probabilities], initializer=inits)
    opsets = [helper.make_opsetid("", 17)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(directory, file)
    onnx.save(model, path)
    return path


FEATURES = RNG.normal(size=(7, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def clean_mlp(tmp_path_factory):
    path = named_mlp(str(tmp_path_factory.mktemp("clean")))
    return sn.import_onnx(path).predict(FEATURES), sn.import_onnx(path).compile().predict(FEATURES)


def a_file_name(text) -> bool:
    return "/" not in text and "\x00" not in text and 0 < len(text.encode()) < 200 and text not in (".", "..")


@pytest.mark.parametrize("case", range(len(hostile_strings("ran"))))
def test_hostile_node_value_and_file_names_run_nothing_and_import_as_the_clean_model(tmp_path, monkeypatch, clean_mlp,
                                                                                     case):
    monkeypatch.chdir(tmp_path)  # the payloads create ./ran
    text = hostile_strings("ran")[case]
    file = f"{text}.onnx" if a_file_name(text + ".onnx") else "model.onnx"
    imported = sn.import_onnx(named_mlp(str(tmp_path), text, file))
    np.testing.assert_array_equal(imported.predict(FEATURES), clean_mlp[0])
    np.testing.assert_array_equal(imported.compile().predict(FEATURES), clean_mlp[1])
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("case", range(len(hostile_strings("ran"))))
@pytest.mark.parametrize("renamed, field", [("input", "graph.input[0].name"), ("w1", "graph.initializer[0].name"),
                                            ("b2", "graph.initializer[3].name")])
def test_hostile_input_and_initializer_names_are_refused_naming_the_field(tmp_path, monkeypatch, case, renamed, field):
    monkeypatch.chdir(tmp_path)
    text = hostile_strings("ran")[case]
    path = named_mlp(str(tmp_path), text, rename=(renamed,))
    with pytest.raises(DataError) as caught:
        sn.import_onnx(path).compile()
    assert str(caught.value).startswith(f"{path}: field {field} "), str(caught.value)
    assert "a name is 1 to 1000 characters among" in str(caught.value)
    assert not (tmp_path / "ran").exists()


def test_the_names_pytorch_and_tensorflow_write_import(tmp_path):
    names = {"input": "input.1", "w1": "onnx::Gemm_0", "b1": "fc1.bias", "w2": "dense/kernel:0", "b2": "/fc2/Gemm_b"}
    path = named_mlp(str(tmp_path), "/fc1/Gemm_output_0")
    with open(path, "rb") as f:
        model = onnx.load_from_string(f.read())
    for value in list(model.graph.input) + list(model.graph.initializer):
        value.name = names[value.name]
    for node in model.graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    imported = sn.import_onnx(path)
    assert [t.name for t in imported.inputs] == ["input.1"]
    assert {t.name for t in imported.params} == {"onnx::Gemm_0", "fc1.bias", "dense/kernel:0", "/fc2/Gemm_b"}
    np.testing.assert_allclose(imported.compile().predict({"input.1": FEATURES}),
                               onnxruntime(path, {"input.1": FEATURES})[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- values and attributes out of range

def unchecked(tmp_path, node, inits, x_shape, y_shape, name="model.onnx"):
    """A file of one node that onnx's basic checker takes (as import_onnx runs it) but its shape inference
    would not: what a hostile or broken writer makes."""
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("index", [99, 4, -5, -9])
def test_a_gather_index_out_of_range_is_refused_naming_the_node_and_the_index_as_onnxruntime_does(tmp_path, index):
    node = helper.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=1)
    path = unchecked(tmp_path, node, [ints("i", index)], ("N", 4, 3), ("N", 3))
    with pytest.raises(Exception, match="indices element out of data bounds"):
        onnxruntime(path, {"x": np.zeros((2, 4, 3), np.float32)})
    with pytest.raises(DataError, match=rf"model.onnx: node 'pick' \(Gather\): index {index} is out of range for "
                                        r"axis 1 of size 4 \(from -4 to 3\)"):
        sn.import_onnx(path)


@pytest.mark.parametrize("index", [0, 3, -1, -4])
def test_a_gather_index_in_range_picks_what_onnxruntime_picks(tmp_path, index):
    node = helper.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=1)
    path = unchecked(tmp_path, node, [ints("i", index)], ("N", 4, 3), ("N", 3))
    sequences = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(sn.import_onnx(path).predict(sequences), onnxruntime(path, {"x": sequences})[0])


@pytest.mark.parametrize("node, message", [
    (helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[0, 2]),
     r"node 'pool' \(MaxPool\): attribute kernel_shape=\[0, 2\] must be two positive integers"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[0, 1]),
     r"node 'pool' \(MaxPool\): attribute strides=\[0, 1\] must be two positive integers"),
    (helper.make_node("AveragePool", ["x"], ["y"], name="avg", kernel_shape=[2], strides=[1, 1]),
     r"node 'avg' \(AveragePool\): attribute kernel_shape=\[2\] must be two positive integers"),
])
def test_a_pool_window_or_stride_of_zero_names_the_file_node_and_attribute(tmp_path, node, message):
    path = unchecked(tmp_path, node, [], ("N", 2, 6, 6), ("N", 2, 3, 3))
    with pytest.raises(DataError, match="model.onnx: " + message):
        sn.import_onnx(path)


def test_a_conv_stride_of_zero_names_the_file_node_and_attribute(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", strides=[0, 1])
    path = unchecked(tmp_path, node, [weights("w", 3, 2, 3, 3)], ("N", 2, 6, 6), ("N", 3, 4, 4))
    with pytest.raises(DataError, match=r"model.onnx: node 'conv' \(Conv\): attribute strides=\[0, 1\] must be two "
                                        "positive integers"):
        sn.import_onnx(path)


def long_data(tensor):
    tensor.raw_data += b"1234"
    return tensor


def long_list(tensor):
    tensor.ClearField("raw_data")
    tensor.float_data.extend([1.0] * 15)
    return tensor


def retyped(code):
    def damage(tensor):
        tensor.data_type = code
        return tensor
    return damage


@pytest.mark.parametrize("damage, message", [  # what onnx's checker lets through
    (long_data, r"cannot be read: ValueError: "),  # NumPy's words follow: cannot reshape array of size 13 ...
    (long_list, r"cannot be read: ValueError: "),
    (retyped(TensorProto.FLOAT16), r"cannot be read: ValueError: "),  # 48 bytes of float16 are 24 values
    (retyped(999), r"cannot be read: KeyError: 999"),
])
def test_an_initializer_of_the_wrong_length_or_type_names_the_file_and_the_initializer(tmp_path, damage, message):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    path = unchecked(tmp_path, node, [damage(numpy_helper.from_array(np.ones((4, 3), np.float32), "w"))], ("N", 4),
                     ("N", 3))
    with pytest.raises(DataError, match=r"model.onnx: initializer 'w' \(graph.initializer\[0\]\) " + message):
        sn.import_onnx(path)


def test_two_ops_importing_one_onnx_op_type_are_refused(monkeypatch):
    """The import forms come from the registrations: an ONNX op type claimed by two ops is an error naming both,
    not whichever registered last."""
    import dataclasses

    from staticnet import onnx_import
    from staticnet.registry import registry
    monkeypatch.setitem(registry, "relu_again", dataclasses.replace(registry["relu"], name="relu_again"))
    with pytest.raises(RuntimeError, match="ONNX op type Relu is imported by both 'relu' and 'relu_again'"):
        onnx_import.import_forms()


SLICING_GRAPHS = {  # name: (nodes from "x" (N, 6) to "y", initializers, opset)
    "slice and concat": ([helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["a"]),
                          helper.make_node("Slice", ["x", "back_start", "back_end", "axes"], ["b"]),
                          helper.make_node("Slice", ["x", "neg_start", "big_end"], ["c"]),
                          helper.make_node("Concat", ["a", "b", "c", "x"], ["y"], axis=1)],
                         [ints("starts", [1]), ints("ends", [6]), ints("axes", [1]), ints("steps", [2]),
                          ints("back_start", [1]), ints("back_end", [4]), ints("neg_start", [0, -2]),
                          ints("big_end", [2 ** 62, 2 ** 62])], 17),
    "reversed slice": ([helper.make_node("Slice", ["x", "start", "end", "axes", "steps"], ["y"])],
                       [ints("start", [-1]), ints("end", [-(2 ** 63)]), ints("axes", [-1]), ints("steps", [-2])], 17),
    "split by sizes": ([helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1),
                        helper.make_node("Concat", ["c", "a", "b"], ["y"], axis=-1)], [ints("sizes", [1, 3, 2])], 13),
    "split into parts": ([helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2),
                          helper.make_node("Sub", ["a", "b"], ["y"])], [], 18),
    "layer norm": ([helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["a"], epsilon=0.01),
                    helper.make_node("LayerNormalization", ["a", "gamma"], ["y"], axis=1)],
                   [weights("gamma", 6), weights("beta", 6)], 17),
}


@pytest.mark.parametrize("name", sorted(SLICING_GRAPHS))
def test_slice_concat_split_and_layer_normalization_import_as_onnxruntime_computes_them(tmp_path, name):
    nodes, inits, opset = SLICING_GRAPHS[name]
    path = save(tmp_path, nodes, [("x", ("N", 6))], [("y", None)], inits, opset=opset)
    rows = RNG.normal(scale=2.0, size=(9, 6)).astype(np.float32)
    (expected,) = onnxruntime(path, {"x": rows})
    got = sn.import_onnx(path).predict(rows)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_global_pool_then_flatten_imports_and_concatenates_channels(tmp_path):
    """NCHW feature maps pooled and flattened, joined on the channel axis as a PyTorch model writes it."""
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["a"]), helper.make_node("GlobalMaxPool", ["x"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["c"], axis=1), helper.make_node("Flatten", ["c"], ["y"])]
    path = save(tmp_path, nodes, [("x", ("N", 3, 5, 4))], [("y", None)], [])
    images = RNG.normal(size=(2, 3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(sn.import_onnx(path).predict(images), onnxruntime(path, {"x": images})[0], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("node,inits,message", [
    (helper.make_node("Slice", ["x", "s", "e", "a"], ["y"]), [ints("s", [1]), ints("e", [3]), ints("a", [0])],
     "it slices the batch axis"),
    (helper.make_node("LayerNormalization", ["x", "g"], ["y"], axis=1),
     [numpy_helper.from_array(np.ones((2, 6, 6), np.float32), "g")], "axis=1: staticnet's layer_norm normalises over "
                                                                     "the last axis only"),
    (helper.make_node("Split", ["x"], ["y", "z"], axis=1), [], "equal parts counted by the outputs are not supported"),
])
def test_unsupported_slicing_and_normalisation_name_the_node(tmp_path, node, inits, message):
    path = one_node(tmp_path, node, inits)
    with pytest.raises(DataError, match=message):
        sn.import_onnx(path)


@pytest.mark.parametrize("op_type, gates", [("LSTM", 4), ("GRU", 3)])
def test_onnx_lstm_and_gru_import_and_match_onnxruntime(tmp_path, op_type, gates):
    """Time-first LSTM and GRU (linear_before_reset=1) as torch.onnx writes them, both biases nonzero, Y and Y_h
    read."""
    hidden, steps, features = 4, 5, 3
    extra = {"linear_before_reset": 1} if op_type == "GRU" else {}
    nodes = [helper.make_node(op_type, ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden, **extra),
             helper.make_node("Relu", ["Y_h"], ["last"])]
    inits = [weights("W", 1, gates * hidden, features), weights("R", 1, gates * hidden, hidden),
             weights("B", 1, 2 * gates * hidden)]
    path = save(tmp_path, nodes, [("x", (steps, "N", features))],
                [("Y", (steps, 1, "N", hidden)), ("last", (1, "N", hidden))], inits)
    sequences = RNG.normal(size=(steps, 6, features)).astype(np.float32)
    imported = sn.import_onnx(path)
    for got, expected in zip(imported.predict(sequences), onnxruntime(path, {"x": sequences})):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change, message", [
    (dict(attrs={"direction": "bidirectional"}), "direction"),
    (dict(attrs={"linear_before_reset": 0}), "linear_before_reset"),
    (dict(outputs=["Y", "Y_h", "Y_c"]), "output 2"),
])
def test_what_staticnets_recurrent_layers_do_not_compute_is_refused_naming_it(tmp_path, change, message):
    op_type = "GRU" if "linear_before_reset" in change.get("attrs", {}) else "LSTM"
    gates, hidden = (3, 4) if op_type == "GRU" else (4, 4)
    directions = 2 if change.get("attrs", {}).get("direction") == "bidirectional" else 1
    outputs = change.get("outputs", ["Y"])
    nodes = [helper.make_node(op_type, ["x", "W", "R"], outputs, hidden_size=hidden, **change.get("attrs", {}))]
    inits = [weights("W", directions, gates * hidden, 3), weights("R", directions, gates * hidden, hidden)]
    declared = {"Y": ("Y", (5, directions, "N", hidden)), "Y_h": ("Y_h", (directions, "N", hidden)),
                "Y_c": ("Y_c", (directions, "N", hidden))}
    path = save(tmp_path, nodes, [("x", (5, "N", 3))], [declared[o] for o in outputs], inits)
    with pytest.raises(DataError, match=message):
        sn.import_onnx(path)


def test_onnx_gather_of_an_initializers_rows_imports_as_an_embedding(tmp_path):
    nodes = [helper.make_node("Gather", ["table", "ids"], ["rows"], axis=0),
             helper.make_node("Gather", ["rows", "one"], ["second"], axis=1)]
    path = save(tmp_path, nodes, [("ids", ("N", 4), TensorProto.INT64)], [("second", ("N", 3))],
                [weights("table", 9, 3), numpy_helper.from_array(np.array(1, np.int64), "one")])
    ids = RNG.integers(0, 9, (5, 4))
    imported = sn.import_onnx(path)
    assert [p.name for p in imported.params] == ["table"]
    np.testing.assert_allclose(imported.predict(ids), onnxruntime(path, {"ids": ids})[0], rtol=1e-6)
