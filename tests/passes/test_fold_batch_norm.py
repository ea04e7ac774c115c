"""fold_batch_norm: a batch norm at evaluation after a dense or conv layer becomes that layer's W and b."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.interpreter import run
from staticnet.passes.fold_batch_norm import fold_batch_norm
from staticnet.passes.strip_dropout import strip_dropout
from staticnet.program import Program


def with_statistics(out, seed=0):
    """Random gamma, beta and moving statistics (not the initial ones, under which folding is near identity)."""
    rng = np.random.default_rng(seed)
    for leaf in sn.Graph(out).params:
        if leaf.name.endswith(("gamma", "moving_var")):
            leaf.value[...] = rng.uniform(0.3, 3.0, leaf.shape)
        elif leaf.name.endswith(("beta", "moving_mean", "/b")):
            leaf.value[...] = rng.normal(0, 2, leaf.shape)
    return out


def evaluation(out):
    return strip_dropout(Program(outputs=(out,)))


def ops(program):
    return {n.op for n in program.nodes()}


LAYERS = {
    "dense": ((None, 5), lambda x: sn.dense(x, 4)),
    "dense, no bias": ((None, 5), lambda x: x @ sn.param("W", (5, 4), dtype=x.dtype)),
    "conv": ((None, 6, 6, 2), lambda x: sn.conv2d(x, 3, 3)),
    "conv, same padding, stride 2": ((None, 6, 6, 2), lambda x: sn.conv2d(x, 3, 3, stride=2, padding="same")),
}


@pytest.mark.parametrize("dtype,rtol", [("float32", 2e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_a_batch_norm_after_a_layer_folds_into_it_and_the_values_agree(layer, dtype, rtol):
    sn.seed(1)
    shape, build = layer
    x = sn.input("x", shape, dtype=dtype)
    out = with_statistics(sn.batch_norm(build(x)))
    before = evaluation(out)
    after = fold_batch_norm(before)
    assert "batch_norm" in ops(before) and "batch_norm" not in ops(after)
    assert sum(1 for n in after.nodes() if n.op == "param") == 0  # every weight is now a folded constant
    data = np.random.default_rng(2).normal(1, 2, (7,) + shape[1:]).astype(dtype)
    (unfolded,), (folded,) = (run(p.outputs, {x.id: data}) for p in (before, after))
    assert folded.dtype == unfolded.dtype
    np.testing.assert_allclose(folded, unfolded, rtol=rtol, atol=rtol * np.abs(unfolded).max())


@pytest.mark.parametrize("build", [
    lambda x: sn.batch_norm(sn.relu(sn.dense(x, 4))),  # an activation between: nothing to fold into
    lambda x: sn.batch_norm(x),  # an input
    lambda x: sn.batch_norm(x @ (sn.param("W", (5, 4)) * 2.0)),  # weights computed, not held
], ids=["after relu", "after an input", "computed weights"])
def test_a_batch_norm_that_follows_no_layer_stays(build):
    x = sn.input("x", (None, 5))
    program = evaluation(with_statistics(build(x)))
    assert fold_batch_norm(program) is program


def test_a_batch_norm_in_training_is_not_folded():
    x = sn.input("x", (None, 5))
    program = Program(outputs=(sn.batch_norm(sn.dense(x, 4)),))
    assert fold_batch_norm(program) is program


def test_inference_and_onnx_export_of_a_trained_model_see_the_folded_layer_and_predict_as_the_model(tmp_path):
    sn.seed(0)
    rng = np.random.default_rng(3)
    x, y = sn.input("x", (None, 6, 6, 1)), sn.input("y", (None, 3))
    h = sn.max_pool2d(sn.relu(sn.batch_norm(sn.conv2d(x, 4, 3), momentum=0.5)), 2)
    p = sn.dense(sn.relu(sn.batch_norm(sn.dense(sn.flatten(h), 8), momentum=0.5)), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.01))
    data = {"x": rng.normal(1, 2, (40, 6, 6, 1)).astype(np.float32),
            "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]}
    net.fit(data, epochs=2, batch_size=8, seed=0, verbose=0)
    expected = net.predict(data["x"])  # compiled, not folded
    path = str(tmp_path / "bn.snet")
    net.save(path)
    from staticnet import inference
    predictor = inference.load(path)
    assert "batch_norm" not in {n.op for n in sn.Graph(predictor.outputs).nodes}
    np.testing.assert_allclose(predictor.predict(data["x"]), expected, rtol=1e-4, atol=1e-6)
    onnx = pytest.importorskip("onnx")
    import onnxruntime
    onnx_path = str(tmp_path / "bn.onnx")
    net.export_onnx(onnx_path)
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": data["x"]})[0], expected, rtol=1e-4, atol=1e-6)
