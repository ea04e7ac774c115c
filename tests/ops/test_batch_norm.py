"""sn.batch_norm: its definition in training and evaluation, its gradient, and the moving statistics a
compiled training loop writes, each against a NumPy computation written here from the formulas."""
import numpy as np
import pytest

import staticnet as sn
from tests.conftest import check_grads


def normalised(x, mean, variance, gamma, beta, eps):
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def set_statistics(out, seed):
    """Random gamma, beta and moving statistics for the batch norm computing `out`."""
    rng = np.random.default_rng(seed)
    values = {}
    for leaf in sn.Graph(out).params:
        leaf.value[...] = rng.uniform(0.5 if leaf.name.endswith(("gamma", "moving_var")) else -1.0, 2.0, leaf.shape)
        values[leaf.name.rpartition("/")[2]] = leaf.value.copy()
    return values


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5)])
def test_training_uses_the_batch_statistics_and_evaluation_the_moving_ones(shape):
    x = sn.input("x", (None,) + shape[1:], dtype="float64")
    out = sn.batch_norm(x, eps=1e-3)
    v = set_statistics(out, 1)
    data = np.random.default_rng(2).normal(3, 2, shape)
    axes = tuple(range(len(shape) - 1))
    mean = data.sum(axes) / (data.size / shape[-1])
    biased = ((data - mean) ** 2).sum(axes) / (data.size / shape[-1])
    for backend in ("numpy", "numba"):
        v = set_statistics(out, 1)  # a training function's call moves the moving statistics
        evaluated = sn.function([x], out, backend=backend)(data)
        trained = sn.function([x], out, training=True, backend=backend)(data)
        np.testing.assert_allclose(trained, normalised(data, mean, biased, v["gamma"], v["beta"], 1e-3), rtol=1e-10)
        np.testing.assert_allclose(evaluated, normalised(data, v["moving_mean"], v["moving_var"], v["gamma"],
                                                         v["beta"], 1e-3), rtol=1e-10)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_the_gradient_matches_central_differences(training):
    """Of x, and of gamma and beta as inputs of the op (the parameters fed as values).  The graph and its
    gradient are built as a model builds them, in training form; a function made for evaluation differentiates
    the form that reads the moving statistics, value and gradient alike."""
    rng = np.random.default_rng(3)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2, 3)

    def build(x, gamma, beta):
        from staticnet.graph import make_node
        stats = [sn.constant(mean), sn.constant(var)]
        return make_node("batch_norm", (x, gamma, beta, *stats), {"eps": 1e-3, "momentum": 0.9, "training": True})
    for x in (rng.normal(size=(5, 3)), rng.normal(size=(2, 3, 2, 3))):
        for backend in ("numpy", "numba"):
            check_grads(build, [x, rng.uniform(0.5, 2, 3), rng.normal(size=3)], batch=[True, False, False],
                        backend=backend, training=training)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_the_gradient_of_the_statistics_given_matches_central_differences(training):
    """The moving statistics fed as inputs: evaluation normalises with them (a gradient), training with the
    batch's (none); x's gradient beside them, compiled and reference."""
    rng = np.random.default_rng(8)

    def build(x, mean, var):
        from staticnet.graph import make_node
        gamma, beta = sn.constant(rng.uniform(0.5, 2, 3)), sn.constant(rng.normal(size=3))
        return make_node("batch_norm", (x, gamma, beta, mean, var), {"eps": 1e-3, "momentum": 0.9, "training": True})
    for backend in ("numpy", "numba"):
        check_grads(build, [rng.normal(size=(2, 2, 2, 3)), rng.normal(size=3), rng.uniform(0.5, 2, 3)],
                    batch=[True, False, False], backend=backend, training=training)


def test_a_gradient_of_the_moving_mean_alone_leaves_the_statistics_unchanged():
    """Evaluation, x and the moving mean differentiated, the moving variance not: the compiled gradient
    writes only the parts read (no stand-in is written over a value) and equals the reference's."""
    x = sn.input("x", (None, 3), dtype="float64")
    out = sn.batch_norm(x)
    v = set_statistics(out, 9)
    moving_mean = next(t for t in sn.Graph(out).params if t.name.endswith("moving_mean"))
    loss = sn.sum(out * out)
    data = np.random.default_rng(10).normal(size=(5, 3))
    results = [sn.function([x], sn.grad(loss, [x, moving_mean]), backend=backend)(data)
               for backend in ("numpy", "numba")]
    for reference, compiled in zip(*results):
        np.testing.assert_allclose(compiled, reference, rtol=1e-10)
    assert np.abs(results[1][1]).min() > 0
    for leaf in sn.Graph(out).params:
        np.testing.assert_array_equal(leaf.value, v[leaf.name.rpartition("/")[2]])


def numpy_moving_statistics(z_batches, momentum, channels):
    """The issue's update, batch by batch: the unbiased variance (n - 1) for the moving one."""
    mean, var = np.zeros(channels), np.ones(channels)
    for z in z_batches:
        flat = z.reshape(-1, channels)
        mean = momentum * mean + (1 - momentum) * flat.mean(0)
        var = momentum * var + (1 - momentum) * flat.var(0, ddof=1)
    return mean, var


@pytest.mark.parametrize("images", [False, True], ids=["dense", "conv"])
def test_the_moving_statistics_after_k_steps_equal_a_numpy_recomputation(images):
    """A frozen layer before the batch norm fixes what it normalises, so NumPy can replay the updates; 23 rows
    in batches of 5 end with a partial batch."""
    sn.seed(0)
    rng = np.random.default_rng(4)
    if images:
        x = sn.input("x", (None, 5, 5, 2), dtype="float64")
        z = sn.conv2d(x, 3, 3, trainable=False, name="frozen")
        features = rng.normal(1, 2, (23, 5, 5, 2))
    else:
        x = sn.input("x", (None, 4), dtype="float64")
        z = sn.dense(x, 3, trainable=False, name="frozen")
        features = rng.normal(1, 2, (23, 4))
    y = sn.input("y", (None, 2), dtype="float64")
    p = sn.dense(sn.flatten(sn.relu(sn.batch_norm(z, momentum=0.8, name="bn"))), 2, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.05))
    labels = np.eye(2)[rng.integers(0, 2, 23)]
    frozen = {k: net.params[k].copy() for k in ("frozen/W", "frozen/b")}
    trained = {k: net.params[k].copy() for k in ("bn/gamma", "dense1/W")}
    net.fit({"x": features, "y": labels}, epochs=2, batch_size=5, shuffle=False, verbose=0)
    zs = sn.function([x], z)(features)
    batches = [zs[s:s + 5] for s in range(0, 23, 5)] * 2
    mean, var = numpy_moving_statistics(batches, 0.8, 3)
    np.testing.assert_allclose(net.params["bn/moving_mean"], mean, rtol=1e-10)
    np.testing.assert_allclose(net.params["bn/moving_var"], var, rtol=1e-10)
    for name, value in frozen.items():
        np.testing.assert_array_equal(net.params[name], value)
    for name, value in trained.items():
        assert not np.array_equal(net.params[name], value)
    # evaluation reads the moving statistics just written
    gamma, beta = net.params["bn/gamma"], net.params["bn/beta"]
    hidden = np.maximum(normalised(zs, mean, var, gamma, beta, 1e-3), 0).reshape(23, -1)
    logits = hidden @ net.params["dense1/W"] + net.params["dense1/b"]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(net.predict(features), expected / expected.sum(1, keepdims=True), rtol=1e-8)


def test_the_moving_statistics_follow_a_layer_that_trains():
    """The update reads the batch the step normalised, before the optimizer's updates change the layer: the
    compiled epoch against the reference interpreter stepping the same batches with the same updates."""
    sn.seed(1)
    rng = np.random.default_rng(5)
    x, y = sn.input("x", (None, 4), dtype="float64"), sn.input("y", (None, 1), dtype="float64")
    p = sn.dense(sn.tanh(sn.batch_norm(sn.dense(x, 3), momentum=0.7)), 1, activation="sigmoid")
    loss = sn.cross_entropy(p, y)
    net = sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.5))
    start = {k: v.copy() for k, v in net.params.items()}
    data = {"x": rng.normal(size=(12, 4)), "y": rng.integers(0, 2, (12, 1)).astype(float)}
    net.fit(data, epochs=1, batch_size=4, shuffle=False, verbose=0)
    compiled = {k: v.copy() for k, v in net.params.items()}
    for k, v in start.items():
        net.params[k] = v
    bn = next(n for n in sn.Graph(loss).nodes if n.op == "batch_norm")
    hidden_in = bn.inputs[0]
    weights = [t for t in sn.Graph(loss).params if t.trainable]
    grads = sn.grad(loss, weights)
    moving_mean, moving_var = bn.inputs[3], bn.inputs[4]
    step = sn.function([x, y], [loss, hidden_in], updates=[(w, w - 0.5 * g) for w, g in zip(weights, grads)],
                       backend="numpy", training=True)
    mean, var = np.zeros(3), np.ones(3)
    for s in range(0, 12, 4):
        _, h = step(data["x"][s:s + 4], data["y"][s:s + 4])
        mean, var = 0.7 * mean + 0.3 * h.mean(0), 0.7 * var + 0.3 * h.var(0, ddof=1)
    np.testing.assert_allclose(compiled[moving_mean.name], mean, rtol=1e-10)
    np.testing.assert_allclose(compiled[moving_var.name], var, rtol=1e-10)
    np.testing.assert_allclose(moving_var.value, var, rtol=1e-10)  # the hand-written training step wrote them too
    for w in weights:  # the bias before a batch norm has a gradient of zero up to rounding: atol
        np.testing.assert_allclose(compiled[w.name], w.value, rtol=1e-10, atol=1e-14)


def test_batch_norm_names_its_parameters_as_keras_and_refuses_bad_arguments():
    x = sn.input("x", (None, 4, 4, 3))
    out = sn.batch_norm(x)
    params = {t.name: t for t in sn.Graph(out).params}
    assert set(params) == {"batch_norm1/gamma", "batch_norm1/beta", "batch_norm1/moving_mean",
                           "batch_norm1/moving_var"}
    assert [params[k].value.tolist() for k in sorted(params)] == [[0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]]
    assert [params[k].trainable for k in sorted(params)] == [True, True, False, False]
    with pytest.raises(sn.GraphError, match="batch_norm.*momentum must be a number in \\[0, 1\\)"):
        sn.batch_norm(x, momentum=1.0)
    with pytest.raises(sn.GraphError, match="batch_norm.*eps must be a finite number > 0"):
        sn.batch_norm(x, eps=0)
    with pytest.raises(sn.ShapeError, match="batch_norm"):
        sn.batch_norm(sn.input("v", (4,)))


def test_a_batch_norm_node_whose_statistics_do_not_have_one_value_per_channel_is_refused():
    """As a model file or an ONNX import rebuilds it: a gamma of one value for four features would make the
    compiled kernel read past it (the decomposition alone broadcasts it)."""
    from staticnet.graph import make_node
    x = sn.input("x", (None, 4))
    one, four = sn.param("g", value=np.ones(1, np.float32)), [sn.param(n, value=np.ones(4, np.float32))
                                                              for n in ("b", "m", "v")]
    with pytest.raises(sn.ShapeError, match=r"gamma has shape \(1,\)"):
        make_node("batch_norm", (x, one, *four), {"eps": 1e-3, "momentum": 0.99, "training": True})


def test_a_frozen_batch_norm_runs_in_inference_mode_in_training_as_keras_does():
    """trainable=False: training normalises with the moving statistics, writes none of the layer's parameters, and
    the layers before it train through it: fit's weights equal SGD replayed here on the NumPy reference, whose
    step's batch norm values are checked against the inference formula."""
    sn.seed(0)
    x, y = sn.input("x", (None, 4), dtype="float64"), sn.input("y", (None, 2), dtype="float64")
    before_bn = sn.dense(x, 3)
    h = sn.batch_norm(before_bn, trainable=False, name="bn")
    p = sn.dense(h, 2, activation="softmax")
    loss = sn.cross_entropy(p, y)
    net = sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.5))
    v = set_statistics(h, 3)
    start = {k: value.copy() for k, value in net.params.items()}
    rng = np.random.default_rng(4)
    data = {"x": rng.normal(size=(12, 4)), "y": np.eye(2)[rng.integers(0, 2, 12)]}
    net.fit(data, epochs=1, batch_size=4, shuffle=False, verbose=0)
    compiled = {k: value.copy() for k, value in net.params.items()}
    for k, value in start.items():
        net.params[k] = value
    weights = [t for t in sn.Graph(loss).params if t.trainable]
    assert sorted(t.name for t in weights) == ["dense1/W", "dense1/b", "dense2/W", "dense2/b"]
    step = sn.function([x, y], [before_bn, h], updates=[(w, w - 0.5 * g) for w, g in zip(weights, sn.grad(loss, weights))],
                       backend="numpy", training=True)
    for s in range(0, 12, 4):
        z, normed = step(data["x"][s:s + 4], data["y"][s:s + 4])
        np.testing.assert_allclose(normed, normalised(z, v["moving_mean"], v["moving_var"], v["gamma"], v["beta"],
                                                      1e-3), rtol=1e-10)
    for name in ("bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_var"):
        np.testing.assert_array_equal(compiled[name], start[name], err_msg=name)
    for w in weights:
        assert not np.array_equal(compiled[w.name], start[w.name]), w.name
        np.testing.assert_allclose(compiled[w.name], w.value, rtol=1e-10, atol=1e-14, err_msg=w.name)
