import numpy as np
import pytest

import staticnet as sn
from tests.conftest import check_grads


def test_dense_creates_weight_in_out_and_bias(rng):
    x = sn.input("x", (None, 5), dtype="float64")
    h = sn.dense(x, 3, activation="tanh", name="layer")
    params = {p.name: p for p in sn.Graph(h).params}
    assert params["layer/W"].shape == (5, 3) and params["layer/b"].shape == (3,)
    assert params["layer/W"].regularize and not params["layer/b"].regularize
    v = rng.normal(size=(4, 5))
    expected = np.tanh(v @ params["layer/W"].value + params["layer/b"].value)
    np.testing.assert_allclose(sn.function([x], h)(v), expected, rtol=1e-14)


def test_dense_initialisers_are_seeded_and_scaled():
    x = sn.input("x", (None, 400))
    sn.seed(5)
    a = sn.Graph(sn.dense(x, 300)).params[0].value
    sn.seed(5)
    b = sn.Graph(sn.dense(x, 300)).params[0].value
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - 1 / 20) < 0.002  # N(0, 1/sqrt(n_in)), the book's improved initialisation
    he = sn.Graph(sn.dense(x, 300, init="he")).params[0].value
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.003
    glorot = sn.Graph(sn.dense(x, 300, init=sn.init.glorot_uniform())).params[0].value
    assert abs(np.abs(glorot).max() - np.sqrt(6 / 700)) < 0.002


def test_dense_gradient_through_weights(rng):
    W, b = rng.normal(size=(4, 3)), rng.normal(size=(3,))
    check_grads(lambda x, w, bb: sn.sigmoid(x @ w + bb), [rng.normal(size=(5, 4)), W, b], batch=(True, False, False))


def test_the_books_dropout_keeps_units_unscaled_and_scales_them_at_evaluation():
    """inverted=False is network3.py's dropout: a mask of 0 and 1 in training, every unit times 1 - rate at
    evaluation and prediction, on both backends."""
    rng = np.random.default_rng(5)
    x = sn.input("x", (None, 400), dtype="float64")
    h = sn.dropout(x, 0.25, inverted=False)
    X = rng.random((20, 400)) + 0.5
    for backend in ("numpy", "numba"):
        trained = sn.function([x], h, training=True, backend=backend)(X)
        dropped = trained == 0
        assert 0.2 < dropped.mean() < 0.3
        np.testing.assert_array_equal(trained[~dropped], X[~dropped])  # kept units unscaled
        np.testing.assert_array_equal(sn.function([x], h, backend=backend)(X), X * 0.75)


def test_the_books_dropout_in_a_model_predicts_with_scaled_units_and_survives_a_save(tmp_path):
    sn.seed(2)
    x, y = sn.input("x", (None, 6)), sn.input("y", (None, 3))
    h = sn.dense(x, 5, activation="relu")
    p = sn.dense(sn.dropout(h, 0.5, inverted=False), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    rows = np.random.default_rng(6).normal(size=(8, 6)).astype(np.float32)
    W1, b1, W2, b2 = (net.params[k].astype(np.float64) for k in ("dense1/W", "dense1/b", "dense2/W", "dense2/b"))
    z = 0.5 * np.maximum(rows @ W1 + b1, 0) @ W2 + b2  # the book: the next layer's weights times 1 - rate
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(net.predict(rows), expected, rtol=1e-5, atol=1e-7)
    net.save(str(tmp_path / "book.snet"))
    np.testing.assert_array_equal(sn.load(str(tmp_path / "book.snet")).predict(rows), net.predict(rows))
    onnxruntime = pytest.importorskip("onnxruntime")
    net.export_onnx(str(tmp_path / "book.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "book.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": rows})[0], expected, rtol=1e-5, atol=1e-7)


def test_dropout_refuses_an_inverted_that_is_not_a_boolean():
    x = sn.input("x", (None, 4))
    with pytest.raises(sn.GraphError, match=r"dropout at .*: inverted must be True or False, got 'no'"):
        sn.dropout(x, 0.5, inverted="no")
