"""Every op, compiled, against the NumPy reference executor; then random graphs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import staticnet as sn
from staticnet.ops.reduce import sum_of_squares

TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}

UNARY = ["neg", "exp", "square", "abs", "sign", "erf", "cos", "sin", "sigmoid", "tanh", "relu", "softplus", "step",
         "leaky_relu", "elu", "swish", "gelu", "softmax", "log_softmax", "hard_sigmoid"]
POSITIVE = ["log", "sqrt"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "greater", "greater_equal", "less", "less_equal", "equal"]


def compare(build, arrays, dtype):
    """Matrices are fed with a batch dimension, vectors as they are."""
    inputs = [sn.input(f"a{i}", ((None,) + a.shape[1:]) if a.ndim >= 2 else a.shape, dtype=dtype)
              for i, a in enumerate(arrays)]
    out = build(*inputs)
    outs = out if isinstance(out, list) else [out]
    scalar = sn.sum(outs[0]) if outs[0].shape else outs[0]
    grads = sn.grad(scalar, [t for t in inputs]) if outs[0].is_float else []
    arrays = [a.astype(dtype) for a in arrays]
    reference = sn.function(inputs, outs + grads, backend="numpy")(*arrays)
    compiled = sn.function(inputs, outs + grads)(*arrays)
    for r, c in zip(reference, compiled):
        assert c.shape == r.shape and c.dtype == r.dtype
        np.testing.assert_allclose(c, r, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY + POSITIVE)
def test_unary_op(name, dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 3, (5, 4)) if name in POSITIVE else rng.uniform(-3, 3, (5, 4))
    compare(getattr(sn, name), [x], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_op_with_broadcasting(name, dtype):
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-2, 2, (5, 3)), rng.uniform(0.5, 2, (3,))
    op = getattr(sn, name)
    compare(lambda x, y: op(x, y), [a, b], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_reductions_and_shapes(dtype):
    rng = np.random.default_rng(2)
    W = sn.constant(rng.normal(size=(4, 3)).astype(dtype))

    def build(x):
        h = x @ W
        return [sn.sum(h, 0), sn.mean(h, 1, keepdims=True), sn.max(h, 1), sn.reshape(h, (None, 3, 1)),
                sn.transpose(h), sn.flatten(sn.reshape(h, (None, 3, 1)))]

    x = rng.normal(size=(6, 4))
    inputs = [sn.input("x", (None, 4), dtype=dtype)]
    outs = build(*inputs)
    ref = sn.function(inputs, outs, backend="numpy")(x.astype(dtype))
    got = sn.function(inputs, outs)(x.astype(dtype))
    for r, c in zip(ref, got):
        np.testing.assert_allclose(c, r, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_costs(dtype):
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(8, 5)), np.eye(5)[rng.integers(0, 5, 8)]
    for cost in (lambda a, b: sn.mse(sn.sigmoid(a), b), lambda a, b: sn.cross_entropy(sn.sigmoid(a), b),
                 lambda a, b: sn.cross_entropy(sn.softmax(a), b), sn.softmax_cross_entropy,
                 lambda a, b: sn.cross_entropy(sn.sigmoid(a) * 0.5 + 0.25, b)):
        compare(lambda a, b: [cost(a, b)], [z, y], dtype)


def test_integer_labels_and_one_hot():
    rng = np.random.default_rng(4)
    z = sn.input("z", (None, 3))
    labels = sn.input("l", (None,), dtype="int64")
    loss = sn.softmax_cross_entropy(z, labels)
    outs = [loss, sn.grad(loss, z), sn.one_hot(labels, 3)]
    args = (rng.normal(size=(5, 3)), rng.integers(0, 3, 5))
    for r, c in zip(sn.function([z, labels], outs, backend="numpy")(*args), sn.function([z, labels], outs)(*args)):
        np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-6)


@st.composite
def random_graph(draw):
    """A random chain of ops over a (None, 4) input and a (4,) parameter-like constant."""
    steps = draw(st.lists(st.sampled_from(["add_c", "mul_c", "sigmoid", "tanh", "relu", "square", "neg", "matmul",
                                           "exp_small", "sum_keep", "softplus", "maximum_c"]), min_size=1, max_size=6))
    return steps


def apply_steps(x, c, W, steps):
    for s in steps:
        if s == "add_c":
            x = x + c
        elif s == "mul_c":
            x = x * c
        elif s == "matmul":
            x = x @ W
        elif s == "exp_small":
            x = sn.exp(sn.tanh(x))
        elif s == "sum_keep":
            x = x + sn.sum(x, 1, keepdims=True)
        elif s == "maximum_c":
            x = sn.maximum(x, c)
        else:
            x = getattr(sn, s)(x)
    return x


def random_graph_values(steps, seed, dtype, backend):
    rng = np.random.default_rng(seed)
    x = sn.input("x", (None, 4), dtype=dtype)
    c = sn.constant(rng.uniform(0.5, 1.5, 4).astype(dtype))
    W = sn.param("W", value=rng.normal(size=(4, 4)).astype(dtype) * 0.5)
    out = apply_steps(x, c, W, steps)
    outs = [out] + sn.grad(sn.sum(out), [x, W])
    return sn.function([x], outs, backend=backend)(rng.normal(size=(3, 4)).astype(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@settings(max_examples=8)
@given(steps=random_graph(), seed=st.integers(0, 1000))
def test_random_graphs_match_the_reference(dtype, steps, seed):
    """float64: compiled equals the reference to 1e-10.  float32: both are compared with the float64
    reference, and the compiled code may not be much less accurate than the float32 reference (an
    ill-conditioned chain such as 1 - tanh(z)^2 at large z loses every digit in either)."""
    compiled = random_graph_values(steps, seed, dtype, "numba")
    reference = random_graph_values(steps, seed, dtype, "numpy")
    if dtype == "float64":
        for r, got in zip(reference, compiled):
            scale = max(1.0, float(np.abs(r).max()))
            np.testing.assert_allclose(got, r, rtol=1e-10, atol=1e-12 * scale)
        return
    exact = random_graph_values(steps, seed, "float64", "numpy")
    for r32, got, r64 in zip(reference, compiled, exact):
        scale = max(1.0, float(np.abs(r64).max()))
        reference_error = np.abs(r32 - r64)
        assert np.all(np.abs(got - r64) <= 4 * reference_error + 1e-5 * np.abs(r64) + 1e-6 * scale)


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 2.5])


def compare_special(build, arrays, dtype, gradients=True, training=False):
    """compare() on arrays holding NaN and infinities: NaN where the reference has NaN, the same infinities;
    `training`: as a training step computes (batch norm's batch statistics)."""
    inputs = [sn.input(f"a{i}", ((None,) + a.shape[1:]) if a.ndim >= 2 else a.shape, dtype=dtype)
              for i, a in enumerate(arrays)]
    out = build(*inputs)
    outs = out if isinstance(out, list) else [out]
    grads = sn.grad(sn.sum(outs[0]) if outs[0].shape else outs[0], inputs) if gradients else []
    arrays = [a.astype(dtype) for a in arrays]
    with np.errstate(all="ignore"):
        reference = sn.function(inputs, outs + grads, backend="numpy", training=training)(*arrays)
        compiled = sn.function(inputs, outs + grads, training=training)(*arrays)
    for r, c in zip(reference, compiled):
        np.testing.assert_array_equal(np.isnan(c), np.isnan(r))
        np.testing.assert_array_equal(np.isinf(c) & (c > 0), np.isinf(r) & (r > 0))
        np.testing.assert_array_equal(np.isinf(c) & (c < 0), np.isinf(r) & (r < 0))
        finite = np.isfinite(r)
        np.testing.assert_allclose(c[finite], r[finite], **TOLERANCE[dtype])


def special_matrix(rows, columns, seed):
    """Every special value in every column, among ordinary ones."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (rows, columns))
    for j in range(columns):
        x[(np.arange(len(SPECIAL)) + j) % rows, j] = SPECIAL
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY + POSITIVE)
def test_unary_op_propagates_nan_and_inf_as_the_reference(name, dtype):
    compare_special(getattr(sn, name), [special_matrix(9, 4, 0)], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_op_propagates_nan_and_inf_as_the_reference(name, dtype):
    op = getattr(sn, name)
    a = special_matrix(9, 8, 1)
    b = np.concatenate([SPECIAL, [1.0]])[:8]  # each special value against each, through broadcasting
    compare_special(lambda x, y: op(x, y), [a, b], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reductions_products_and_costs_propagate_nan_and_inf_as_the_reference(dtype):
    W = sn.constant(np.random.default_rng(2).normal(size=(4, 3)).astype(dtype))
    x = special_matrix(9, 4, 3)
    y = np.eye(4)[np.random.default_rng(4).integers(0, 4, 9)]
    compare_special(lambda a: [sn.sum(a, 0), sn.max(a, 1), sn.mean(a, 1, keepdims=True), a @ W, sn.sum(a)], [x],
                    dtype, gradients=False)
    compare_special(lambda a: sn.max(a, 1), [x], dtype)
    for cost in (lambda a, b: sn.mse(sn.sigmoid(a), b), lambda a, b: sn.cross_entropy(sn.sigmoid(a), b),
                 sn.softmax_cross_entropy, lambda a, b: sn.cross_entropy(sn.softmax(a), b)):
        compare_special(lambda a, b: [cost(a, b)], [x, y], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_convolution_and_pooling_propagate_nan_and_inf_as_the_reference(dtype):
    x = np.random.default_rng(5).uniform(-1, 1, (2, 6, 6, 2))
    x[0, 1, 1, 0], x[0, 3, 4, 1], x[1, 0, 5, 0], x[1, 5, 0, 1] = np.nan, np.inf, -np.inf, np.nan
    sn.seed(0)
    for build in (lambda a: sn.conv2d(a, 3, 3, activation="sigmoid"), lambda a: sn.max_pool2d(a, 2),
                  lambda a: sn.avg_pool2d(a, 2), lambda a: sn.max_pool2d(sn.conv2d(a, 3, 3, padding="same"), 2)):
        compare_special(build, [x], dtype)


def test_a_nan_network_reports_nan_and_no_correct_rows():
    """All-NaN weights: the loss is NaN, predictions NaN, and no row counts as correctly classified."""
    sn.seed(0)
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(x, 2, activation="sigmoid", name="d")
    net = sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    net.params["d/W"] = np.full((3, 2), np.nan)
    data = {"x": np.ones((4, 3), np.float32), "y": np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]}
    scores = net.evaluate(data)
    assert np.isnan(scores["loss"]) and scores["accuracy"] == 0.0
    assert np.isnan(net.predict({"x": data["x"]})).all()


def test_cast_to_an_integer_truncates_even_inside_a_fused_loop():
    x = sn.input("x", (None, 3))
    out = sn.cast(sn.cast(x, "int64"), "float32") * 1.0 + 0.0
    values = np.array([[-2.7, 0.5, 1.5]], np.float32)
    np.testing.assert_array_equal(sn.function([x], out)(values), [[-2.0, 0.0, 1.0]])


@pytest.mark.parametrize("build", [lambda x: x * np.inf, lambda x: x + float("nan"),
                                   lambda x: sn.where(x > 0, x, -np.inf), lambda x: sn.maximum(x, np.float32(-np.inf))])
def test_infinite_and_nan_constants_compile_and_match_the_reference(build):
    compare_special(build, [special_matrix(9, 3, 6)], "float32", gradients=False)


SHAPE_AND_NORMALISATION = {
    "slice": lambda a: a[:, 1:7:2], "reversed slice": lambda a: a[:, ::-1], "index": lambda a: a[:, -2],
    "concat": lambda a: sn.concat([a, a[:, :3] * 2.0]), "split": lambda a: sn.split(a, [3, 5])[1] * 3.0,
    "stack": lambda a: sn.stack([a, a * 2.0], axis=2), "layer_norm": lambda a: sn.layer_norm(a),
    "global_avg_pool2d": lambda a: sn.global_avg_pool2d(sn.reshape(a, (None, 2, 2, 2))),
    "global_max_pool2d": lambda a: sn.global_max_pool2d(sn.reshape(a, (None, 2, 2, 2))),
    "sum_of_squares": lambda a: sum_of_squares(sn.sum(a, 0)) * a}  # its operand has no batch axis


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", SHAPE_AND_NORMALISATION)
def test_slicing_joining_layer_norm_and_global_pools_match_the_reference(name, dtype):
    build = SHAPE_AND_NORMALISATION[name]
    compare(build, [np.random.default_rng(8).uniform(-3, 3, (5, 8))], dtype)
    compare_special(build, [special_matrix(9, 8, 9)], dtype)


def batch_norm_with_statistics(x, seed=6):
    """sn.batch_norm of x with gamma, beta and moving statistics drawn at random (not its initial ones)."""
    out = sn.batch_norm(x)
    rng = np.random.default_rng(seed)
    for leaf in sn.Graph(out).params:
        low = 0.5 if leaf.name.endswith(("moving_var", "gamma")) else -1.0
        leaf.value[...] = rng.uniform(low, 2.0, leaf.shape)
    return out


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_matches_the_reference_with_nan_and_inf(dtype, training):
    sn.seed(0)
    ordinary = np.random.default_rng(7).uniform(-3, 3, (9, 4))
    compare_special(batch_norm_with_statistics, [ordinary], dtype, training=training)
    compare_special(batch_norm_with_statistics, [special_matrix(9, 4, 8)], dtype, training=training)
    images = np.random.default_rng(9).uniform(-1, 1, (3, 4, 4, 2))
    images[0, 1, 2, 0], images[2, 3, 0, 1] = np.nan, np.inf  # channel 0 NaN, channel 1 infinite
    compare_special(batch_norm_with_statistics, [images], dtype, training=training)


def recurrent_layers(a):
    """An LSTM and a GRU over a sequence, with every gradient of their parameters as further outputs."""
    sn.seed(0)
    h = sn.gru(sn.lstm(a, 3, return_sequences=True, name="l"), 2, return_sequences=True, name="g")
    return [h] + sn.grad(sn.sum(h * h), sn.Graph(h).params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_and_gru(dtype):
    compare(recurrent_layers, [np.random.default_rng(6).normal(size=(3, 5, 4))], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_and_gru_propagate_nan_and_inf_as_the_reference(dtype):
    x = special_matrix(8, 12, 7).reshape(2, 4, 12)[:, :, :4].copy()
    compare_special(recurrent_layers, [x], dtype)
    saturated = np.random.default_rng(8).normal(size=(2, 4, 4))  # one infinity a row saturates the gates
    saturated[0, 1, 2], saturated[1, 2, 0], saturated[1, 0, 3], saturated[0, 3, 1] = np.inf, -np.inf, 1e30, -1e30
    compare_special(recurrent_layers, [saturated], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_propagates_nan_and_inf_as_the_reference(dtype):
    """A table holding every special value; the gradient of a product with a special-valued weight."""
    ids = sn.input("ids", (None, 3), dtype="int64")
    table = sn.constant(special_matrix(8, 3, 9).astype(dtype))
    out = sn.embedding(ids, 8, 3, dtype=dtype, name="emb")
    (param,) = sn.Graph(out).params
    param.value = table.value
    scale = sn.input("s", (None, 3, 3), dtype=dtype)
    outs = [out] + sn.grad(sn.sum(out * scale), [param])
    id_values = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 7], [7, 0, 2]])
    scales = special_matrix(12, 3, 10).reshape(4, 3, 3).astype(dtype)
    with np.errstate(all="ignore"):
        reference = sn.function([ids, scale], outs, backend="numpy")(id_values, scales)
        compiled = sn.function([ids, scale], outs)(id_values, scales)
    for r, c in zip(reference, compiled):
        np.testing.assert_array_equal(c, r)  # copies and sums in the same order: the same bits
