"""Frozen parameters (trainable=False): no gradient and no update, saved, loaded, exported and counted apart."""
import numpy as np
import pytest

import staticnet as sn
from staticnet.registry import has_trait


def two_layers(frozen_first: bool, seed=0):
    sn.seed(seed)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 3))
    h = sn.dense(x, 6, activation="tanh", trainable=not frozen_first, name="first")
    p = sn.dense(h, 3, activation="softmax", name="second")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.05))


def data(rows=30):
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(rows, 4)).astype(np.float32),
            "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, rows)]}


def products(tensors):
    return sum(1 for n in sn.Graph(tensors).nodes if has_trait(n, "product"))


def test_a_frozen_layer_keeps_its_values_through_fit_while_the_others_move():
    net = two_layers(frozen_first=True)
    before = {k: v.copy() for k, v in net.params.items()}
    net.fit(data(), epochs=3, batch_size=8, seed=1, verbose=0)
    for name in ("first/W", "first/b"):
        np.testing.assert_array_equal(net.params[name], before[name])
    for name in ("second/W", "second/b"):
        assert not np.array_equal(net.params[name], before[name])
    assert {t.name for t in net.trainable} == {"second/W", "second/b"}
    assert {t.name for t in net.non_trainable} == {"first/W", "first/b"}


def test_autodiff_makes_no_gradient_and_the_optimizer_no_update_for_a_frozen_parameter():
    """Both models' gradient graphs hold their two forward products; the trainable one adds dW2, the delta
    back through W2 and dW1, the frozen one dW2 alone."""
    trainable, frozen = two_layers(frozen_first=False), two_layers(frozen_first=True)
    assert products(trainable.gradients) == 2 + 3
    assert products(frozen.gradients) == 2 + 1
    assert not {leaf.name for leaf, _ in frozen.update_pairs} & {"first/W", "first/b"}
    step = frozen.programs["train"]  # after the fusions: updates written in place are effects reading their leaf
    written = {leaf.name for leaf, _ in step.updates} | {t.name for e in step.effects for t in e.inputs if t.name}
    assert "second/W" in written and not written & {"first/W", "first/b"}


def test_frozen_parameters_save_load_and_export(tmp_path):
    net = two_layers(frozen_first=True)
    net.fit(data(), epochs=1, batch_size=8, seed=1, verbose=0)
    path = str(tmp_path / "frozen.snet")
    net.save(path)
    loaded = sn.load(path)
    assert {t.name for t in loaded.non_trainable} == {"first/W", "first/b"}
    for name in net.params:
        np.testing.assert_array_equal(loaded.params[name], net.params[name])
    before = loaded.params["first/W"].copy()
    loaded.fit(data(), epochs=1, batch_size=8, seed=2, verbose=0)
    np.testing.assert_array_equal(loaded.params["first/W"], before)
    pytest.importorskip("onnxruntime")
    import onnxruntime
    onnx_path = str(tmp_path / "frozen.onnx")
    loaded.export_onnx(onnx_path)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    x = data()["x"]
    (got,) = session.run(None, {"x": x})
    np.testing.assert_allclose(got, loaded.predict(x), rtol=1e-5, atol=1e-6)


def test_summary_counts_trainable_non_trainable_and_frozen_apart():
    sn.seed(0)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 3))
    h = sn.batch_norm(sn.dense(x, 6, trainable=False))
    p = sn.dense(h, 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    text = str(net.summary(print_fn=None))
    assert f"parameters: {6 + 6 + 6 * 3 + 3} trainable, 12 non-trainable, {4 * 6 + 6} frozen; 1 optimizer state" in text


def test_trainable_must_be_a_boolean_and_a_model_needs_something_to_train():
    x = sn.input("x", (None, 4))
    with pytest.raises(sn.GraphError, match="dense.*trainable must be True or False, got 1"):
        sn.dense(x, 3, trainable=1)
    with pytest.raises(sn.GraphError, match="param.*trainable must be True or False"):
        sn.param("w", (2, 2), trainable="no")
    y = sn.input("y", (None, 3))
    p = sn.dense(x, 3, activation="softmax", trainable=False)
    with pytest.raises(sn.GraphError, match="every one it depends on is frozen"):
        sn.compile(sn.cross_entropy(p, y), outputs=p)


@pytest.mark.parametrize("build", [
    lambda x: sn.conv2d(sn.reshape(x, (None, 2, 2, 1)), 2, 2, trainable=False),
    lambda x: sn.rnn(sn.reshape(x, (None, 2, 2)), 3, trainable=False),
    lambda x: sn.dense(x, 3, activation="prelu", trainable=False),
    lambda x: sn.batch_norm(x, trainable=False),
    lambda x: x * sn.param("scale", (4,), trainable=False),
    lambda x: sn.lstm(sn.reshape(x, (None, 2, 2)), 3, trainable=False),
    lambda x: sn.gru(sn.reshape(x, (None, 2, 2)), 3, trainable=False),
    lambda x: sn.embedding(sn.cast(x, "int64"), 5, 3, trainable=False),
    lambda x: sn.layer_norm(x, trainable=False),
], ids=["conv2d", "rnn", "dense with prelu", "batch_norm", "param", "lstm", "gru", "embedding", "layer_norm"])
def test_every_layer_builder_freezes_its_parameters(build):
    x = sn.input("x", (None, 4))
    assert all(not t.trainable for t in sn.Graph(build(x)).params)


def test_a_frozen_lstm_under_a_trained_layer_keeps_its_weights_bit_for_bit():
    """The recurrent layers' parameters get no update either: fit moves the dense layer only."""
    sn.seed(2)
    x, y = sn.input("x", (None, 3, 2)), sn.input("y", (None, 2))
    p = sn.dense(sn.gru(sn.lstm(x, 4, return_sequences=True, trainable=False), 3, trainable=False), 2,
                 activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.05))
    before = {name: value.copy() for name, value in net.params.items()}
    rng = np.random.default_rng(0)
    net.fit({"x": rng.normal(size=(16, 3, 2)), "y": np.eye(2)[rng.integers(0, 2, 16)]}, epochs=2, batch_size=4,
            verbose=0)
    for name, value in net.params.items():
        moved = not np.array_equal(value, before[name])
        assert moved == name.startswith("dense"), name
