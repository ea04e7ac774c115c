"""Which metrics a model reports; the regression metrics against NumPy, the classification ones against
scikit-learn's definitions."""
import os
import re

import numpy as np
import pytest

import staticnet as sn
from staticnet.codegen.loops import ONE_HOT_ROWS

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
         r"unknown metric 'foo'; valid metrics: accuracy, mse, mae, precision, recall, f1, top_k_accuracy, or "
         r"sn.metrics.Precision\(average=...\), Recall, F1, TopK\(k\)"),
        (lambda: sn.compile(sn.mse(p, y), outputs=p, metrics=["precison"]),
         r"unknown metric 'precison'; did you mean 'precision'\? valid metrics: .*"),
        (lambda: sn.compile(sn.mse(h, sn.input("t", (None, 4, 3))), outputs=h, metrics=["precision"]),
         r"precision needs class scores of shape \(batch, classes\) or \(batch,\) and a label to compare them with; "
         r"the output is \(None, 4, 3\), the label \(None, 4, 3\)"),
        (lambda: sn.compile(sn.cross_entropy(sn.sigmoid(p), y), outputs=sn.sigmoid(p), metrics=["top_k_accuracy"]),
         r"top_k_accuracy ranks the scores of several classes; the output \(None, 1\) has one per row "
         r"\(use accuracy\)"),
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


# ---------------------------------------------------------------- classification metrics against scikit-learn
sklearn = pytest.importorskip("sklearn.metrics", reason="scikit-learn is in the dev extra")
CLASS_METRICS = [("precision", sklearn.precision_score), ("recall", sklearn.recall_score), ("f1", sklearn.f1_score)]


def reference(score, truth, guess, average):
    return score(truth, guess, average=average, zero_division=0)


@pytest.mark.parametrize("classes", [2, 3, 5])
@pytest.mark.parametrize("seed", range(4))
def test_precision_recall_f1_follow_scikit_learn_on_random_predictions(classes, seed):
    from staticnet.metrics import class_score
    rng = np.random.default_rng(seed)
    rows = 30
    truth = rng.integers(0, classes - (seed == 3), rows)  # seed 3: the last class never occurs in the labels
    scores = rng.random((rows, classes))
    guess = scores.argmax(1)
    for name, score in CLASS_METRICS:
        default = "binary" if classes == 2 else "macro"
        assert class_score(name, scores, truth, "index") == pytest.approx(reference(score, truth, guess, default))
        for average in ("macro", "micro", "weighted"):
            assert class_score(f"{name}_{average}", scores, truth, "index") == pytest.approx(
                reference(score, truth, guess, average)), (name, average)


def test_top_k_accuracy_follows_scikit_learn():
    from staticnet.metrics import top_k_score
    rng = np.random.default_rng(0)
    truth, scores = rng.integers(0, 6, 50), rng.random((50, 6))
    for k in (1, 2, 5):
        expected = sklearn.top_k_accuracy_score(truth, scores, k=k, labels=range(6))
        assert top_k_score(k, scores, truth, "index") == pytest.approx(expected)
        assert top_k_score(k, scores, np.eye(6)[truth], ONE_HOT_ROWS) == pytest.approx(expected)


def classifier(output, label, metrics, seed=0):
    """An untrained softmax or sigmoid classifier on 4 features, and data for it."""
    sn.seed(seed)
    x = sn.input("x", (None, 4))
    if output == "sigmoid":
        y = sn.input("y", (None, 1))
        p = sn.dense(x, 1, activation="sigmoid")
        loss = sn.cross_entropy(p, y)
    elif label == "index":
        y = sn.input("y", (None,), dtype="int64")
        p = sn.dense(x, output)
        loss = sn.softmax_cross_entropy(p, y)
    else:
        y = sn.input("y", (None, output))
        p = sn.dense(x, output, activation="softmax")
        loss = sn.cross_entropy(p, y)
    net = sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.1), metrics=metrics)
    rng = np.random.default_rng(seed)
    classes = 2 if output == "sigmoid" else output
    truth = rng.integers(0, classes, 200)
    target = {"sigmoid": truth[:, None].astype(np.float32), "index": truth}.get(
        output if output == "sigmoid" else label, np.eye(classes, dtype=np.float32)[truth])
    return net, rng.normal(size=(200, 4)).astype(np.float32) * 3, target, truth


@pytest.mark.parametrize("output, label", [("sigmoid", "binary"), (2, "one_hot"), (2, "index")])
def test_two_classes_score_class_1_as_scikit_learn_binary(output, label):
    net, x, target, truth = classifier(output, label, ["accuracy", "precision", "recall", "f1"])
    p = net.predict(x)
    guess = (p[:, 0] > 0.5).astype(int) if output == "sigmoid" else p.argmax(1)
    assert 0 < guess.sum() < len(guess)  # both classes predicted: the scores are not trivially 0 or 1
    scores = net.evaluate(x, target)
    for name, score in CLASS_METRICS:
        assert scores[name] == pytest.approx(reference(score, truth, guess, "binary")), name
    np.testing.assert_array_equal(net.confusion_matrix(x, target), sklearn.confusion_matrix(truth, guess))


def test_more_classes_average_over_classes_and_objects_choose_the_average():
    chosen = ["precision", "recall", "f1", sn.metrics.Precision(average="micro"), sn.metrics.Recall("weighted"),
              sn.metrics.F1("micro"), "top_k_accuracy", sn.metrics.TopK(2)]
    net, x, target, truth = classifier(7, "index", chosen)
    assert net.metrics == ("precision", "recall", "f1", "precision_micro", "recall_weighted", "f1_micro",
                           "top_k_accuracy", "top_2_accuracy")
    p = net.predict(x)
    guess = p.argmax(1)
    scores = net.evaluate(x, target)
    for name, score in CLASS_METRICS:
        assert scores[name] == pytest.approx(reference(score, truth, guess, "macro")), name
    assert scores["precision_micro"] == pytest.approx(reference(sklearn.precision_score, truth, guess, "micro"))
    assert scores["recall_weighted"] == pytest.approx(reference(sklearn.recall_score, truth, guess, "weighted"))
    assert scores["f1_micro"] == pytest.approx(reference(sklearn.f1_score, truth, guess, "micro"))
    assert scores["top_k_accuracy"] == pytest.approx(sklearn.top_k_accuracy_score(truth, p, k=5, labels=range(7)))
    assert scores["top_2_accuracy"] == pytest.approx(sklearn.top_k_accuracy_score(truth, p, k=2, labels=range(7)))
    np.testing.assert_array_equal(net.confusion_matrix({"x": x, "y": target}),
                                  sklearn.confusion_matrix(truth, guess, labels=range(7)))


def test_fit_records_the_validation_scores_each_epoch(tmp_path):
    net, x, target, truth = classifier(3, "one_hot", ["accuracy", "f1"])
    hist = net.fit(x[:150], target[:150], validation_data=(x[150:], target[150:]), epochs=2, verbose=0, seed=0)
    assert len(hist["val_f1"]) == 2
    assert hist["val_f1"][-1] == pytest.approx(net.evaluate(x[150:], target[150:])["f1"])
    net.save(tmp_path / "m.snet")
    assert sn.load(str(tmp_path / "m.snet")).metrics == ("accuracy", "f1")


def test_a_bad_metric_object_is_named():
    with pytest.raises(ValueError, match=r"Precision: average must be one of macro, micro, weighted .*got 'binary'"):
        sn.metrics.Precision(average="binary")
    with pytest.raises(ValueError, match=r"TopK: k must be a positive int, got 0"):
        sn.metrics.TopK(0)
