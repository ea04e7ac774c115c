"""fit, evaluate and predict take arrays the Keras way: fit(X, Y), validation_data=(Xv, Yv), validation_split."""
import numpy as np
import pytest

import staticnet as sn


def spiral_model(seed=0):
    sn.seed(seed)
    x = sn.input("x", (None, 2))
    y = sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 16, activation="tanh"), 2, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.02))


@pytest.fixture(scope="module")
def data():
    return sn.data.two_spirals(80, seed=0)


def weights(net):
    return {k: v.copy() for k, v in net.params.items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_fit_x_y_trains_as_the_dict_does(data):
    by_dict = spiral_model()
    by_dict.fit({"x": data["x"], "y": data["y"]}, epochs=3, batch_size=8, seed=1, verbose=0)
    by_arrays = spiral_model()
    hist = by_arrays.fit(data["x"], data["y"], epochs=3, batch_size=8, seed=1, verbose=0)
    assert len(hist) == 3
    assert_same(weights(by_dict), weights(by_arrays))
    as_tuple = spiral_model()
    as_tuple.fit((data["x"], data["y"]), epochs=3, batch_size=8, seed=1, verbose=0)
    assert_same(weights(by_dict), weights(as_tuple))


def test_validation_data_is_validation_and_evaluate_takes_arrays(data):
    net = spiral_model()
    hist = net.fit(data["x"][:60], data["y"][:60], validation_data=(data["x"][60:], data["y"][60:]), epochs=2,
                   batch_size=8, seed=1, verbose=0)
    by_arrays = net.evaluate(data["x"][60:], data["y"][60:])
    by_dict = net.evaluate({"x": data["x"][60:], "y": data["y"][60:]})
    assert by_arrays == by_dict
    assert hist["val_loss"][-1] == pytest.approx(by_dict["loss"], rel=1e-6)
    np.testing.assert_array_equal(net.predict(data["x"]), net.predict({"x": data["x"]}))


def test_validation_split_holds_out_the_last_rows_before_shuffling(data):
    split = spiral_model()
    hist = split.fit(data["x"], data["y"], validation_split=0.25, epochs=2, batch_size=8, seed=3, verbose=0)
    explicit = spiral_model()
    reference = explicit.fit({"x": data["x"][:60], "y": data["y"][:60]},
                             validation={"x": data["x"][60:], "y": data["y"][60:]}, epochs=2, batch_size=8, seed=3,
                             verbose=0)
    assert_same(weights(split), weights(explicit))
    assert hist["val_loss"] == reference["val_loss"]
    # Keras's rule: training keeps the first ceil(n * (1 - split)) rows
    odd = spiral_model()
    odd.fit(data["x"][:7], data["y"][:7], validation_split=0.5, epochs=1, batch_size=8, seed=3, verbose=0)
    assert odd.history["val_loss"][-1] == pytest.approx(
        odd.evaluate(data["x"][4:7], data["y"][4:7])["loss"], rel=1e-6)


def two_feature_model():
    sn.seed(0)
    a, b, y = sn.input("a", (None, 2)), sn.input("b", (None, 2)), sn.input("y", (None, 2))
    p = sn.dense(a + b, 2, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p)


def test_arrays_for_a_model_with_two_feature_inputs_are_refused_naming_them(data):
    net = two_feature_model()
    with pytest.raises(sn.DataError, match=r"fit\(x, y\) needs one feature input and one label input.*"
                                           r"features are 'a', 'b' and its labels 'y': pass a dict") as caught:
        net.fit(data["x"], data["y"], verbose=0)
    assert "\n" not in str(caught.value)
    with pytest.raises(sn.DataError, match=r"evaluate\(x, y\) needs one feature input"):
        net.evaluate(data["x"], data["y"])


@pytest.mark.parametrize("settings, message", [
    ({"validation_split": 1.0}, r"validation_split must be a number in \(0, 1\), got 1.0"),
    ({"validation_split": -0.1}, r"validation_split must be a number in \(0, 1\), got -0.1"),
    ({"validation_split": 0.01}, r"validation_split=0.01 of 80 rows leaves no validation rows"),
    ({"validation_split": 0.2, "validation": "v"}, r"give validation data or validation_split, not both"),
    ({"validation": "v", "validation_data": "v"}, r"give validation= or validation_data=.*not both"),
])
def test_bad_validation_arguments_are_refused_before_training(data, settings, message):
    net = spiral_model()
    held_out = {"x": data["x"][:5], "y": data["y"][:5]}
    settings = {k: (held_out if v == "v" else v) for k, v in settings.items()}
    before = weights(net)
    with pytest.raises(ValueError, match=message):
        net.fit(data["x"], data["y"], verbose=0, **settings)
    assert_same(before, weights(net))


def test_labels_missing_or_given_twice_are_named(data):
    net = spiral_model()
    with pytest.raises(sn.DataError, match=r"the training data has no labels: pass y="):
        net.fit(data["x"], verbose=0)
    with pytest.raises(sn.DataError, match=r"the training data is a dict.*y= is for arrays"):
        net.fit({"x": data["x"], "y": data["y"]}, data["y"], verbose=0)
