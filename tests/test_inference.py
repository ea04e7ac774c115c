"""staticnet.inference: saved models and ONNX models predicted with NumPy only, where Numba is absent."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import staticnet as sn
from staticnet import inference
from staticnet.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT)


def test_importing_staticnet_inference_does_not_import_numba():
    result = python("""
        import sys
        import staticnet.inference
        import staticnet as sn
        x = sn.input("x", (None, 3))
        sn.dense(x, 2, activation="relu")
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite"))
        print(leaked)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory):
    """A trained little CNN with dropout: its .snet file, its ONNX export, test images and its compiled predictions."""
    sn.seed(0)
    x, y = sn.input("x", (None, 8, 8, 1)), sn.input("y", (None, 3))
    h = sn.max_pool2d(sn.conv2d(x, 4, 3, activation="relu"), 2)
    p = sn.dense(sn.dropout(sn.flatten(h), 0.2), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    rng = np.random.default_rng(0)
    images = rng.normal(size=(60, 8, 8, 1)).astype(np.float32)
    net.fit({"x": images, "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 60)]}, epochs=2, batch_size=10,
            verbose=0, seed=0)
    directory = tmp_path_factory.mktemp("inference")
    snet, onnx_file, arrays = (str(directory / name) for name in ("cnn.snet", "cnn.onnx", "images.npy"))
    net.save(snet)
    np.save(arrays, images)
    exported = False
    try:
        net.export_onnx(onnx_file)
        exported = True
    except sn.errors.MissingDependency:
        pass
    return snet, onnx_file if exported else None, arrays, images, net.predict(images)


def test_a_saved_model_predicts_as_the_compiled_model_does(small_cnn):
    snet, _, _, images, expected = small_cnn
    model = inference.load(snet)
    assert [t.name for t in model.inputs] == ["x"]
    np.testing.assert_allclose(model.predict({"x": images}), expected, rtol=1e-5, atol=1e-6)
    in_batches = model.predict(images, batch_size=7)  # batches of 7 rows give the same rows
    np.testing.assert_array_equal(in_batches, model.predict(images))


def test_saved_and_onnx_models_predict_where_numba_cannot_be_imported(small_cnn, tmp_path):
    snet, onnx_file, arrays, _, expected = small_cnn
    if onnx_file is None:
        pytest.skip("the onnx extra is not installed (it is part of .[dev])")
    out = str(tmp_path / "out.npz")
    result = python(f"""
        import sys
        sys.modules["numba"] = None  # `import numba` now fails, as where it is not installed
        import numpy as np
        from staticnet import inference
        images = np.load({arrays!r})
        np.savez({out!r}, snet=inference.load({snet!r}).predict(images), onnx=inference.load({onnx_file!r}).predict(images))
    """)
    assert result.returncode == 0, result.stderr
    with np.load(out) as got:
        np.testing.assert_allclose(got["snet"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["onnx"], expected, rtol=1e-5, atol=1e-6)


def test_bad_inputs_and_files_are_named(small_cnn, tmp_path):
    snet, _, _, images, _ = small_cnn
    model = inference.load(snet)
    with pytest.raises(DataError, match=r"no array for input 'x' \(the dict has \['images'\]\)"):
        model.predict({"images": images})
    with pytest.raises(DataError, match=r"input 'x' in the prediction inputs expects shape \(None, 8, 8, 1\), got \(60, 64\)"):
        model.predict(images.reshape(60, 64))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        model.predict(images, batch_size=0)
    with pytest.raises(DataError, match="no such model file"):
        inference.load(str(tmp_path / "absent.snet"))
    truncated = tmp_path / "truncated.snet"
    truncated.write_bytes(open(snet, "rb").read()[:300])
    with pytest.raises(DataError, match="truncated.snet"):
        inference.load(str(truncated))
