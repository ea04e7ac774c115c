"""ONNX's BatchNormalization both ways: imported from a PyTorch-style NCHW CNN written with onnx.helper (folded
into the Conv or Gemm before it, kept elsewhere) and exported where no layer takes it in; each checked
against onnxruntime."""
import numpy as np
import pytest

import staticnet as sn
from tests.test_onnx_import import onnxruntime, save, weights

import onnx  # noqa: E402  (part of .[dev])
from onnx import helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(30)


def batch_norm_initializers(prefix, channels):
    """PyTorch's names for BatchNorm2d's weight, bias, running_mean and running_var, values not at their
    initial ones (under which a batch norm is nearly the identity)."""
    values = (RNG.uniform(0.5, 2, channels), RNG.normal(size=channels), RNG.normal(size=channels),
              RNG.uniform(0.3, 3, channels))
    return [numpy_helper.from_array(v.astype(np.float32), f"{prefix}.{what}")
            for v, what in zip(values, ("weight", "bias", "running_mean", "running_var"))]


def batch_norm(prefix, x, out):
    return helper.make_node("BatchNormalization", [x] + [f"{prefix}.{w}" for w in ("weight", "bias", "running_mean",
                                                                                   "running_var")],
                            [out], name=prefix, epsilon=1e-5, momentum=0.9)


def torch_style_cnn(tmp_path):
    """conv1 (bias) -> bn1 -> relu -> max pool -> conv2 (no bias, as before a BatchNorm2d) -> bn2 -> relu ->
    bn3 (after an activation: nothing to fold into) -> flatten -> fc (Gemm, transB) -> bn4 (BatchNorm1d) ->
    softmax: eval mode, NCHW."""
    nodes = [helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             batch_norm("bn1", "c1", "b1"),
             helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "conv2.weight"], ["c2"], name="conv2", kernel_shape=[3, 3]),
             batch_norm("bn2", "c2", "b2"),
             helper.make_node("Relu", ["b2"], ["r2"], name="relu2"),
             batch_norm("bn3", "r2", "b3"),
             helper.make_node("Flatten", ["b3"], ["f"], name="flatten", axis=1),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["z"], name="fc", transB=1),
             batch_norm("bn4", "z", "n"),
             helper.make_node("Softmax", ["n"], ["probabilities"], name="softmax", axis=1)]
    inits = ([weights("conv1.weight", 4, 2, 3, 3), weights("conv1.bias", 4), weights("conv2.weight", 6, 4, 3, 3),
              weights("fc.weight", 5, 6 * 2 * 2, scale=0.2), weights("fc.bias", 5)]
             + batch_norm_initializers("bn1", 4) + batch_norm_initializers("bn2", 6)
             + batch_norm_initializers("bn3", 6) + batch_norm_initializers("bn4", 5))
    return save(tmp_path, nodes, [("input", ("N", 2, 8, 8))], [("probabilities", ("N", 5))], inits)


def test_a_pytorch_style_cnn_with_batch_norm_imports_folded_and_predicts_as_onnxruntime(tmp_path):
    path = torch_style_cnn(tmp_path)
    x = RNG.normal(size=(7, 2, 8, 8)).astype(np.float32)
    (expected,) = onnxruntime(path, {"input": x})
    imported = sn.import_onnx(path)
    kept = [n for n in sn.Graph(imported.outputs).nodes if n.op == "batch_norm"]
    assert len(kept) == 1 and "'bn3'" in kept[0].loc  # bn1, bn2 and bn4 went into conv1, conv2 and fc
    np.testing.assert_allclose(imported.predict(x), expected, rtol=1e-4, atol=1e-6)
    net = imported.compile()
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-4, atol=1e-6)
    assert {t.name for t in net.non_trainable} == {"bn3.running_mean", "bn3.running_var"}


def test_a_batch_norm_in_training_mode_is_refused_naming_the_node(tmp_path):
    node = helper.make_node("BatchNormalization", ["input", "bn.weight", "bn.bias", "bn.running_mean",
                                                   "bn.running_var"], ["y", "mean", "var"], name="bn",
                            training_mode=1)
    path = save(tmp_path, [node], [("input", ("N", 3))], [("y", ("N", 3)), ("mean", (3,)), ("var", (3,))],
                batch_norm_initializers("bn", 3))
    with pytest.raises(sn.DataError, match="node 'bn' \\(BatchNormalization\\): training_mode is 1"):
        sn.import_onnx(path)


@pytest.mark.parametrize("attribute, value", [("epsilon", -1.0), ("epsilon", float("nan")), ("momentum", 1.5)])
def test_a_batch_norm_with_an_impossible_epsilon_or_momentum_is_refused_naming_the_node(tmp_path, attribute, value):
    node = helper.make_node("BatchNormalization", ["input", "bn.weight", "bn.bias", "bn.running_mean",
                                                   "bn.running_var"], ["y"], name="bn", **{attribute: value})
    path = save(tmp_path, [node], [("input", ("N", 3))], [("y", ("N", 3))], batch_norm_initializers("bn", 3))
    with pytest.raises(sn.DataError, match=f"node 'bn' \\(BatchNormalization\\): {attribute}="):
        sn.import_onnx(path)


@pytest.mark.parametrize("images", [False, True], ids=["features", "images"])
def test_a_batch_norm_after_an_activation_exports_as_batch_normalization(tmp_path, images):
    sn.seed(0)
    shape = (None, 5, 5, 3) if images else (None, 6)
    x = sn.input("x", shape)
    h = sn.batch_norm(sn.relu(sn.conv2d(x, 4, 3) if images else sn.dense(x, 4)), name="bn")
    net = sn.compile(sn.sum(h * h), outputs=h, optimizer=sn.SGD(lr=0.1))
    rng = np.random.default_rng(1)
    for name in ("bn/gamma", "bn/moving_var"):
        net.params[name] = rng.uniform(0.5, 2, 4)
    for name in ("bn/beta", "bn/moving_mean"):
        net.params[name] = rng.normal(size=4)
    path = str(tmp_path / "bn.onnx")
    net.export_onnx(path)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert "BatchNormalization" in {n.op_type for n in model.graph.node}
    data = rng.normal(size=(6,) + shape[1:]).astype(np.float32)
    np.testing.assert_allclose(onnxruntime(path, {"x": data})[0], net.predict(data), rtol=1e-5, atol=1e-6)
