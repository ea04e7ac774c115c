"""kernels/embedding.py against NumPy's fancy indexing and np.add.at, and their refusal of ids outside the table."""
import numpy as np
import pytest

from staticnet.kernels import embedding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_and_scatter_add_match_numpy(dtype):
    rng = np.random.default_rng(3)
    table = rng.normal(size=(6, 5)).astype(dtype)
    ids = np.array([4, 0, 4, 5, 2, 4], dtype=np.int64)  # repeated ids: their gradients add
    rows = np.empty((len(ids), 5), dtype)
    assert embedding.gather_rows(ids, table, rows)
    np.testing.assert_array_equal(rows, table[ids])
    g = rng.normal(size=(len(ids), 5)).astype(dtype)
    out = np.full_like(table, np.nan)  # every entry written, the unused rows with zeros
    assert embedding.scatter_add_rows(ids, g, out)
    expected = np.zeros_like(table)
    np.add.at(expected, ids, g)
    np.testing.assert_array_equal(out, expected)  # each row's terms added in position order, as np.add.at does


@pytest.mark.parametrize("bad", [6, -1, 10**9])
def test_an_id_outside_the_table_is_refused_without_touching_memory_outside_it(bad):
    table, ids = np.ones((6, 2)), np.array([1, bad, 2], dtype=np.int64)
    guard = np.full((8, 2), 7.0)  # the table's rows followed by two sentinel rows that must stay as they are
    out = guard[:6]
    assert not embedding.gather_rows(ids, table, np.empty((3, 2)))
    assert not embedding.scatter_add_rows(ids, np.ones((3, 2)), out)
    np.testing.assert_array_equal(guard[6:], 7.0)
