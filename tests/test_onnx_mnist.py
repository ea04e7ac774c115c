"""Round trips of the example networks on MNIST, briefly trained: exported, run in onnxruntime on 1,000 test
images (predictions equal net.predict to 1e-5, the same argmax), imported back (equal again), and the saved
.snet predicted by staticnet.inference."""
import os
import runpy

import numpy as np
import pytest

import staticnet as sn
from staticnet import inference
from tests.conftest import require_mnist

onnx = pytest.importorskip("onnx", reason="the onnx extra is part of .[dev]: pip install -e '.[dev]'")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is part of .[dev]: pip install -e '.[dev]'")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TOLERANCE = 1e-5


def example(name):
    return runpy.run_path(os.path.join(EXAMPLES, name), run_name="example")


# name: (the example's spec, images or flat rows, training images, minimum test accuracy after that training)
MODELS = {
    "mlp 784-30-10": (lambda: example("mnist_mlp.py")["build"](30), True, 3000, 0.6),
    "mlp cross-entropy": (lambda: example("mnist_mlp_xent.py")["build"](), True, 3000, 0.7),
    "cnn 1": (lambda: example("mnist_cnn.py")["build"](1), False, 6000, 0.5),
    "cnn 2": (lambda: example("mnist_cnn.py")["build"](2), False, 2000, 0.5),
}


@pytest.fixture(scope="module")
def mnist():
    require_mnist()
    return {True: sn.data.mnist(), False: sn.data.mnist(flatten=False)}


def assert_same_predictions(got, expected, what):
    assert got.shape == expected.shape, what
    difference = float(np.abs(got - expected).max())
    assert difference <= TOLERANCE, f"{what}: predictions differ by up to {difference:.3g}"
    assert np.array_equal(got.argmax(1), expected.argmax(1)), f"{what}: a different class for some image"
    return difference


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_example_network_survives_export_onnxruntime_and_import(mnist, tmp_path, name):
    build, flat, count, accuracy = MODELS[name]
    train, _, test = mnist[flat]
    sn.seed(0)
    spec = build()
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])
    net.fit({"x": train["x"][:count], "y": train["y"][:count]}, epochs=1, batch_size=10, seed=0, verbose=0)
    images = test["x"][:1000]
    expected = net.predict(images)
    assert (expected.argmax(1) == test["labels"][:1000]).mean() >= accuracy  # trained, so argmax means something

    onnx_file, snet = str(tmp_path / "model.onnx"), str(tmp_path / "model.snet")
    net.export_onnx(onnx_file)
    onnx.checker.check_model(onnx.load(onnx_file), full_check=True)
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    (served,) = session.run(None, {"x": images})
    assert_same_predictions(served, expected, "onnxruntime")
    assert_same_predictions(sn.import_onnx(onnx_file).predict(images), expected, "export -> import")
    net.save(snet)
    assert_same_predictions(inference.load(snet).predict(images), expected, "the .snet with NumPy")


def test_the_recurrent_example_survives_export_onnxruntime_and_import(tmp_path):
    spec = example("rnn_addition.py")  # builds its graph with sn.seed(0) when run
    train, test = spec["additions"](1000, seed=0), spec["additions"](200, seed=1)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=sn.Adam(lr=0.02), metrics=[])
    net.fit(train, epochs=3, batch_size=32, seed=0, verbose=0)
    expected = net.predict(test["x"])
    path = str(tmp_path / "rnn.onnx")
    net.export_onnx(path)
    assert "RNN" in [n.op_type for n in onnx.load(path).graph.node]
    (served,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": test["x"]})
    for got, what in ((served, "onnxruntime"), (sn.import_onnx(path).predict(test["x"]), "export -> import")):
        difference = float(np.abs(got - expected).max())
        assert difference <= TOLERANCE, f"{what}: predictions differ by up to {difference:.3g}"
        assert np.array_equal(got > 0.5, expected > 0.5), what


def test_the_cli_exports_a_saved_model(mnist, tmp_path):
    from staticnet.cli import main
    train, _, test = mnist[True]
    sn.seed(1)
    spec = example("mnist_mlp.py")["build"](30)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])
    net.fit({"x": train["x"][:1000], "y": train["y"][:1000]}, epochs=1, batch_size=10, seed=0, verbose=0)
    snet, onnx_file = str(tmp_path / "mlp.snet"), str(tmp_path / "mlp.onnx")
    net.save(snet)
    assert main(["export", snet, onnx_file, "--opset", "20"]) == 0
    model = onnx.load(onnx_file)
    assert model.opset_import[0].version == 20
    (served,) = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"]).run(None, {"x": test["x"][:1000]})
    assert_same_predictions(served, net.predict(test["x"][:1000]), "staticnet export")


def round_trip(net, inputs, path, what):
    """net's predictions against its ONNX export in onnxruntime and imported back, and its .snet in NumPy."""
    expected = net.predict(inputs)
    net.export_onnx(str(path / f"{what}.onnx"))
    session = ort.InferenceSession(str(path / f"{what}.onnx"), providers=["CPUExecutionProvider"])
    (served,) = session.run(None, {session.get_inputs()[0].name: inputs})
    assert_same_predictions(served, expected, f"{what}: onnxruntime")
    assert_same_predictions(sn.import_onnx(str(path / f"{what}.onnx")).predict(inputs), expected, f"{what}: import")
    net.save(str(path / f"{what}.snet"))
    assert_same_predictions(inference.load(str(path / f"{what}.snet")).predict(inputs), expected, f"{what}: .snet")
    return expected


def test_the_lstm_on_mnist_rows_survives_export_onnxruntime_and_import(mnist, tmp_path):
    spec_of = example("mnist_lstm.py")
    train, _, test = (spec_of["as_rows"](split) for split in mnist[True])
    sn.seed(0)
    spec = spec_of["build"](32)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])
    net.fit({"x": train["x"][:3000], "y": train["y"][:3000]}, epochs=1, batch_size=32, seed=0, verbose=0)
    expected = round_trip(net, test["x"][:1000], tmp_path, "lstm")
    assert (expected.argmax(1) == test["y"][:1000].argmax(1)).mean() >= 0.3  # trained: chance is 0.1


def test_the_character_gru_survives_export_onnxruntime_and_import(tmp_path):
    spec_of = example("char_gru.py")
    text = spec_of["text"](6000, seed=1)
    alphabet = sorted(set(text))
    data = spec_of["windows"](np.array([alphabet.index(c) for c in text], np.int64))
    sn.seed(0)
    spec = spec_of["build"](len(alphabet), 32)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])
    net.fit(data, epochs=1, batch_size=64, seed=0, verbose=0)
    round_trip(net, data["ids"][:500], tmp_path, "gru")
