"""Each layer's speed of learning (net.learning_speed, fit's track=, the plot's panel), against sn.grad on the
NumPy reference and against the values of the book's chapter 5."""
import numpy as np
import pytest

import staticnet as sn
from tests.conftest import require_mnist

# Nielsen, chapter 5, "The vanishing gradient problem": [784, 30, 30, 30, 10] at initialisation, the first
# 1,000 training images, cross-entropy, weights N(0, 1/sqrt(n_in)) and biases N(0, 1).
BOOK_SPEEDS_3_HIDDEN = (0.012, 0.060, 0.283)


@pytest.fixture(scope="module")
def mnist_train():
    require_mnist()
    return sn.data.mnist()[0]


def sigmoid_net(sizes, dtype="float32", lam=0.0, n=1000):
    """The book's network2: sigmoid layers, cross-entropy, N(0, 1/sqrt(n_in)) weights and N(0, 1) biases."""
    x = sn.input("x", (None, sizes[0]), dtype=dtype)
    y = sn.input("y", (None, sizes[-1]), dtype=dtype)
    a = x
    for units in sizes[1:]:
        a = sn.dense(a, units, activation="sigmoid", bias_init=sn.init.standard_normal())
    loss = sn.cross_entropy(a, y) + (sn.l2(lam=lam, n=n) if lam else 0.0)
    return x, y, a, loss


def reference_speeds(x, y, loss, feeds):
    """||mean of dC/db|| per bias, from sn.grad run node by node in NumPy."""
    biases = [t for t in sn.Graph(loss).params if t.name.endswith("/b")]
    gradients = sn.function([x, y], sn.grad(loss, biases), backend="numpy")(*feeds)
    return {b.name[:-2]: float(np.linalg.norm(g)) for b, g in zip(biases, gradients)}


def test_learning_speed_is_the_reference_bias_gradient_length_in_float64(mnist_train):
    sn.seed(3)
    x, y, p, loss = sigmoid_net([784, 30, 30, 30, 10], dtype="float64", lam=5.0)
    net = sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.1))
    feeds = (mnist_train["x"][:200].astype(np.float64), mnist_train["y"][:200].astype(np.float64))
    weights = {name: value.copy() for name, value in net.params.items()}
    expected = reference_speeds(x, y, loss, feeds)
    assert list(expected) == ["dense1", "dense2", "dense3", "dense4"]
    for batch in (None, 64):  # one call, and four batches of unequal size weighted by their rows
        speeds = net.learning_speed({"x": feeds[0], "y": feeds[1]}, batch=batch)
        assert list(speeds) == list(expected)
        np.testing.assert_allclose(list(speeds.values()), list(expected.values()), rtol=1e-10, atol=0)
    assert all(np.array_equal(net.params[name], value) for name, value in weights.items())


def test_book_speeds_at_initialisation_over_ten_seeds(mnist_train):
    """The book's figures come from one initialisation; the mean over ten is within a factor 2 of each, and
    the speeds rise from the first hidden layer to the last.  One model, re-initialised per seed."""
    x, y, p, loss = sigmoid_net([784, 30, 30, 30, 10])
    net = sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.1))
    first = {"x": mnist_train["x"][:1000], "y": mnist_train["y"][:1000]}
    per_seed = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        for name in net.params:
            shape = net.params[name].shape
            net.params[name] = (rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape) if name.endswith("/W")
                                else rng.standard_normal(shape))
        per_seed.append(list(net.learning_speed(first).values())[:-1])  # the hidden layers
    mean = np.mean(per_seed, axis=0)
    assert np.all(np.diff(mean) > 0), f"mean speeds {mean} do not rise toward the output"
    for layer, (ours, book) in enumerate(zip(mean, BOOK_SPEEDS_3_HIDDEN), start=1):
        assert book / 2 <= ours <= book * 2, f"hidden layer {layer}: mean speed {ours:.4f}, the book's {book}"


def tiny_problem(seed=0):
    rng = np.random.default_rng(seed)
    data = {"x": rng.random((40, 6)).astype(np.float32), "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]}
    sn.seed(seed)
    x, y, p, loss = sigmoid_net([6, 5, 4, 3])
    return sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.5)), data, (x, y, loss)


def test_tracked_speeds_are_recorded_after_every_epoch_and_drawn():
    pytest.importorskip("matplotlib", reason="matplotlib is an optional extra")
    net, data, (x, y, loss) = tiny_problem()
    history = net.fit(data, epochs=3, batch_size=8, verbose=0, track=["learning_speed"], track_data=data)
    keys = [k for k in history.history if k.startswith("learning_speed/")]
    assert keys == ["learning_speed/dense1", "learning_speed/dense2", "learning_speed/dense3"]
    assert all(len(history[k]) == 3 and None not in history[k] for k in keys)
    last = reference_speeds(x, y, loss, (data["x"], data["y"]))  # the weights after the last epoch
    np.testing.assert_allclose([history[k][-1] for k in keys], list(last.values()), rtol=1e-4)
    assert history["learning_speed/dense1"][0] != history["learning_speed/dense1"][-1]
    fig = sn.plot.history(history)
    speed_axes = fig.axes[2]
    assert len(fig.axes) == 3 and speed_axes.get_yscale() == "log"
    assert speed_axes.get_title() == "speed of learning: 2 hidden layers"
    assert [line.get_label() for line in speed_axes.get_lines()] == ["dense1", "dense2"]


def test_without_track_there_are_no_speeds_and_no_panel():
    pytest.importorskip("matplotlib", reason="matplotlib is an optional extra")
    net, data, _ = tiny_problem()
    history = net.fit(data, epochs=2, batch_size=8, verbose=0)
    assert not [k for k in history.history if k.startswith("learning_speed")]
    assert len(sn.plot.history(history).axes) == 2


@pytest.mark.parametrize("arguments,message", [
    ({"track": ["speed"], "track_data": "data"}, r"track=\['speed'\]: cannot track 'speed'; it can track "
                                                 r"\['learning_speed'\]"),
    ({"track": 3}, r"track must be a list of names from \['learning_speed'\], got 3"),
    ({"track": ["learning_speed"]}, r"track=\['learning_speed'\] needs track_data="),
    ({"track_data": "data"}, r"track_data is given but track is not"),
])
def test_bad_tracking_arguments_are_refused_before_training(arguments, message):
    net, data, _ = tiny_problem()
    before = net.params["dense1/W"].copy()
    arguments = {k: data if v == "data" else v for k, v in arguments.items()}
    with pytest.raises(ValueError, match=r"fit at \S*test_learning_speed\.py:\d+: " + message):
        net.fit(data, epochs=1, verbose=0, **arguments)
    assert np.array_equal(net.params["dense1/W"], before) and len(net.history) == 0


def test_track_data_is_checked_like_training_data():
    net, data, _ = tiny_problem()
    with pytest.raises(sn.DataError, match=r"input 'x' in the track_data expects shape \(None, 6\), got \(4, 7\)"):
        net.fit(data, epochs=1, verbose=0, track=["learning_speed"],
                track_data={"x": np.zeros((4, 7), np.float32), "y": data["y"][:4]})


def test_learning_speed_refuses_a_bad_batch_and_a_model_without_biases():
    net, data, _ = tiny_problem()
    with pytest.raises(ValueError, match=r"learning_speed at \S*test_learning_speed\.py:\d+: batch must be a positive "
                                         r"int, got 0"):
        net.learning_speed(data, batch=0)
    x, y = sn.input("x", (None, 6)), sn.input("y", (None, 3))
    w = sn.param("w", (6, 3), init=sn.init.normal_scaled())
    unbiased = sn.compile(sn.mse(sn.sigmoid(x @ w), y), outputs=sn.sigmoid(x @ w))
    with pytest.raises(ValueError, match=r"learning_speed at \S*test_learning_speed\.py:\d+: the model has no layer "
                                         r"with a bias"):
        unbiased.learning_speed(data)


def test_x_and_y_as_a_pair_go_to_the_feature_and_the_label_whatever_the_graphs_input_order():
    """A loss that reads y before x lists y first among the graph's inputs; (X, Y) still means x then y, in
    learning_speed, gradcheck and track_data as in fit and evaluate."""
    sn.seed(0)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 4))
    p = sn.dense(x, 4, activation="sigmoid")
    net = sn.compile(sn.mean(sn.square(y - p)), outputs=p, optimizer=sn.SGD(lr=0.1))
    assert [t.name for t in net.inputs] == ["y", "x"]  # the case this test is about
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 4)).astype(np.float32), rng.random((8, 4)).astype(np.float32)
    assert net.learning_speed((X, Y)) == net.learning_speed({"x": X, "y": Y})
    assert net.gradcheck((X, Y), print_fn=None).ok
    history = net.fit(X, Y, epochs=1, verbose=0, track=["learning_speed"], track_data=(X, Y))
    assert history["learning_speed/dense1"] == [net.learning_speed({"x": X, "y": Y})["dense1"]]
