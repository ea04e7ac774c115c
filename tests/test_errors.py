"""Each graph mistake is caught at build time, naming the op, the shapes and the user's line."""
import os
import re

import numpy as np
import pytest

import staticnet as sn

HERE = os.path.relpath(__file__)
x = sn.input("x", (None, 784))
y10 = sn.input("y", (None, 10))
labels = sn.input("labels", (None,), dtype="int64")
W = sn.param("W", (100, 10))
x64 = sn.input("x64", (None, 784), dtype="float64")
img = sn.input("img", (None, 8, 8, 1))

MISTAKES = [
    ("matmul inner dims", lambda: x @ W, sn.ShapeError,
     r"matmul at {loc}: \(None, 784\) @ \(100, 10\): inner dimensions 784 and 100 differ"),
    ("matmul by a 3-D tensor", lambda: sn.input("t", (None, 2, 3)) @ sn.param("T3", (3, 4, 5)), sn.ShapeError,
     r"matmul at {loc}: \(None, 2, 3\) @ \(3, 4, 5\): operands must be matrices, \(\.\.\., K\) and a matrix"),
    ("not broadcastable", lambda: y10 + sn.input("z", (None, 3)), sn.ShapeError,
     r"add at {loc}: shapes \(None, 10\) and \(None, 3\) do not broadcast: axis -1 has sizes 10, 3"),
    ("batch against a fixed size", lambda: y10 * sn.param("P", (5, 10)), sn.ShapeError,
     r"mul at {loc}: shapes \(None, 10\) and \(5, 10\) do not broadcast: axis -2 has sizes 5, batch"),
    ("cost label shape", lambda: sn.mse(sn.dense(x, 10), sn.input("yy", (None, 5))), sn.ShapeError,
     r"mse at {loc}: prediction \(None, 10\) and target \(None, 5\) have different shapes"),
    ("softmax xent labels", lambda: sn.softmax_cross_entropy(y10, sn.input("yl", (None, 9))), sn.ShapeError,
     r"softmax_cross_entropy at {loc}: labels \(None, 9\) do not match logits \(None, 10\)"),
    ("integer labels shape", lambda: sn.softmax_cross_entropy(y10, sn.input("il", (None, 10), dtype="int32")),
     sn.ShapeError, r"softmax_cross_entropy at {loc}: integer labels \(None, 10\) do not match logits"),
    ("reduction axis", lambda: sn.sum(y10, axis=2), sn.ShapeError,
     r"sum at {loc}: axis 2 is out of range for a tensor of shape \(None, 10\)"),
    ("mean axis", lambda: sn.mean(y10, axis=(0, -3)), sn.ShapeError,
     r"mean at {loc}: axis -3 is out of range"),
    ("int into activation", lambda: sn.sigmoid(labels), sn.DTypeError,
     r"sigmoid at {loc}: input of shape \(None,\) has dtype int64; this op needs float32 or float64"),
    ("unknown activation", lambda: sn.dense(x, 10, activation="sigmoyd"), sn.GraphError,
     r"dense at {loc}: unknown activation 'sigmoyd'; did you mean 'sigmoid'\? valid names: elu, gelu, .*sigmoid.*tanh"),
    ("far from any activation", lambda: sn.dense(x, 10, activation="banana"), sn.GraphError,
     r"dense at {loc}: unknown activation 'banana'; valid names: elu"),
    ("rnn activation", lambda: sn.rnn(sn.input("s", (None, 4, 3)), 5, activation="Tanh"), sn.GraphError,
     r"rnn at {loc}: unknown activation 'Tanh'; did you mean 'tanh'\? valid: "),
    ("dense without a batch axis", lambda: sn.dense(sn.input("v", (784,)), 10), sn.ShapeError,
     r"dense at {loc}: input of shape \(784,\) has no batch dimension: dense takes \(batch, features\); declare the "
     r"batch axis as None, e.g. sn.input\('v', \(None, 784\)\)$"),
    ("integer labels for one-hot", lambda: sn.cross_entropy(sn.dense(x, 10, activation="sigmoid"), labels),
     sn.ShapeError, r"cross_entropy at {loc}: prediction \(None, 10\) and target \(None,\) have different shapes; the "
     r"target holds integer class labels where one-hot rows are expected: use sn.softmax_cross_entropy\(logits, "
     r"labels\), which takes integer labels, or sn.one_hot\(labels, 10\)$"),
    ("dense on images", lambda: sn.dense(sn.input("img", (None, 28, 28)), 10), sn.ShapeError,
     r"dense at {loc}: input of shape \(None, 28, 28\) must be \(batch, features\); use sn.flatten"),
    ("reshape count", lambda: sn.reshape(x, (None, 27, 28)), sn.ShapeError,
     r"reshape at {loc}: \(None, 784\) -> \(None, 27, 28\): 784 elements per example cannot become 756"),
    ("reshape drops batch", lambda: sn.reshape(x, (784,)), sn.ShapeError,
     r"reshape at {loc}: \(None, 784\) -> \(784,\): the batch dimension \(None\) must be kept"),
    ("bad transpose", lambda: sn.transpose(y10, (0, 0)), sn.ShapeError,
     r"transpose at {loc}: axes \(0, 0\) are not a permutation"),
    ("mixed float dtypes", lambda: x + x64, sn.DTypeError,
     r"add at {loc}: operands mix float32 and float64; cast one with sn.cast"),
    ("param without shape", lambda: sn.param("B"), sn.GraphError,
     r"param at {loc}: 'B' needs a shape"),
    ("param with batch", lambda: sn.param("C", (None, 3)), sn.ShapeError,
     r"param at {loc}: 'C' has shape \(None, 3\): parameters have no batch dimension"),
    ("two batch dims", lambda: sn.input("q", (None, None)), sn.ShapeError,
     r"input at {loc}: 'q' has shape \(None, None\): only one dimension"),
    ("unknown dtype", lambda: sn.input("r", (None, 3), dtype="float16"), sn.DTypeError,
     r"input at {loc}: unsupported dtype 'float16'"),
    ("one_hot of floats", lambda: sn.one_hot(y10, 3), sn.DTypeError,
     r"one_hot at {loc}: labels have dtype float32"),
    ("softmax axis", lambda: sn.softmax(y10, axis=3), sn.ShapeError,
     r"softmax at {loc}: axis 3 is out of range"),
    ("gelu variant", lambda: sn.gelu(y10, approximate="erf"), sn.GraphError,
     r"gelu at {loc}: approximate='erf'"),
    ("grad of a non-scalar", lambda: sn.grad(sn.sigmoid(y10), y10), sn.GraphError,
     r"grad at {loc}: y must be a scalar \(shape \(\)\), got \(None, 10\)"),
    ("grad through labels", lambda: sn.grad(sn.softmax_cross_entropy(y10, labels), labels), sn.DTypeError,
     r"grad at {loc}: cannot differentiate with respect to .*integer dtype int64"),
    ("l2 without weights", lambda: sn.sum(y10) + sn.l2(0.1, 100), sn.GraphError,
     r"l2 at {loc}: the cost it is added to has no weights to regularise"),
    ("function missing input", lambda: sn.function([x], sn.sum(x) + sn.sum(y10)), sn.GraphError,
     r"function at {loc}: the outputs need input 'y'"),
    ("bad update", lambda: sn.function([x], x, updates=[(W, sn.transpose(W))]), sn.GraphError,
     r"function at {loc}: the update of 'W' \(100, 10\) float32 has the wrong shape"),
    ("pow", lambda: y10 ** 3, sn.GraphError, r"pow at {loc}: only x\*\*2 and x\*\*0.5"),
    ("truth value", lambda: bool(y10 > 0), sn.GraphError, r"has no truth value"),
    ("string operand", lambda: y10 + "a", sn.GraphError,
     r"add at {loc}: operands must be tensors, numbers or arrays of numbers, got 'a' \(str\)"),
    ("string in where", lambda: sn.where(y10 > 0, y10, None), sn.GraphError,
     r"where at {loc}: operands must be tensors, numbers or arrays of numbers, got None \(NoneType\)"),
    ("float axis", lambda: sn.sum(y10, axis=1.5), sn.ShapeError,
     r"sum at {loc}: axis must be an int, a tuple of ints or None, got 1.5"),
    ("bool axis", lambda: sn.softmax(y10, axis=True), sn.ShapeError,
     r"softmax at {loc}: axis must be an int, a tuple of ints or None, got True \(bool\)"),
    ("float kernel size", lambda: sn.conv2d(img, 4, 5.0), sn.GraphError,
     r"conv2d at {loc}: kernel_size must be a positive int or a pair of them, got 5.0"),
    ("bool kernel size", lambda: sn.conv2d(img, 4, True), sn.GraphError,
     r"conv2d at {loc}: kernel_size must be a positive int or a pair of them, got True \(bool\)"),
    ("bool padding", lambda: sn.conv2d(img, 4, 3, padding=True), sn.GraphError,
     r"conv2d at {loc}: padding must be 'valid', 'same' or a non-negative int, got True \(bool\)"),
    ("float pool window", lambda: sn.max_pool2d(img, 2.0), sn.GraphError,
     r"max_pool2d at {loc}: window must be a positive int or a pair of them, got 2.0"),
    ("float filters", lambda: sn.conv2d(img, 4.0, 3), sn.GraphError,
     r"conv2d at {loc}: filters must be a positive int, got 4.0"),
    ("bool units", lambda: sn.dense(x, True), sn.GraphError, r"dense at {loc}: units must be a positive int, got True \(bool\)"),
    ("rnn size", lambda: sn.rnn(sn.input("seq", (None, 4, 3)), "8"), sn.GraphError,
     r"rnn at {loc}: hidden_size must be a positive int, got '8' \(str\)"),
    ("one_hot of 0 classes", lambda: sn.one_hot(labels, 0), sn.GraphError,
     r"one_hot at {loc}: classes must be a positive int, got 0"),
    ("one_hot of -3 classes", lambda: sn.one_hot(labels, -3), sn.GraphError,
     r"one_hot at {loc}: classes must be a positive int, got -3"),
    ("one_hot of 2.5 classes", lambda: sn.one_hot(labels, 2.5), sn.GraphError,
     r"one_hot at {loc}: classes must be a positive int, got 2.5"),
    ("empty param", lambda: sn.param("E", value=np.zeros((3, 0))), sn.ShapeError,
     r"param at {loc}: 'E' has shape \(3, 0\): an empty array"),
    ("param named by a number", lambda: sn.param(123, (3,)), sn.GraphError,
     r"param at {loc}: the name must be a non-empty str, got 123"),
    ("input without a name", lambda: sn.input(None, (None, 3)), sn.GraphError,
     r"input at {loc}: the name must be a non-empty str, got None \(NoneType\)"),
    ("bool dimension", lambda: sn.input("b", (None, True)), sn.ShapeError,
     r"input at {loc}: shape \(None, True\): each dimension must be a positive int or None, got True \(bool\)"),
    ("bool in reshape", lambda: sn.reshape(x, (None, True, 784)), sn.ShapeError,
     r"reshape at {loc}: \(None, 784\) -> \(None, True, 784\): the target may hold positive ints"),
    ("dropout rate as text", lambda: sn.dropout(y10, "0.5"), sn.GraphError,
     r"dropout at {loc}: rate must be a number in \[0, 1\), got '0.5' \(str\)"),
    ("dropout rate of 1", lambda: sn.dropout(y10, 1.0), sn.GraphError,
     r"dropout at {loc}: rate must be a number in \[0, 1\), got 1.0"),
    ("l2 lam nan", lambda: sn.l2(float("nan"), 100), sn.GraphError, r"l2 at {loc}: lam must be a finite number >= 0, got nan"),
    ("l1 lam inf", lambda: sn.l1(np.inf, 100), sn.GraphError, r"l1 at {loc}: lam must be a finite number >= 0, got inf"),
    ("l2 lam negative", lambda: sn.l2(-1.0, 100), sn.GraphError, r"l2 at {loc}: lam must be a finite number >= 0, got -1.0"),
    ("l2 n fractional", lambda: sn.l2(5.0, 2.5), sn.GraphError,
     r"l2 at {loc}: n \(the training set size\) must be a positive int, got 2.5"),
    ("l1 n zero", lambda: sn.l1(5.0, 0), sn.GraphError, r"l1 at {loc}: n \(the training set size\) must be a positive int, got 0"),
]


@pytest.mark.parametrize("build,error,pattern", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistake_names_op_shapes_and_line(build, error, pattern):
    loc = re.escape(f"{HERE}:{build.__code__.co_firstlineno}")
    with pytest.raises(error, match=pattern.format(loc=loc)):
        build()


ARRAY = np.zeros((2, 28, 28, 1), np.float32)
ARRAY_TAKERS = [
    ("conv2d", lambda: sn.conv2d(ARRAY, 4, 5)),
    ("dense", lambda: sn.dense(ARRAY.reshape(2, 784), 10)),
    ("rnn", lambda: sn.rnn(ARRAY[..., 0], 8)),
    ("flatten", lambda: sn.flatten(ARRAY)),
    ("mean", lambda: sn.mean(ARRAY)),
    ("max_pool2d", lambda: sn.max_pool2d(ARRAY)),
    ("avg_pool2d", lambda: sn.avg_pool2d(ARRAY)),
    ("l2_pool2d", lambda: sn.l2_pool2d(ARRAY)),
    ("leaky_relu", lambda: sn.leaky_relu(ARRAY)),
    ("prelu", lambda: sn.prelu(ARRAY)),
    ("elu", lambda: sn.elu(ARRAY)),
    ("swish", lambda: sn.swish(ARRAY)),
    ("gelu", lambda: sn.gelu(ARRAY)),
    ("sigmoid", lambda: sn.sigmoid(ARRAY)),
    ("layer_norm", lambda: sn.layer_norm(ARRAY)),
    ("global_avg_pool2d", lambda: sn.global_avg_pool2d(ARRAY)),
    ("global_max_pool2d", lambda: sn.global_max_pool2d(ARRAY)),
    ("concat", lambda: sn.concat([img, ARRAY])),
    ("split", lambda: sn.split(ARRAY, 2)),
    ("stack", lambda: sn.stack([ARRAY, img])),
    ("describe", lambda: sn.describe(ARRAY)),
    ("to_dot", lambda: sn.to_dot([y10, ARRAY])),
]


@pytest.mark.parametrize("op,build", ARRAY_TAKERS, ids=[a[0] for a in ARRAY_TAKERS])
def test_an_array_where_a_tensor_belongs_names_the_op_and_line(op, build):
    loc = re.escape(f"{HERE}:{build.__code__.co_firstlineno}")
    with pytest.raises(sn.GraphError, match=rf"^{op} at {loc}: expected a tensor operand \(sn.input, .*\), got ndarray"):
        build()


def test_errors_are_value_errors():
    assert issubclass(sn.ShapeError, sn.GraphError) and issubclass(sn.DTypeError, sn.GraphError)
    assert issubclass(sn.GraphError, ValueError)


def test_bad_data_names_the_input_and_shapes():
    f = sn.function([x], sn.sum(x))
    with pytest.raises(sn.DataError, match=r"input 'x' expects shape \(None, 784\), got \(3, 783\)"):
        f(np.zeros((3, 783)))
    with pytest.raises(TypeError, match=r"takes 1 arrays \('x'\), got 2"):
        f(np.zeros((3, 784)), np.zeros(3))
    g = sn.function([x, y10], sn.sum(x) + sn.sum(y10))
    with pytest.raises(sn.DataError, match=r"inputs disagree on the batch size \(x: 3, y: 4\)"):
        g(np.zeros((3, 784)), np.zeros((4, 10)))



def test_an_error_raised_through_compile_prints_as_one_line_without_a_chained_traceback():
    import traceback
    p = sn.dense(x, 10, activation="softmax")
    build = lambda: sn.compile(sn.sum(sn.mean(p, axis=5)), outputs=p)  # noqa: E731
    with pytest.raises(sn.ShapeError) as info:
        build()
    text = "".join(traceback.format_exception(info.value))
    assert "During handling of the above exception" not in text
    assert text.splitlines()[-1] == (f"staticnet.errors.ShapeError: mean at {HERE}:{build.__code__.co_firstlineno}: "
                                     "axis 5 is out of range for a tensor of shape (None, 10) (2 dimensions)")


def test_numpy_integers_are_accepted_wherever_a_count_or_an_axis_is():
    i = np.int64
    assert sn.dense(x, i(10)).shape == (None, 10)
    assert sn.conv2d(img, i(4), i(3), stride=i(1), padding=i(1)).shape == (None, 8, 8, 4)
    assert sn.conv2d(img, np.int32(4), (i(3), i(5))).shape == (None, 6, 4, 4)
    assert sn.max_pool2d(img, i(2), i(2)).shape == (None, 4, 4, 1)
    assert sn.rnn(sn.input("steps", (None, 4, 3)), i(5)).shape == (None, 5)
    assert sn.one_hot(labels, i(3)).shape == (None, 3)
    assert sn.reshape(x, (None, i(28), i(28))).shape == (None, 28, 28)
    assert sn.input("n", (None, i(3))).shape == (None, 3)
    assert sn.sum(y10, axis=i(1)).shape == (None,)
    assert sn.softmax(y10, axis=i(-1)).shape == (None, 10)
    assert sn.l2(5.0, i(100)).n == 100


def test_integer_labels_fed_where_one_hot_rows_are_expected_say_what_to_do():
    f = sn.function([x, y10], sn.sum(x) + sn.sum(y10))
    with pytest.raises(sn.DataError, match=r"input 'y' expects shape \(None, 10\), got \(3,\): these look like "
                                           r"integer class labels, where one-hot rows are expected; pass "
                                           r"np.eye\(10\)\[labels\], "
                                           r"or declare sn.input\('y', \(None,\), dtype='int64'\) and train with "
                                           r"sn.softmax_cross_entropy\(logits, y\) .* or sn.one_hot\(y, 10\)$"):
        f(np.zeros((3, 784)), np.array([1, 7, 3]))
    with pytest.raises(sn.DataError, match=r"expects shape \(None, 10\), got \(3,\)$"):  # not labels: no such hint
        f(np.zeros((3, 784)), np.array([0.5, 0.25, 1.5]))


def test_near_miss_names_for_a_loss_or_an_optimizer_are_answered():
    p = sn.dense(x, 10, activation="softmax")
    loss = sn.cross_entropy(p, y10)
    with pytest.raises(sn.GraphError, match=r"optimizer must be an optimizer object, got 'adamm' \(str\): did you mean "
                                            r"sn.Adam\? pass one of"):
        sn.compile(loss, outputs=p, optimizer="adamm")
    with pytest.raises(sn.GraphError, match=r"loss must be a scalar tensor, got 'categorical_crossentropy' \(str\): "
                                            r"staticnet's loss is a tensor built from the outputs, write "
                                            r"loss=sn.cross_entropy\(softmax outputs, one-hot labels\)$"):
        sn.compile("categorical_crossentropy", outputs=p)
    with pytest.raises(sn.GraphError, match=r"got 'crossentropy' \(str\): did you mean 'cross_entropy'\? a loss is a "
                                            r"tensor"):
        sn.compile("crossentropy", outputs=p)


def test_bad_arguments_raise_one_error_family_whatever_the_function():
    """batch_size=0 and lr=-1 are the same kind of mistake: both raise sn.ArgumentError, a ValueError that
    `except TypeError` catches too (graph builders' arguments stay GraphErrors: they are part of the graph)."""
    assert issubclass(sn.ArgumentError, ValueError) and issubclass(sn.ArgumentError, TypeError)
    p = sn.dense(x, 10, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y10), outputs=p)
    data = {"x": np.zeros((4, 784), np.float32), "y": np.eye(10, dtype=np.float32)[:4]}
    mistakes = [lambda: net.fit(data, batch_size=0, verbose=0), lambda: sn.SGD(lr=-1),
                lambda: sn.step_decay(every=0), lambda: net.evaluate(data, batch_size="all"),
                lambda: sn.callbacks.EarlyStopping(patience=0), lambda: sn.metrics.TopK(k=0),
                lambda: net.fit(data, validation_split=2.0, verbose=0), lambda: sn.gradcheck(sn.sum(x), [x], {}, eps=0)]
    for build in mistakes:
        with pytest.raises(sn.ArgumentError):
            build()
