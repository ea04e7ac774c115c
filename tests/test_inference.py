"""staticnet.inference: saved models and ONNX models predicted with NumPy only, where Numba is absent."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import staticnet as sn
from staticnet import inference
from staticnet.errors import DataError, MissingDependency

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
def saved(tmp_path_factory):
    """A small network with dropout (convolutions go the same way: tests/test_onnx_mnist.py): its .snet file,
    its ONNX export, test rows and its compiled predictions."""
    sn.seed(0)
    x, y = sn.input("x", (None, 12)), sn.input("y", (None, 3))
    h = sn.dense(x, 8, activation="gelu", bias_init=sn.init.standard_normal())
    p = sn.dense(sn.dropout(h, 0.2), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    rows = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    directory = tmp_path_factory.mktemp("inference")
    snet, onnx_file, arrays = (str(directory / name) for name in ("net.snet", "net.onnx", "rows.npy"))
    net.save(snet)
    np.save(arrays, rows)
    net.export_onnx(onnx_file)  # the onnx extra is part of .[dev]: missing, these tests fail, never skip
    return snet, onnx_file, arrays, rows, net.predict(rows)


def test_a_saved_model_predicts_as_the_compiled_model_does(saved):
    snet, _, _, rows, expected = saved
    model = inference.load(snet)
    assert [t.name for t in model.inputs] == ["x"]
    np.testing.assert_allclose(model.predict({"x": rows}), expected, rtol=1e-5, atol=1e-6)
    in_batches = model.predict(rows, batch_size=7)  # batches of 7 rows give the same rows (to BLAS's rounding)
    assert in_batches.shape == (60, 3)
    np.testing.assert_allclose(in_batches, model.predict(rows), rtol=1e-6, atol=1e-7)


def test_saved_and_onnx_models_predict_where_numba_cannot_be_imported(saved, tmp_path):
    snet, onnx_file, arrays, _, expected = saved
    out = str(tmp_path / "out.npz")
    result = python(f"""
        import sys
        sys.modules["numba"] = None  # `import numba` now fails, as where it is not installed
        import numpy as np
        from staticnet import inference
        rows = np.load({arrays!r})
        np.savez({out!r}, snet=inference.load({snet!r}).predict(rows), onnx=inference.load({onnx_file!r}).predict(rows))
    """)
    assert result.returncode == 0, result.stderr
    with np.load(out) as got:
        np.testing.assert_allclose(got["snet"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["onnx"], expected, rtol=1e-5, atol=1e-6)


def test_bad_inputs_and_files_are_named(saved, tmp_path):
    snet, _, _, rows, _ = saved
    model = inference.load(snet)
    with pytest.raises(DataError, match=r"no array for input 'x' \(the dict has \['rows'\]\)"):
        model.predict({"rows": rows})
    with pytest.raises(DataError, match=r"input 'x' in the prediction inputs expects shape \(None, 12\), got \(60, 3, 4\)"):
        model.predict(rows.reshape(60, 3, 4))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        model.predict(rows, batch_size=0)
    with pytest.raises(DataError, match="no such model file"):
        inference.load(str(tmp_path / "absent.snet"))
    truncated = tmp_path / "truncated.snet"
    truncated.write_bytes(open(snet, "rb").read()[:300])
    with pytest.raises(DataError, match="truncated.snet"):
        inference.load(str(truncated))


def test_without_onnx_a_saved_model_predicts_and_an_onnx_file_names_the_one_package_needed(saved, monkeypatch):
    snet, onnx_file, _, rows, expected = saved
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails, as where it is not installed
    np.testing.assert_allclose(inference.load(snet).predict(rows), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(MissingDependency, match=rf"^inference\.load\({re.escape(repr(onnx_file))}\) of an ONNX file "
                                                r"needs the onnx package: pip install onnx$"):
        inference.load(onnx_file)
