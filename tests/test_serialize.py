import io
import json
import os
import re
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import staticnet as sn
from tests.conftest import hostile_strings


def small_model():
    sn.seed(0)
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 4, activation="relu"), 2, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y) + sn.l2(0.1, 100), outputs=p, optimizer=sn.Adam(lr=0.01))


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(20, 3)).astype(np.float32), "y": np.eye(2, dtype=np.float32)[rng.integers(0, 2, 20)]}
    net = small_model()
    net.fit(data, epochs=2, batch_size=4, seed=1, verbose=0)
    path = str(tmp_path / "m.snet")
    net.save(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert "staticnet.json" in names and all(n.endswith(".npy") for n in names if n != "staticnet.json")
    loaded = sn.load(path)
    np.testing.assert_array_equal(loaded.predict(data["x"]), net.predict(data["x"]))
    assert loaded.evaluate(data) == net.evaluate(data)
    assert [t.name for t in loaded.state] == [t.name for t in net.state]
    for a, b in zip(loaded.state, net.state):
        np.testing.assert_array_equal(a.value, b.value)
    assert len(loaded.history) == 2 and loaded.epochs_done == 2


def test_corrupted_truncated_and_foreign_files_are_named(tmp_path):
    net = small_model()
    path = tmp_path / "m.snet"
    net.save(str(path))
    payload = path.read_bytes()
    truncated = tmp_path / "truncated.snet"
    truncated.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(sn.DataError, match="truncated.snet: not a staticnet model file, or truncated"):
        sn.load(str(truncated))
    foreign = tmp_path / "foreign.snet"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(sn.DataError, match="foreign.snet: not a staticnet model file \\(no staticnet.json"):
        sn.load(str(foreign))
    flipped = bytearray(payload)
    at = payload.index(b"arrays/0.npy") + 40  # inside the first member's compressed data
    flipped[at] ^= 0xFF
    corrupted = tmp_path / "corrupted.snet"
    corrupted.write_bytes(bytes(flipped))
    with pytest.raises(sn.DataError, match="corrupted.snet: (corrupted|not a staticnet model file)"):
        sn.load(str(corrupted))
    with pytest.raises(sn.DataError, match="no such model file"):
        sn.load(str(tmp_path / "missing.snet"))


def test_save_is_atomic_and_leaves_no_temporary(tmp_path, monkeypatch):
    net = small_model()
    path = tmp_path / "m.snet"
    net.save(str(path))
    good = path.read_bytes()

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        net.save(str(path))
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["m.snet"]


@pytest.mark.parametrize("target,message", [
    ("", "path='': is empty; name a file"),
    (".", "path='.': is a directory; name a file in it"),
    ("{tmp}", "path='{tmp}': is a directory; name a file in it"),
    ("{tmp}/no/m.snet", "path='{tmp}/no/m.snet': the directory {tmp}/no does not exist"),
    ("/sys/m.snet", "path='/sys/m.snet': cannot write in the directory /sys"),
])
def test_save_to_a_path_that_cannot_be_a_file_is_refused_naming_it_and_writes_nothing(tmp_path, monkeypatch,
                                                                                        target, message):
    net = small_model()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # save('') used to write its temporary in the parent directory, tmp_path
    target, message = target.format(tmp=tmp_path), message.format(tmp=tmp_path)
    with pytest.raises(ValueError, match=f"^save at .*test_serialize.py:[0-9]+: {re.escape(message)}"):
        net.save(target)
    assert sorted(os.listdir(tmp_path)) == ["work"] and os.listdir(work) == []


def checkpoint_of(net, tmp_path):
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(20, 3)).astype(np.float32), "y": np.eye(2, dtype=np.float32)[rng.integers(0, 2, 20)]}
    path = str(tmp_path / "ckpt.snet")
    net.fit(data, epochs=1, batch_size=4, seed=1, verbose=0, checkpoint=path)
    return data, path


def relu_model(optimizer):
    sn.seed(0)
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 4, activation="relu"), 2, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=optimizer)


@pytest.mark.parametrize("saved,resuming,message", [
    (lambda: sn.SGD(lr=0.1), lambda: sn.Adam(lr=0.01),
     r"the checkpoint was trained with SGD\(lr=0.1, momentum=0.0, nesterov=False\), this model uses "
     r"Adam\(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08\); resume with the optimizer that wrote it"),
    (lambda: sn.SGD(lr=0.1, momentum=0.9), lambda: sn.SGD(lr=0.1),
     r"the checkpoint was trained with SGD\(lr=0.1, momentum=0.9, nesterov=False\), this model uses "
     r"SGD\(lr=0.1, momentum=0.0, nesterov=False\)"),
], ids=["sgd into adam", "momentum into plain sgd"])
def test_a_checkpoint_of_another_optimizer_is_refused_naming_both(tmp_path, saved, resuming, message):
    data, path = checkpoint_of(relu_model(saved()), tmp_path)
    net = relu_model(resuming())
    before = {name: w.copy() for name, w in net.params.items()}
    with pytest.raises(sn.DataError, match=f"^{re.escape(path)}: {message}"):
        net.fit(data, epochs=2, verbose=0, resume=path)
    for name, w in net.params.items():
        np.testing.assert_array_equal(w, before[name])


def test_a_checkpoint_of_another_model_is_refused_naming_both_graphs(tmp_path):
    data, path = checkpoint_of(relu_model(sn.SGD(lr=0.1)), tmp_path)
    sn.seed(0)
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 4, activation="tanh"), 2, activation="softmax")  # the same parameters, another activation
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    with pytest.raises(sn.DataError, match=rf"^{re.escape(path)}: the checkpoint was saved from another model: its graph "
                                           r"has \d+ nodes, this model's \d+; node \d+ is relu \(None, 4\) float32 in the "
                                           r"checkpoint, tanh \(None, 4\) float32 here$"):
        net.fit(data, epochs=2, verbose=0, resume=path)


def test_a_checkpoint_differing_only_in_an_attribute_is_refused_naming_it_and_both_values(tmp_path):
    def build(rate):
        sn.seed(0)
        x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
        p = sn.dense(sn.dropout(sn.dense(x, 4, activation="relu"), rate), 2, activation="softmax")
        return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    data, path = checkpoint_of(build(rate=0.25), tmp_path)
    with pytest.raises(sn.DataError, match=r"node \d+ is dropout_mask \(None, 4\) float32 in the checkpoint, dropout_mask "
                                           r"\(None, 4\) float32 here: its attribute rate is 0.25 in the checkpoint, 0.5 "
                                           r"here$"):
        build(rate=0.5).fit(data, epochs=2, verbose=0, resume=path)


# ------------------------------------------------------------------ resuming continues every kind of model exactly

def _features(*shape):
    return np.random.default_rng(1).normal(size=(12,) + shape).astype(np.float32)


def _one_hot(classes):
    return np.eye(classes, dtype=np.float32)[np.random.default_rng(2).integers(0, classes, 12)]


def _dense_cost(cost, classes=2, activation=None, targets=None, penalty=None):
    """x -> dense(4, tanh) -> dense(classes, activation), trained on `cost`(output, y) (+ penalty)."""
    def build():
        x, y = sn.input("x", (None, 3)), sn.input("y", (None, classes))
        p = sn.dense(sn.dense(x, 4, activation="tanh"), classes, activation=activation)
        loss = cost(p, y)
        return (loss + penalty if penalty is not None else loss), p, {"x": _features(3), "y": targets(classes)}
    return build


def _images(layers):
    """6x6 one-channel images through `layers`, then a softmax over 2 classes."""
    def build():
        x, y = sn.input("x", (None, 6, 6, 1)), sn.input("y", (None, 2))
        p = sn.dense(sn.flatten(layers(x)), 2, activation="softmax")
        return sn.cross_entropy(p, y), p, {"x": _features(6, 6, 1), "y": _one_hot(2)}
    return build


def _integer_labels():
    x, y = sn.input("x", (None, 3)), sn.input("y", (None,), dtype="int32")
    z = sn.dense(sn.dense(x, 4, activation="tanh"), 3)
    labels = np.random.default_rng(2).integers(0, 3, 12).astype(np.int32)
    return sn.softmax_cross_entropy(z, y), sn.softmax(z), {"x": _features(3), "y": labels}


def _recurrent():
    x, y = sn.input("x", (None, 4, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.rnn(x, 5), 2, activation="softmax")
    return sn.cross_entropy(p, y), p, {"x": _features(4, 3), "y": _one_hot(2)}


def _dropout():
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.dropout(sn.dense(x, 8, activation="relu"), 0.3), 2, activation="softmax")
    return sn.cross_entropy(p, y), p, {"x": _features(3), "y": _one_hot(2)}


def _batch_normalised():
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.relu(sn.batch_norm(sn.dense(x, 8), momentum=0.9)), 2, activation="softmax")
    return sn.cross_entropy(p, y), p, {"x": _features(3), "y": _one_hot(2)}


def _signs(classes):
    return np.where(np.random.default_rng(2).integers(0, 2, (12, classes)) > 0, 1.0, -1.0).astype(np.float32)


def _regression(classes):
    return np.random.default_rng(3).normal(size=(12, classes)).astype(np.float32)


RESUMABLE = {  # every cost and kind of layer: a model built from it, its outputs and its data
    "mse": _dense_cost(sn.mse, targets=_regression),
    "cross_entropy of a sigmoid": _dense_cost(sn.cross_entropy, activation="sigmoid", targets=_one_hot),
    "cross_entropy of a softmax": _dense_cost(sn.cross_entropy, classes=3, activation="softmax", targets=_one_hot),
    "softmax_cross_entropy, one-hot": _dense_cost(sn.softmax_cross_entropy, classes=3, targets=_one_hot),
    "softmax_cross_entropy, integer labels": _integer_labels,
    "perceptron_loss": _dense_cost(sn.perceptron_loss, classes=1, targets=_signs),
    "mse + l2": _dense_cost(sn.mse, targets=_regression, penalty=sn.l2(0.5, 12)),
    "cross_entropy + l1": _dense_cost(sn.cross_entropy, activation="sigmoid", targets=_one_hot,
                                      penalty=sn.l1(0.5, 12)),
    "conv2d": _images(lambda x: sn.conv2d(x, 2, 3, activation="relu")),
    "max_pool2d": _images(lambda x: sn.max_pool2d(sn.conv2d(x, 2, 3, padding="same", activation="relu"))),
    "avg_pool2d": _images(lambda x: sn.avg_pool2d(sn.conv2d(x, 2, 3, padding="same", activation="relu"))),
    "rnn": _recurrent,
    "dropout": _dropout,
    "batch_norm": _batch_normalised,
    "conv2d + batch_norm": _images(lambda x: sn.relu(sn.batch_norm(sn.conv2d(x, 2, 3), momentum=0.5))),
}


def _compiled(build, seed):
    sn.seed(seed)
    loss, outputs, data = build()
    return sn.compile(loss, outputs=outputs, optimizer=sn.Adam(lr=0.05)), data


@pytest.mark.parametrize("build", RESUMABLE.values(), ids=RESUMABLE.keys())
def test_resume_from_a_checkpoint_equals_the_uninterrupted_run_bit_for_bit(tmp_path, build):
    settings = dict(batch_size=5, verbose=0)
    whole, data = _compiled(build, seed=0)
    whole.fit(data, epochs=3, seed=7, **settings)
    stopped, _ = _compiled(build, seed=0)
    path = str(tmp_path / "ckpt.snet")
    stopped.fit(data, epochs=2, seed=7, checkpoint=path, **settings)
    resumed, _ = _compiled(build, seed=1)  # other initial weights: the checkpoint must replace them all
    resumed.fit(data, epochs=3, resume=path, **settings)
    assert [e["epoch"] for e in resumed.history.epochs] == [1, 2, 3]
    assert [e["loss"] for e in resumed.history.epochs] == [e["loss"] for e in whole.history.epochs]
    for a, b in zip(whole.parameters + whole.state, resumed.parameters + resumed.state):
        assert a.name == b.name
        np.testing.assert_array_equal(b.value, a.value, err_msg=a.name)


# ------------------------------------------------------------------ every failure to read names the file

def saved_model(path, epochs=1):
    """small_model trained for `epochs` on random data and saved to `path`; returns its bytes."""
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(8, 3)).astype(np.float32), "y": np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]}
    net = small_model()
    net.fit(data, epochs=epochs, batch_size=4, seed=1, verbose=0)
    net.save(str(path))
    return path.read_bytes()


def members(payload: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        return {name: z.read(name) for name in z.namelist()}


def zipped(contents: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in contents.items():
            z.writestr(name, data)
    return buffer.getvalue()


def with_manifest(payload: bytes, change) -> bytes:
    """The model file with `change(manifest)` applied to its staticnet.json."""
    contents = members(payload)
    manifest = json.loads(contents["staticnet.json"])
    change(manifest)
    contents["staticnet.json"] = json.dumps(manifest)
    return zipped(contents)


def set_field(path):
    """A change that sets the manifest field at `path` ("nodes.1.shape") to a value."""
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]

    def change(value):
        def apply(manifest):
            for key in parents:
                manifest = manifest[key]
            manifest[last] = value
        return apply
    return change


class Payload(bytes):
    """A model file's bytes that print briefly in a failing example."""

    def __repr__(self):
        return f"<model file of {len(self)} bytes>"


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    return Payload(saved_model(tmp_path_factory.mktemp("good") / "m.snet"))


def load_fails(tmp_path, payload, name="bad.snet"):
    """The DataError message of loading `payload`, which must start with the file's path."""
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(sn.DataError) as caught:
        sn.load(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message[len(str(path)) + 2:]


@pytest.mark.parametrize("field,value,message", [
    ("version", "1", "field version must be an integer (this staticnet reads version 1), got a string ('1')"),
    ("version", 2, "model file version 2 is not supported by this staticnet (it reads version 1)"),
    ("nodes", {}, "field nodes must be a non-empty list, got an object ({})"),
    ("nodes.3", [], "field nodes[3] must be an object, got a list ([])"),
    ("nodes.1.shape", "3,4", "field nodes[1].shape must be a list, got a string ('3,4')"),
    ("nodes.1.shape", [None, 4], "field nodes[1].shape[0] must be a size (an integer >= 0), got null (None)"),
    ("nodes.2.inputs", [0, 9], "field nodes[2].inputs[1] must be the index of an earlier node (below 2), got an integer (9)"),
    ("nodes.2.op", "frobnicate", "field nodes[2].op names no op of this staticnet: 'frobnicate'"),
    ("nodes.0.dtype", "float16", "field nodes[0].dtype must be float32, float64, int32 or int64, got 'float16'"),
    ("nodes.0.name", 7, "field nodes[0].name must be a string, got an integer (7)"),
    ("nodes.1.array", None, "field nodes[1].array must be an array index (>= 0), got null (None)"),
    ("nodes.13.attrs", [], "field nodes[13].attrs must be an object, got a list ([])"),
    ("nodes.13.attrs.axes", {"a": 1}, "field nodes[13].attrs.axes must be a number, string, boolean, null or a list"),
    ("nodes.13.attrs.axes", "all", "corrupted graph (nodes[13], sum: "),
    ("nodes.13.attrs.axes", "0,1", "field nodes[13].attrs.axes holds the string '0,1'; an attribute's strings are "
                                   "words (at most 64 of A-Z, a-z, 0-9 and _)"),
    ("nodes.2.shape", [None, 5], "corrupted graph (nodes[2], matmul: the file says float32 (None, 5), its inputs give "
                                 "float32 (None, 4))"),
    ("loss", "19", "field loss must be a node index below 21, got a string ('19')"),
    ("outputs", 20, "field outputs must be a non-empty list, got an integer (20)"),
    ("single_output", "yes", "field single_output must be true or false, got a string ('yes')"),
    ("optimizer", "adam", "field optimizer must be an object, got a string ('adam')"),
    ("optimizer.name", "Adagrad2", "field optimizer.name must be one of adagrad, adam, adamw, rmsprop, sgd, got 'Adagrad2'"),
    ("optimizer.lr", "fast", "field optimizer.lr must be a number, got a string ('fast')"),
    ("optimizer.momentum", 0.9, "field optimizer.momentum is not a hyperparameter of Adam (it has lr, beta1, beta2, eps, clipvalue, clipnorm, global_clipnorm)"),
    ("optimizer.schedule", None, "field optimizer.schedule must be an object, got null (None)"),
    ("optimizer.schedule.kind", "cosine", "field optimizer.schedule.kind must be one of constant, step_decay, "
                                          "exponential_decay, warmup, cosine_decay, one_cycle, got a string "
                                          "('cosine')"),
    ("optimizer.schedule", {"kind": "warmup", "steps": 3, "then": {"kind": "cosine_decay", "total_steps": "10"}},
     "field optimizer.schedule.then.total_steps must be a number, got a string ('10')"),
    ("optimizer.schedule", {"kind": "warmup", "steps": 3, "then": [1]},
     "field optimizer.schedule.then must be a number or a schedule, got a list ([1])"),
    ("optimizer.schedule", {"kind": "warmup", "steps": 0},
     "field optimizer does not make a Adam with a warmup schedule (warmup at "),
    ("metrics", "accuracy", "field metrics must be a list, got a string ('accuracy')"),
    ("state", [], "field state must be an object, got a list ([])"),
    ("state.optimizer/lr", "5", "field state['optimizer/lr'] must be an array index (an integer >= 0), got a string ('5')"),
    ("state.optimizer/lr", 99, "corrupted (member arrays/99.npy, the array of optimizer state 'optimizer/lr', is missing)"),
    ("history", {}, "field history must be a list, got an object ({})"),
    ("history.0", 3, "field history[0] must be an object, got an integer (3)"),
    ("history.0.loss", [0.5], "field history[0].loss must be a number, a string or null, got a list ([0.5])"),
    ("epochs_done", -1, "field epochs_done must be an integer >= 0, got an integer (-1)"),
    ("seed", "abc", "field seed must be an integer >= 0 or null, got a string ('abc')"),
])
def test_a_wrong_field_is_a_data_error_naming_it(tmp_path, good_file, field, value, message):
    assert load_fails(tmp_path, with_manifest(good_file, set_field(field)(value))).startswith(message)


def test_a_manifest_that_is_not_an_object_or_not_json(tmp_path, good_file):
    contents = members(good_file)
    assert load_fails(tmp_path, zipped({**contents, "staticnet.json": "[1, 2]"})) == (
        "not a staticnet model file (staticnet.json holds a list ([1, 2]), not an object)")
    assert load_fails(tmp_path, zipped({**contents, "staticnet.json": "{\"format\": "})).startswith(
        "corrupted (staticnet.json is not valid JSON: ")


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize("replacement,message", [
    (npy(np.zeros((3, 5), np.float32)), "holds float32 values of shape (3, 5), not float32 values of shape (3, 4)"),
    (npy(np.zeros((3000, 4), np.float32)), "declares 48,128 bytes; a float32 array of shape (3, 4) takes 48 plus a "
                                           "short header"),
    (npy(np.zeros((3, 4), np.float32).T.copy().T), "holds float32 values of shape (3, 4) in Fortran order"),
    (npy(np.zeros((3, 4), ">f4")), "holds >f4 values of shape (3, 4), not float32 values"),
    (npy(np.zeros((3, 2), np.float64)), "holds float64 values of shape (3, 2), not float32 values of shape (3, 4)"),
    (npy(np.array([None] * 12, dtype=object).reshape(3, 4)), "holds object values of shape (3, 4)"),
    (b"\x93NUMPY\x03\x00" + bytes(100), "has .npy version (3, 0)"),
    (bytes(120), "has no valid .npy header"),
])
def test_a_replaced_array_member_is_refused_from_its_header(tmp_path, good_file, replacement, message):
    contents = members(good_file)
    contents["arrays/0.npy"] = replacement
    assert load_fails(tmp_path, zipped(contents)).startswith("corrupted (member arrays/0.npy, the array of param "
                                                            "'dense1/W', ")
    assert message in load_fails(tmp_path, zipped(contents))


def test_a_huge_member_is_refused_without_being_decompressed(tmp_path, good_file, monkeypatch):
    contents = members(good_file)
    contents["arrays/0.npy"] = npy(np.zeros((3, 4), np.float32)) + bytes(50_000_000)  # compresses to ~50 KB
    payload = zipped(contents)
    assert len(payload) < 200_000
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: opened.append(
        getattr(name, "filename", name)) or real_open(self, name, *a, **k))
    assert "declares 50,000,176 bytes; a float32 array of shape (3, 4) takes 48" in load_fails(tmp_path, payload)
    assert "arrays/0.npy" not in opened and "staticnet.json" in opened


def test_a_flipped_byte_in_a_member_names_the_file_and_member(tmp_path, good_file):
    info = zipfile.ZipFile(io.BytesIO(good_file)).getinfo("arrays/0.npy")
    data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    weights = np.load(io.BytesIO(members(good_file)["arrays/0.npy"]))
    path = tmp_path / "flipped.snet"
    refused = 0
    for offset in range(info.compress_size):  # every byte of the member's compressed data
        flipped = bytearray(good_file)
        flipped[data_start + offset] ^= 0x5A
        path.write_bytes(bytes(flipped))
        try:
            loaded = sn.load(str(path))
        except sn.DataError as e:
            assert str(e).startswith(f"{path}: corrupted (member arrays/0.npy, the array of param 'dense1/W': "), str(e)
            refused += 1
        else:  # only the unused bits after the deflate stream's end can change without changing the data
            np.testing.assert_array_equal(loaded.params["dense1/W"], weights)
    assert refused >= info.compress_size - 1


# ------------------------------------------------------------------ fuzzing: corruption is a DataError or harmless

def assert_loads_or_names_the_file(tmp_path, payload):
    path = tmp_path / "fuzzed.snet"
    path.write_bytes(payload)
    try:
        sn.load(str(path))
    except sn.DataError as e:
        assert str(e).startswith(f"{path}: ") and len(str(e)) > len(str(path)) + 12, str(e)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_the_uncorrupted_file_loads(tmp_path, good_file):
    path = tmp_path / "m.snet"
    path.write_bytes(good_file)
    assert sn.load(str(path)).epochs_done == 1


@given(position=st.integers(0, 2**31), mask=st.integers(1, 255))
def test_fuzz_flipped_bytes(good_file, fuzz_dir, position, mask):
    flipped = bytearray(good_file)
    flipped[position % len(flipped)] ^= mask
    assert_loads_or_names_the_file(fuzz_dir, bytes(flipped))


@given(length=st.integers(0, 2**31))
def test_fuzz_truncations(good_file, fuzz_dir, length):
    assert_loads_or_names_the_file(fuzz_dir, good_file[:length % len(good_file)])


REPLACEMENTS = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", npy(np.zeros(2**20, np.uint8)), npy(np.zeros((3, 4), np.float64)), npy(np.float32(1.5)),
                     npy(np.array(["a", "b"])), npy(np.array([{}], dtype=object)), b"[1, 2]", b"{}", b"null"]),
    st.builds(lambda shape: npy(np.zeros(shape, np.float32)), st.lists(st.integers(0, 5), max_size=3)),
)


@given(which=st.integers(0, 2**31), replacement=REPLACEMENTS, drop=st.booleans())
def test_fuzz_replaced_or_missing_members(good_file, fuzz_dir, which, replacement, drop):
    contents = members(good_file)
    name = sorted(contents)[which % len(contents)]
    if drop:
        del contents[name]
    else:
        contents[name] = replacement
    assert_loads_or_names_the_file(fuzz_dir, zipped(contents))


def field_paths(value, prefix=()):
    """The path of every value inside a JSON document (containers included)."""
    paths = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        paths.append(prefix + (key,))
        paths += field_paths(inner, prefix + (key,))
    return paths


WRONG_VALUES = st.sampled_from([None, True, False, 0, 1, -1, 7, 2.5, float("nan"), float("inf"), 10**30, "", "1",
                                "x", [], [1], [None], ["a"], {}, {"a": 1}])


@given(which=st.integers(0, 2**31), value=WRONG_VALUES, delete=st.booleans())
def test_fuzz_json_fields_of_the_wrong_type(good_file, fuzz_dir, which, value, delete):
    manifest = json.loads(members(good_file)["staticnet.json"])
    paths = field_paths(manifest)
    *parents, last = paths[which % len(paths)]

    def change(m):
        for key in parents:
            m = m[key]
        if delete:
            del m[last]
        else:
            m[last] = value
    assert_loads_or_names_the_file(fuzz_dir, with_manifest(good_file, change))


# ------------------------------------------------------------------ hostile names and locations run nothing

@pytest.fixture(scope="module")
def clean_predictions(good_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "m.snet"
    path.write_bytes(good_file)
    return sn.load(str(path)).predict(ROWS)


ROWS = np.random.default_rng(5).normal(size=(6, 3)).astype(np.float32)


def load_hostile(tmp_path, good_file, change):
    """(the loaded model's predictions, None) or (None, the DataError's message after the path)."""
    path = tmp_path / "hostile.snet"
    path.write_bytes(with_manifest(good_file, change))
    try:
        return sn.load(str(path)).predict(ROWS), None
    except sn.DataError as e:
        assert str(e).startswith(f"{path}: "), str(e)
        return None, str(e)[len(str(path)) + 2:]


def a_location(text) -> bool:
    """Whether staticnet's rule takes `text` as a location: one line of printable characters, at most 2000."""
    return text.isprintable() and len(text) <= 2000


@pytest.mark.parametrize("case", range(len(hostile_strings("m"))))
def test_hostile_locations_run_nothing_and_load_or_are_refused_naming_the_field(tmp_path, good_file,
                                                                                clean_predictions, case):
    marker = tmp_path / "ran"
    text = hostile_strings(marker)[case]

    def every_loc(manifest):
        for node in manifest["nodes"]:
            node["loc"] = text
    predictions, message = load_hostile(tmp_path, good_file, every_loc)
    assert not marker.exists()
    if a_location(text):
        np.testing.assert_array_equal(predictions, clean_predictions)
    else:
        assert message.startswith("field nodes[0].loc "), message


@pytest.mark.parametrize("case", range(len(hostile_strings("m"))))
def test_hostile_names_are_refused_naming_the_field(tmp_path, good_file, case):
    marker = tmp_path / "ran"
    text = hostile_strings(marker)[case]
    manifest = json.loads(members(good_file)["staticnet.json"])
    named = [i for i, node in enumerate(manifest["nodes"]) if node["name"] is not None]
    assert len(named) == 6  # x, y and the two dense layers' W and b
    for i in named:
        _, message = load_hostile(tmp_path, good_file, set_field(f"nodes.{i}.name")(text))
        assert message.startswith(f"field nodes[{i}].name "), message
        assert "a name is 1 to 1000 characters among A-Z, a-z, 0-9 and _ . : / - + @ ; [ ]" in message
    for i in range(len(manifest["nodes"])):  # the layer a node belongs to (explain and summary name code by it)
        _, message = load_hostile(tmp_path, good_file, set_field(f"nodes.{i}.layer")(text))
        assert message.startswith(f"field nodes[{i}].layer "), message
    key = next(iter(manifest["state"]))

    def rename_state(m):
        m["state"][text] = m["state"].pop(key)
    _, message = load_hostile(tmp_path, good_file, rename_state)
    assert message.startswith("field state: the key "), message
    assert not marker.exists()


def test_the_payload_of_issue_28_in_any_node_location_is_refused(tmp_path, good_file):
    marker = tmp_path / "ran"
    payload = hostile_strings(marker)[0]
    assert payload.startswith("model.py:1\nimport os; os.system(")
    for i in range(len(json.loads(members(good_file)["staticnet.json"])["nodes"])):
        _, message = load_hostile(tmp_path, good_file, set_field(f"nodes.{i}.loc")(payload))
        assert message.startswith(f'field nodes[{i}].loc "model.py:1\\nimport os; '), message
        assert message.endswith("holds '\\n'; a location is one line of printable characters"), message
    assert not marker.exists()


@pytest.mark.parametrize("text", ["tanh)\nimport os\n#", "float32; x", "a" * 65])
def test_an_attribute_string_that_is_not_a_word_is_refused(tmp_path, good_file, text):
    manifest = json.loads(members(good_file)["staticnet.json"])
    i = next(i for i, node in enumerate(manifest["nodes"]) if node["attrs"])
    key = next(iter(manifest["nodes"][i]["attrs"]))
    _, message = load_hostile(tmp_path, good_file, set_field(f"nodes.{i}.attrs.{key}")(text))
    assert message.startswith(f"field nodes[{i}].attrs.{key} holds the string "), message


def test_json_nested_100000_deep_is_a_data_error_naming_the_file(tmp_path, good_file):
    deep = "[" * 100_000 + "]" * 100_000
    contents = members(good_file)
    for manifest in (deep, '{"format": "staticnet-model", "version": 1, "nodes": ' + deep + "}"):
        contents["staticnet.json"] = manifest
        message = load_fails(tmp_path, zipped(contents))
        assert message.startswith("corrupted (staticnet.json nests lists and objects more than 32 deep"), message


# ------------------------------------------------------------------ crash safety

def test_save_fsyncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    net = small_model()
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(
        "fsync directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda *a: events.append("rename") or real_replace(*a))
    net.save(str(tmp_path / "m.snet"))
    assert events == ["fsync file", "rename", "fsync directory"]


def test_a_new_file_gets_the_umask_mode_and_an_existing_one_keeps_its_mode(tmp_path):
    net = small_model()
    path = tmp_path / "m.snet"
    previous = os.umask(0o027)
    try:
        net.save(str(path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        os.chmod(path, 0o604)
        net.save(str(path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o604
    finally:
        os.umask(previous)


HANGING_WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
from tests.test_serialize import small_model
net = small_model()
def hang(fd):
    print("writing", flush=True)
    time.sleep(600)
os.fsync = hang  # stop after the temporary is written, before it is renamed
net.save(sys.argv[1])
"""


def start_hanging_writers(target, count):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    writers = [subprocess.Popen([sys.executable, "-c", HANGING_WRITER.format(root=root), str(target)],
                                stdout=subprocess.PIPE, text=True) for _ in range(count)]
    for writer in writers:
        assert writer.stdout.readline() == "writing\n"
    return writers


def temporaries(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith(".tmp-"))


def test_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "m.snet"
    killed = start_hanging_writers(target, 2)
    for writer in killed:
        writer.kill()  # SIGKILL: no chance to clean up
        writer.wait()
    left = temporaries(tmp_path)
    assert len(left) == 2 and all(name.endswith("-m.snet") for name in left)
    (tmp_path / ".tmp-notes-m.snet").write_text("a user's file, not ours")
    (tmp_path / "other.snet").write_bytes(b"")
    running = start_hanging_writers(target, 1)  # a concurrent save of the same file, still going
    other = start_hanging_writers(tmp_path / "other.snet", 1)  # and one of another file
    try:
        concurrent = set(temporaries(tmp_path)) - set(left) - {".tmp-notes-m.snet"}
        assert len(concurrent) == 2
        small_model().save(str(target))
        assert set(temporaries(tmp_path)) == concurrent | {".tmp-notes-m.snet"}
        assert sn.load(str(target)).epochs_done == 0
    finally:
        for writer in running + other:
            writer.kill()
            writer.wait()


def test_a_temporary_older_than_a_day_is_removed_even_if_its_pid_is_alive(tmp_path):
    target = tmp_path / "m.snet"
    from staticnet.durable import _HOST
    stale = tmp_path / f".tmp-{_HOST}-{os.getppid()}-0123abcd-m.snet"
    fresh = tmp_path / f".tmp-{_HOST}-{os.getppid()}-4567abcd-m.snet"
    for path in (stale, fresh):
        path.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    small_model().save(str(target))
    assert temporaries(tmp_path) == [fresh.name]


def test_non_finite_weights_never_replace_a_finite_model_file(tmp_path):
    net = small_model()
    path = tmp_path / "m.snet"
    net.save(str(path))
    good = path.read_bytes()
    net.params["dense2/b"] = [np.nan, 0.0]
    with pytest.raises(sn.DataError, match=f"^{path}: not saved: parameter 'dense2/b' holds NaN or Inf, and this "
                                           "file holds finite weights"):
        net.save(str(path))
    assert path.read_bytes() == good and temporaries(tmp_path) == []
    net.save(str(tmp_path / "diverged.snet"))  # a new file, or one that holds non-finite weights already, is written
    net.params["dense1/W"] = np.full((3, 4), np.inf)
    net.save(str(tmp_path / "diverged.snet"))
    assert np.isinf(sn.load(str(tmp_path / "diverged.snet")).params["dense1/W"]).all()
    (tmp_path / "broken.snet").write_bytes(b"not a model")
    net.save(str(tmp_path / "broken.snet"))


# ------------------------------------------------------------------ layer names

def test_layer_names_survive_save_and_load(tmp_path, good_file):
    path = tmp_path / "m.snet"
    path.write_bytes(good_file)
    loaded = sn.load(str(path))
    assert {t.name: t.layer for t in loaded.trainable} == {
        "dense1/W": "dense1", "dense1/b": "dense1", "dense2/W": "dense2", "dense2/b": "dense2"}
    assert {n.op: n.layer for n in sn.Graph(loaded.as_built[1]).nodes if n.op in ("relu", "softmax")} == {
        "relu": "dense1", "softmax": "dense2"}


def test_a_file_written_before_nodes_had_layers_loads_without_them(tmp_path, good_file):
    def drop_layers(manifest):
        for entry in manifest["nodes"]:
            del entry["layer"]
    path = tmp_path / "old.snet"
    path.write_bytes(with_manifest(good_file, drop_layers))
    loaded = sn.load(str(path))
    assert all(n.layer is None for n in sn.Graph(loaded.as_built[0]).nodes)
    new = tmp_path / "new.snet"
    new.write_bytes(good_file)
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), sn.load(str(new)).predict(x))
