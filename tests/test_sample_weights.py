"""fit(sample_weight=, class_weight=) and evaluate(sample_weight=): each row's cost weighted, 1/n sum_i w_i C_i."""
import numpy as np
import pytest

import staticnet as sn
from tests.conftest import central_difference

ROWS, FEATURES, CLASSES = 12, 4, 3


def data(rng, dtype="float32"):
    x = rng.normal(size=(ROWS, FEATURES)).astype(dtype)
    labels = rng.integers(0, CLASSES, ROWS)
    return x, labels, np.eye(CLASSES, dtype=dtype)[labels]


def softmax_model(dtype="float32", labels="one_hot", l2=0.0, dropout=False, optimizer=None):
    """A fresh model from seed 0: dense -> softmax, trained by the cross-entropy (fused with the softmax)."""
    sn.seed(0)
    x = sn.input("x", (None, FEATURES), dtype=dtype)
    y = (sn.input("y", (None,), dtype="int64") if labels == "integer"
         else sn.input("y", (None, CLASSES), dtype=dtype))
    hidden = sn.dense(x, 5, activation="tanh", name="hidden")
    if dropout:
        hidden = sn.dropout(hidden, 0.3)
    z = sn.dense(hidden, CLASSES, name="out")
    p = sn.softmax(z)
    cost = sn.softmax_cross_entropy(z, y) if labels == "integer" else sn.cross_entropy(p, y)
    if l2:
        cost = cost + sn.l2(l2, ROWS)
    return sn.compile(cost, p, optimizer or sn.SGD(lr=0.5, momentum=0.9))


def sigmoid_layer_model(units, cost, optimizer, dtype="float32"):
    """One sigmoid layer of `units` outputs trained on `cost`."""
    sn.seed(0)
    x = sn.input("x", (None, FEATURES), dtype=dtype)
    y = sn.input("y", (None, units), dtype=dtype)
    a = sn.dense(x, units, activation="sigmoid", name="out")
    return sn.compile(cost(a, y), a, optimizer)


def sigmoid_model(dtype="float32"):
    return sigmoid_layer_model(1, sn.cross_entropy, sn.SGD(lr=0.5), dtype)


def mse_model(dtype="float32"):
    return sigmoid_layer_model(2, sn.mse, sn.Adam(lr=0.05), dtype)


def weights_of(net):
    return {name: value.copy() for name, value in net.params.items()}


def labels_for(kind, rng):
    x, labels, one_hot = data(rng)
    if kind == "sigmoid":
        return x, (labels[:, None] == 1).astype("float32")
    if kind == "mse":
        return x, rng.uniform(size=(ROWS, 2)).astype("float32")
    return x, one_hot


BUILDERS = {"softmax": lambda: softmax_model(l2=0.1, dropout=True), "sigmoid": sigmoid_model, "mse": mse_model}


def fit_plain_and_with_ones(kind, rng):
    x, y = labels_for(kind, rng)
    plain, weighted = BUILDERS[kind](), BUILDERS[kind]()
    a = plain.fit(x, y, epochs=2, batch_size=5, seed=3, verbose=0)
    b = weighted.fit(x, y, epochs=2, batch_size=5, seed=3, verbose=0, sample_weight=np.ones(ROWS))
    assert weighted._weighted is not None  # the weighted loops did run
    return (x, y), (plain, a), (weighted, b)


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_weights_of_one_train_as_no_weights_bit_for_bit(kind, rng):
    """A cross-entropy's weighted kernel, run with every weight 1, computes the very bits of the unweighted one,
    and so does the gradient (the row factor is a product by 1): the same losses and weights after two shuffled
    epochs with a partial last batch, dropout, L2 and momentum."""
    (x, y), (plain, a), (weighted, b) = fit_plain_and_with_ones(kind, rng)
    assert [e["loss"] for e in a.epochs] == [e["loss"] for e in b.epochs]
    for name, value in weights_of(plain).items():
        assert np.array_equal(value, weighted.params[name]), name
    assert plain.evaluate(x, y) == weighted.evaluate(x, y, sample_weight=np.ones(ROWS))


def test_weights_of_one_train_a_summed_cost_as_no_weights(rng):
    """sn.mse weighted is sum(w_i (a_i - y_i)^2) / 2n: its loss keeps the bits, and its gradient runs through the
    fused loops, compiled with fastmath's reassociation, where a factor of 1 more in a chain of products may move
    the rounding of the others: the weights agree to a few ulps of float32, not bit for bit."""
    (x, y), (plain, a), (weighted, b) = fit_plain_and_with_ones("mse", rng)
    np.testing.assert_allclose([e["loss"] for e in b.epochs], [e["loss"] for e in a.epochs], rtol=1e-6)
    for name, value in weights_of(plain).items():
        np.testing.assert_allclose(weighted.params[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kind", ["softmax", "mse"])
def test_integer_weights_are_rows_repeated_counted_once_in_n(kind, rng):
    """Weights w on N rows against the rows repeated w_i times (M = sum w rows), one full batch each: the weighted
    cost is sum_i w_i C_i / N and the repeated one sum_i w_i C_i / M, so loss_w N = loss_rep M, and so are the
    gradients (one SGD step of rate 1 moves each weight by minus its gradient)."""
    build = {"softmax": lambda: softmax_model("float64", optimizer=sn.SGD(lr=1.0)),
             "mse": lambda: _mse_sgd_model()}[kind]
    x, y = labels_for(kind, rng)
    x, y = x.astype("float64"), y.astype("float64")
    w = np.array([0, 1, 2, 3, 1, 1, 0, 4, 2, 1, 1, 2])
    n, m = ROWS, int(w.sum())
    repeated_x, repeated_y = np.repeat(x, w, axis=0), np.repeat(y, w, axis=0)
    weighted, repeated = build(), build()
    before = weights_of(weighted)
    loss_w = weighted.evaluate(x, y, sample_weight=w)["loss"]
    loss_rep = repeated.evaluate(repeated_x, repeated_y)["loss"]
    assert loss_w * n == pytest.approx(loss_rep * m, rel=1e-12)
    weighted.fit(x, y, epochs=1, batch_size=n, shuffle=False, verbose=0, sample_weight=w)
    repeated.fit(repeated_x, repeated_y, epochs=1, batch_size=m, shuffle=False, verbose=0)
    for name, start in before.items():
        step_w, step_rep = start - weighted.params[name], start - repeated.params[name]
        np.testing.assert_allclose(step_w * n, step_rep * m, rtol=1e-10, atol=1e-14, err_msg=name)


def _mse_sgd_model():
    sn.seed(0)
    x = sn.input("x", (None, FEATURES), dtype="float64")
    y = sn.input("y", (None, 2), dtype="float64")
    a = sn.dense(x, 2, activation="sigmoid", name="out")
    return sn.compile(sn.mse(a, y), a, sn.SGD(lr=1.0))


def test_weighted_gradient_against_central_differences_of_an_independent_formula(rng):
    """The cost sum_i w_i (-sum_j y_ij ln softmax(x_i W + b)_ij) / N + lam/(2n) sum W^2 written here in NumPy
    (the L2 term unweighted); evaluate's weighted loss equals it, and one SGD step of rate 1 moves each weight
    by its central-difference gradient."""
    x, _, y = data(rng, "float64")
    w = rng.uniform(0.0, 3.0, ROWS)
    lam = 0.3
    sn.seed(0)
    tx, ty = sn.input("x", (None, FEATURES), dtype="float64"), sn.input("y", (None, CLASSES), dtype="float64")
    z = sn.dense(tx, CLASSES, name="out")
    net = sn.compile(sn.softmax_cross_entropy(z, ty) + sn.l2(lam, ROWS), sn.softmax(z), sn.SGD(lr=1.0))
    params = weights_of(net)

    def cost(values):
        logits = x @ values["out/W"] + values["out/b"]
        shifted = logits - logits.max(1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        return np.sum(w * -np.sum(y * log_p, 1)) / ROWS + lam / (2 * ROWS) * np.sum(values["out/W"] ** 2)

    assert net.evaluate(x, y, sample_weight=w)["loss"] == pytest.approx(cost(params), rel=1e-12)
    net.fit(x, y, epochs=1, batch_size=ROWS, shuffle=False, verbose=0, sample_weight=w)
    for name in params:
        def along(v, name=name):
            return cost({**params, name: v})
        numeric = central_difference(along, params[name].copy())
        np.testing.assert_allclose(params[name] - net.params[name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_weights_of_zero_leave_the_unweighted_penalty(rng):
    """L2 sums over the weights, not the rows: with every row weighted 0 the loss is the penalty alone."""
    x, _, y = data(rng, "float64")
    net = softmax_model("float64", l2=0.4)
    penalty = 0.4 / (2 * ROWS) * sum(np.sum(net.params[k] ** 2) for k in ("hidden/W", "out/W"))
    assert net.evaluate(x, y, sample_weight=np.zeros(ROWS))["loss"] == pytest.approx(penalty, rel=1e-12)


@pytest.mark.parametrize("labels", ["one_hot", "integer", "binary"])
def test_class_weight_equals_the_same_weights_per_row(labels, rng):
    x, classes, one_hot = data(rng)
    table = {0: 0.5, 1: 3.0, 2: 1.25}
    if labels == "binary":
        build, y, table = sigmoid_model, (classes[:, None] == 1).astype("float32"), {1: 4.0}
        per_row = np.where(classes == 1, 4.0, 1.0)  # class 0 left out: weight 1
    else:
        build = (lambda: softmax_model(labels=labels))
        y = classes if labels == "integer" else one_hot
        per_row = np.array([table[c] for c in classes])
    by_class, by_row = build(), build()
    a = by_class.fit(x, y, epochs=2, batch_size=5, seed=1, verbose=0, class_weight=table)
    b = by_row.fit(x, y, epochs=2, batch_size=5, seed=1, verbose=0, sample_weight=per_row)
    assert [e["loss"] for e in a.epochs] == [e["loss"] for e in b.epochs]
    for name, value in weights_of(by_class).items():
        assert np.array_equal(value, by_row.params[name]), name


@pytest.mark.parametrize("given, message", [
    (dict(sample_weight=np.r_[np.ones(5), -1.0, np.ones(6)]), "sample_weight of row 5 is -1.0"),
    (dict(sample_weight=np.r_[np.ones(7), np.nan, np.ones(4)]), "sample_weight of row 7 is nan"),
    (dict(sample_weight=np.ones(ROWS - 1)), "expected one weight per row of the data, (12,)"),
    (dict(sample_weight="heavy"), "sample_weight must be an array of numbers"),
    (dict(class_weight={0: 1.0, 3: 2.0}), "class_weight names class 3, which the model does not have"),
    (dict(class_weight={1: -2.0}), "class_weight of class 1 is -2.0"),
    (dict(class_weight=[1.0, 2.0, 3.0]), "class_weight must be a dict"),
])
def test_bad_weights_are_refused_before_training(given, message, rng):
    x, _, y = data(rng)
    net = softmax_model()
    before = weights_of(net)
    with pytest.raises(sn.ArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        net.fit(x, y, epochs=1, verbose=0, **given)
    assert net.epochs_done == 0 and all(np.array_equal(v, net.params[k]) for k, v in before.items())


def test_evaluate_refuses_bad_weights_and_class_weight_needs_a_classifier(rng):
    x, _, y = data(rng)
    net = softmax_model()
    with pytest.raises(sn.ArgumentError, match="sample_weight of row 2 is inf"):
        net.evaluate(x, y, sample_weight=np.r_[1.0, 1.0, np.inf, np.ones(9)])
    sn.seed(0)
    tx = sn.input("x", (None, FEATURES))
    decoded = sn.dense(sn.dense(tx, 2, name="code"), FEATURES, name="decoded")
    autoencoder = sn.compile(sn.mse(decoded, tx), decoded)  # no label: no class to weigh by
    with pytest.raises(sn.ArgumentError, match="class_weight needs a classifier"):
        autoencoder.fit({"x": x}, verbose=0, class_weight={0: 2.0})


def test_validation_split_sets_the_held_out_rows_weights_aside(rng):
    """The first ceil(0.75 N) rows train, weighted as given; the rest validate: the same as fitting them alone."""
    x, _, y = data(rng)
    w = rng.uniform(0.5, 2.0, ROWS)
    split, alone = softmax_model(), softmax_model()
    split.fit(x, y, epochs=1, batch_size=4, seed=2, verbose=0, sample_weight=w, validation_split=0.25)
    alone.fit(x[:9], y[:9], epochs=1, batch_size=4, seed=2, verbose=0, sample_weight=w[:9])
    for name, value in weights_of(alone).items():
        assert np.array_equal(value, split.params[name]), name


def test_a_loss_reducing_rows_other_than_by_sums_refuses_weights(rng):
    """A maximum over the batch has no weighted form: the error names the op and the line where it was made."""
    sn.seed(0)
    x, y = sn.input("x", (None, FEATURES)), sn.input("y", (None, 2))
    a = sn.dense(x, 2, name="out")
    net = sn.compile(sn.max(sn.square(a - y)), a)
    with pytest.raises(sn.GraphError, match=r"max.*test_sample_weights\.py:\d+.*sample weights"):
        net.fit(rng.normal(size=(ROWS, FEATURES)).astype("float32"), rng.normal(size=(ROWS, 2)).astype("float32"),
                verbose=0, sample_weight=np.ones(ROWS))
