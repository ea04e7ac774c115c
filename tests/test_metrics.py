"""Which metrics a model reports, and the regression metrics against NumPy."""
import os
import re

import numpy as np
import pytest

import staticnet as sn

HERE = re.escape(os.path.relpath(__file__))


def sine_model(**compile_options):
    """A 1-16-1 tanh regression, as in examples/sine.py."""
    sn.seed(0)
    x, y = sn.input("x", (None, 1)), sn.input("y", (None, 1))
    p = sn.dense(sn.dense(x, 16, activation="tanh"), 1)
    return sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.Adam(lr=0.01), **compile_options)


def test_mse_and_mae_are_computed_from_the_outputs():
    data, val = sn.data.sine(200, seed=0), sn.data.sine(50, seed=1)
    net = sine_model(metrics=["mse", "mae"])
    hist = net.fit(data, epochs=3, batch_size=16, validation=val, seed=0, verbose=0)
    w = {k: v.astype(np.float64) for k, v in net.params.items()}
    predicted = np.tanh(data["x"] @ w["dense1/W"] + w["dense1/b"]) @ w["dense2/W"] + w["dense2/b"]
    scores = net.evaluate(data)
    assert set(scores) == {"loss", "mse", "mae"}
    assert scores["mse"] == pytest.approx(np.mean((predicted - data["y"]) ** 2), rel=1e-5)
    assert scores["mae"] == pytest.approx(np.mean(np.abs(predicted - data["y"])), rel=1e-5)
    assert scores["loss"] == pytest.approx(scores["mse"] / 2, rel=1e-5)  # sn.mse is 1/(2n) sum ||y - a||^2
    assert len(hist["val_mse"]) == 3 and hist["val_mae"][-1] == pytest.approx(net.evaluate(val)["mae"])


def test_a_regression_reports_no_accuracy_by_default():
    net = sine_model()  # no metrics given
    assert net.metrics == ()
    assert set(net.evaluate(sn.data.sine(20, seed=0))) == {"loss"}


def test_classifiers_report_accuracy_by_default():
    x, y = sn.input("x", (None, 2)), sn.input("y", (None, 2))
    labels = sn.input("labels", (None,), dtype="int64")
    sigmoid = sn.dense(x, 2, activation="sigmoid")
    softmax = sn.dense(x, 2, activation="softmax")
    logits = sn.dense(x, 2)
    assert sn.compile(sn.mse(sigmoid, y), outputs=sigmoid).metrics == ("accuracy",)
    assert sn.compile(sn.cross_entropy(softmax, y), outputs=softmax).metrics == ("accuracy",)
    assert sn.compile(sn.softmax_cross_entropy(logits, labels), outputs=logits).metrics == ("accuracy",)
    assert sn.compile(sn.mse(logits, y), outputs=logits).metrics == ()


def test_metric_names_are_checked_at_compile():
    x, y = sn.input("x", (None, 1)), sn.input("y", (None, 1))
    p = sn.dense(x, 1)
    seq, labels = sn.input("seq", (None, 4, 2)), sn.input("labels", (None,), dtype="int64")
    h = sn.rnn(seq, 3, return_sequences=True)
    logits = sn.dense(sn.flatten(seq), 3)
    mistakes = [
        (lambda: sn.compile(sn.mse(p, y), outputs=p, metrics=["mse", "foo"]),
         r"unknown metric 'foo'; valid metrics: accuracy, mse, mae"),
        (lambda: sn.compile(sn.mse(h, sn.input("t", (None, 4, 3))), outputs=h, metrics=["accuracy"]),
         r"accuracy needs class scores of shape \(batch, classes\) or \(batch,\) and a label to compare them with; "
         r"the output is \(None, 4, 3\), the label \(None, 4, 3\)"),
        (lambda: sn.compile(sn.softmax_cross_entropy(logits, labels), outputs=logits, metrics=["mae"]),
         r"mae compares the output \(None, 3\) with a float label of as many values per example; the label is "
         r"'labels' \(None,\) int64"),
    ]
    for build, message in mistakes:
        with pytest.raises(sn.GraphError, match=f"^compile at {HERE}:{build.__code__.co_firstlineno}: {message}$"):
            build()
