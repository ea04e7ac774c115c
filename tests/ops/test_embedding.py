"""sn.embedding against NumPy's fancy indexing and a scatter-add written with np.add.at, central differences of
that indexing, and fit's check of the ids."""
import inspect
import re

import numpy as np
import pytest

import staticnet as sn
from staticnet.errors import DTypeError
from tests.conftest import central_difference


def build(ids_shape=(None, 3), vocab=7, dim=4):
    ids = sn.input("ids", ids_shape, dtype="int64")
    out = sn.embedding(ids, vocab, dim, dtype="float64", name="emb")
    return ids, out, sn.Graph(out).params[0]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 2)])
def test_rows_by_id_and_a_scatter_add_gradient(backend, shape):
    rng = np.random.default_rng(0)
    ids, out, table = build((None,) + shape[1:])
    id_values = rng.integers(0, 7, shape)
    id_values.reshape(-1)[:2] = 6  # one id used twice: its gradient is the sum of both
    weights = rng.normal(size=shape + (4,))
    w = sn.input("w", (None,) + shape[1:] + (4,), dtype="float64")
    got, grad = sn.function([ids, w], [out, sn.grad(sn.sum(out * w), [table])[0]], backend=backend)(id_values,
                                                                                                   weights)
    assert got.shape == shape + (4,)
    np.testing.assert_array_equal(got, table.value[id_values])
    expected = np.zeros((7, 4))
    for position in np.ndindex(*shape):
        expected[id_values[position]] += weights[position]
    np.testing.assert_allclose(grad, expected, rtol=1e-14, atol=1e-15)
    numeric = central_difference(lambda v: float(np.sum(v[id_values] * weights)), table.value.copy())
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_parameter_dtype_and_shape_rules():
    ids = sn.input("ids", (None, 5), dtype="int32")
    out = sn.embedding(ids, 10, 3, name="words")
    (table,) = sn.Graph(out).params
    assert (table.name, table.shape, table.dtype, out.shape) == ("words/E", (10, 3), np.float32, (None, 5, 3))
    assert np.all(np.abs(table.value) <= 0.05)
    with pytest.raises(DTypeError, match="embedding.*int32 or int64 ids"):
        sn.embedding(sn.input("x", (None, 5)), 10, 3)


@pytest.mark.parametrize("bad", [7, -1, 10**12])
def test_fit_names_the_input_row_and_id_outside_the_vocabulary_before_training(bad):
    sn.seed(0)
    ids, y = sn.input("words", (None, 3), dtype="int64"), sn.input("y", (None,), dtype="int64")
    line = 1 + inspect.currentframe().f_lineno
    p = sn.dense(sn.flatten(sn.embedding(ids, 7, 2)), 2, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, sn.one_hot(y, 2)), outputs=p, optimizer=sn.SGD(lr=0.1))
    data = {"words": np.array([[1, 2, 3], [4, 5, 6], [0, bad, 1]]), "y": np.array([0, 1, 0])}
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(sn.DataError, match=rf"^training data: input 'words' row 2 holds the id {re.escape(repr(bad))} "
                                           rf"\(at position 1 of the row\), outside the vocabulary \[0, 7\) of "
                                           rf"embedding at .*test_embedding.py:{line}$"):
        net.fit(data, epochs=1, verbose=0)
    with pytest.raises(sn.DataError, match="^prediction inputs: input 'words' row 2 holds the id"):
        net.predict(data["words"])
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, before[k])
    data["words"][2, 1] = 6
    net.fit(data, epochs=1, verbose=0)


def test_the_compiled_gather_refuses_an_id_outside_the_table():
    ids, out, _ = build()
    with pytest.raises(Exception, match=re.escape("embedding: an id lies outside [0, 7)")):
        sn.function([ids], out)(np.array([[0, 7, 1]]))


@pytest.mark.parametrize("bad", [7, -1])
def test_the_compiled_gradient_of_the_table_alone_refuses_an_id_outside_the_table(bad):
    """The table's gradient without the gather of the same ids (the value of the embedding is not needed): the
    scatter-add checks the ids itself, as the reference does, instead of writing outside the table."""
    ids, out, table = build()
    scale = sn.input("s", (None, 3, 4), dtype="float64")
    (gradient,) = sn.grad(sn.sum(out * scale), [table])
    fed = (np.array([[0, bad, 1]]), np.ones((1, 3, 4)))
    with pytest.raises(Exception, match=re.escape("embedding: an id lies outside [0, 7)")):
        sn.function([ids, scale], gradient)(*fed)
    with pytest.raises(sn.DataError, match=re.escape("embedding: an id lies outside [0, 7)")):
        sn.function([ids, scale], gradient, backend="numpy")(*fed)
