"""The data given to fit, evaluate and predict is checked before any step: labels inside their one_hot
classes, values finite; the first bad row is named."""
import inspect
import os
import re

import numpy as np
import pytest

import staticnet as sn
from tests.test_model import assert_same_weights, some_rows, spiral_model, weights_of

HERE = re.escape(os.path.relpath(__file__))


@pytest.fixture(scope="module")
def spirals_net():
    return spiral_model()


@pytest.fixture(scope="module")
def label_nets():
    """Two classifiers of integer labels: by softmax_cross_entropy, and through an explicit one_hot."""
    sn.seed(0)
    x, lab = sn.input("x", (None, 3)), sn.input("lab", (None,), dtype="int64")
    logits = sn.dense(x, 10)
    by_xent = sn.compile(sn.softmax_cross_entropy(logits, lab), outputs=logits, optimizer=sn.SGD(lr=0.1))
    xent_line = inspect.currentframe().f_lineno - 1
    p = sn.dense(x, 10, activation="softmax")
    one_hot_line = inspect.currentframe().f_lineno + 1
    by_one_hot = sn.compile(sn.cross_entropy(p, sn.one_hot(lab, 10)), outputs=p, optimizer=sn.SGD(lr=0.1))
    return [(by_xent, xent_line), (by_one_hot, one_hot_line)]


@pytest.mark.parametrize("bad", [10, -1, 1e20])
def test_labels_outside_the_classes_are_named_before_training(label_nets, bad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([1, 2, 3, bad, 4, bad])
    for net, line in label_nets:
        before = weights_of(net)
        with pytest.raises(sn.DataError, match=rf"^training data: input 'lab' row 3 holds the label {re.escape(repr(bad))}, "
                                               rf"outside the 10 classes \[0, 10\) of one_hot at {HERE}:{line}$"):
            net.fit({"x": x, "lab": labels}, epochs=1, verbose=0)
        with pytest.raises(sn.DataError, match=r"^validation data: input 'lab' row 3 holds the label"):
            net.fit({"x": x, "lab": labels % 10}, validation={"x": x, "lab": labels}, epochs=1, verbose=0)
        with pytest.raises(sn.DataError, match=r"^evaluation data: input 'lab' row 3 holds the label"):
            net.evaluate({"x": x, "lab": labels})
        assert_same_weights(weights_of(net), before)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_is_named_before_training_unless_check_data_is_false(spirals_net, bad):
    data = some_rows()
    before = weights_of(spirals_net)
    x = data["x"].copy()
    x[7, 1] = bad
    with pytest.raises(sn.DataError, match=rf"^training data: input 'x' row 7 holds {bad!r}; the data must be finite "
                                           r"\(fit\(check_data=False\) skips this check\)$"):
        spirals_net.fit({"x": x, "y": data["y"]}, epochs=1, verbose=0)
    with pytest.raises(sn.DataError, match=rf"^validation data: input 'x' row 7 holds {bad!r}"):
        spirals_net.fit(data, validation={"x": x, "y": data["y"]}, epochs=1, verbose=0)
    assert_same_weights(weights_of(spirals_net), before)
    unchecked = spiral_model()  # its weights may end up NaN: not the module's model
    start = weights_of(unchecked)
    with pytest.raises(sn.NumericalError, match=r"step 1 of 2 .*\nThe first value that is not finite: input 'x' at "):
        unchecked.fit({"x": x, "y": data["y"]}, epochs=1, verbose=0, check_data=False)  # the NaN guard sees it
    assert_same_weights(weights_of(unchecked), start)
    unchecked.fit({"x": x, "y": data["y"]}, epochs=1, verbose=0, check_data=False, nan_guard=False)  # trains
    assert unchecked.epochs_done == 1


def test_a_value_that_overflows_float32_is_named_as_given(spirals_net):
    data = some_rows()
    x = data["x"].astype(np.float64)
    x[2, 0] = 1e300
    with pytest.raises(sn.DataError, match=r"^training data: input 'x' row 2 holds 1e\+300 \(inf in float32\)"):
        spirals_net.fit({"x": x, "y": data["y"]}, epochs=1, verbose=0)


