"""examples/mnist_cnn.py --net 3, the book's 99.60% network: its layers, dropout and the two initialisations
against network3.py's definitions, the model file as `staticnet train` reads it, and the script on a slice of
MNIST: trained, stopped and resumed (equal to an uninterrupted run), and two seeds voting."""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import staticnet as sn
from staticnet.errors import ModelFileError
from staticnet.model_file import load_model_file
from tests.conftest import require_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "mnist_cnn.py")


def load_example():
    spec = importlib.util.spec_from_file_location("mnist_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def params_of(spec):
    return {t.name: t.value for t in sn.Graph(spec["loss"]).params}


def test_net3_has_the_books_layers_and_dropout_on_the_dense_layers_inputs():
    for form, inverted in (("inverted", True), ("book", False)):
        spec = load_example().build(3, dropout=form)
        shapes = {name: value.shape for name, value in params_of(spec).items()}
        assert shapes == {"conv1/W": (25, 20), "conv1/b": (20,), "conv2/W": (500, 40), "conv2/b": (40,),
                          "dense1/W": (640, 1000), "dense1/b": (1000,), "dense2/W": (1000, 1000),
                          "dense2/b": (1000,), "dense3/W": (1000, 10), "dense3/b": (10,)}
        masks = [n for n in sn.Graph(spec["loss"]).nodes if n.op == "dropout_mask"]
        assert sorted(m.shape for m in masks) == [(None, 640), (None, 1000), (None, 1000)]
        assert all(m.attrs["rate"] == 0.5 and m.attrs.get("inverted", True) is inverted for m in masks)
        assert spec["optimizer"].lr == 0.03 and spec["batch_size"] == 10 and spec["epochs"] == 40


def test_net3_initialisations_are_network3s_and_staticnets():
    sn.seed(0)
    book = params_of(load_example().build(3, init="book"))
    # network3.py: weights N(0, 1/sqrt(n_out)), n_out = filters * 5 * 5 / (2 * 2) for a conv-pool layer
    for name, n_out in (("conv1/W", 125), ("conv2/W", 250), ("dense1/W", 1000), ("dense2/W", 1000)):
        assert abs(book[name].mean()) < 0.2 / np.sqrt(n_out)
        assert book[name].std() == pytest.approx(1 / np.sqrt(n_out), rel=0.1), name
    biases = np.concatenate([book[f"{layer}/b"] for layer in ("conv1", "conv2", "dense1", "dense2")])
    assert biases.std() == pytest.approx(1.0, rel=0.05)  # N(0, 1)
    assert not book["dense3/W"].any() and not book["dense3/b"].any()  # the softmax layer starts at zero
    sn.seed(0)
    default = params_of(load_example().build(3))
    for name, n_in in (("conv1/W", 25), ("conv2/W", 500), ("dense1/W", 640), ("dense3/W", 1000)):
        assert default[name].std() == pytest.approx(1 / np.sqrt(n_in), rel=0.1), name
    assert not any(default[f"{layer}/b"].any() for layer in ("conv1", "conv2", "dense1", "dense2", "dense3"))


def test_net3_is_a_model_file_on_the_expanded_training_set():
    spec = load_model_file(EXAMPLE, params={"net": 3, "init": "book", "dropout": "book"})
    assert spec["flatten"] is False and spec["epochs"] == 40 and callable(spec["data"])
    assert spec["data"].__name__ == "expanded_mnist"
    with pytest.raises(ModelFileError, match=r"mnist_cnn.py:\d+: ValueError: init must be one of"):
        load_model_file(EXAMPLE, params={"net": 3, "init": "glorot"})


def run_example(*args):
    env = dict(os.environ, STATICNET_NUM_THREADS="1")
    return subprocess.run([sys.executable, EXAMPLE, "--net", "3", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=1200)


def test_net3_on_a_slice_resumes_exactly_and_votes(tmp_path):
    require_mnist()
    whole, halves, team = (str(tmp_path / name) for name in ("whole", "halves", "team"))
    straight = run_example("--epochs", "2", "--subset", "40", "--dir", whole, "--init", "book", "--dropout", "book")
    assert straight.returncode == 0, straight.stderr
    assert "net 3: init book, dropout book, 200 training images, 2 epochs, seeds [0]" in straight.stdout
    assert re.search(r"net 3, seed 0: best validation accuracy [\d.]+ at epoch [12]/2, test accuracy there",
                     straight.stdout)
    first = run_example("--epochs", "1", "--subset", "40", "--dir", halves, "--init", "book", "--dropout", "book")
    assert first.returncode == 0, first.stderr
    again = run_example("--epochs", "2", "--subset", "40", "--dir", halves, "--init", "book", "--dropout", "book")
    assert again.returncode != 0 and "seed0.checkpoint.snet exists: pass --resume" in again.stderr
    resumed = run_example("--epochs", "2", "--subset", "40", "--dir", halves, "--init", "book", "--dropout", "book",
                          "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1].split("(")[0] == straight.stdout.splitlines()[-1].split("(")[0]
    for name in ("seed0.checkpoint.snet", "seed0.snet"):  # the last epoch's weights, and the best epoch's
        a, b = sn.load(os.path.join(whole, name)), sn.load(os.path.join(halves, name))
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key], err_msg=f"{name}: {key}")

    voted = run_example("--epochs", "1", "--subset", "40", "--dir", team, "--ensemble", "2")
    assert voted.returncode == 0, voted.stderr
    for vote in ("plurality", "mean"):
        found = re.search(rf"ensemble of 2, {vote} vote: test accuracy ([\d.]+) \((\d+) errors in 40\)", voted.stdout)
        assert found, voted.stdout
        assert float(found.group(1)) == pytest.approx(1 - int(found.group(2)) / 40, abs=1e-4)
    members = [os.path.join(team, f"seed{seed}.snet") for seed in (0, 1)]
    test = {k: v[:40] for k, v in sn.data.mnist(flatten=False)[2].items()}
    errors = sn.ensemble(members).evaluate(test)["errors"]
    assert f"plurality vote: test accuracy {1 - errors / 40:.4f} ({errors} errors in 40)" in voted.stdout


def test_without_subset_the_script_keeps_every_row():
    """--subset absent means the whole set: first_rows passes each set through (it once gave None for all)."""
    example = load_example()
    sets = [{"x": np.zeros((3, 2))}, {"x": np.ones((2, 2))}, None]
    kept = example.first_rows(sets, None)
    assert kept[0] is sets[0] and kept[1] is sets[1] and kept[2] is None
    assert [len(s["x"]) for s in example.first_rows(sets[:2], 1)] == [1, 1]


def test_net2_with_batch_norm_normalises_each_convolution_and_drops_l2():
    example = load_example()
    plain, normalised = example.build(2), example.build(2, batch_norm=True)
    norms = [n for n in sn.Graph(normalised["loss"]).nodes if n.op == "batch_norm"]
    assert [n.inputs[0].shape for n in norms] == [(None, 24, 24, 20), (None, 8, 8, 40)]
    assert all(n.inputs[0].inputs[0].op == "matmul" for n in norms)  # the conv's z, before its ReLU
    square_sums = [n for n in sn.Graph(plain["loss"]).nodes if n.op == "square"]
    assert square_sums and not [n for n in sn.Graph(normalised["loss"]).nodes if n.op == "square"]
    with pytest.raises(ValueError, match="batch_norm applies to net 2"):
        example.build(1, batch_norm=True)
    refused = subprocess.run([sys.executable, EXAMPLE, "--net", "1", "--batch-norm"], capture_output=True, text=True,
                             cwd=ROOT, timeout=120)
    assert refused.returncode == 2 and "--batch-norm applies to --net 2" in refused.stderr
