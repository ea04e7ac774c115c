import os
import re
import zipfile

import numpy as np
import pytest

import staticnet as sn


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
