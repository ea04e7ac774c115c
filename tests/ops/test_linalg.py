import numpy as np
import pytest
from hypothesis import given, strategies as st

import staticnet as sn
from tests.conftest import check_grads


@given(m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_matmul_gradient(m, k, n, seed):
    rng = np.random.default_rng(seed)
    check_grads(sn.matmul, [rng.normal(size=(m, k)), rng.normal(size=(k, n))])


def test_matmul_with_batch_and_vectors(rng):
    check_grads(lambda x, w: x @ w, [rng.normal(size=(5, 3)), rng.normal(size=(3, 2))], batch=(True, False))
    check_grads(lambda a, v: a @ v, [rng.normal(size=(4, 3)), rng.normal(size=(3,))])
    check_grads(lambda v, a: v @ a, [rng.normal(size=(4,)), rng.normal(size=(4, 3))])


@pytest.mark.parametrize("sa,sb", [((4, 3), (3, 2)), ((4, 3), (3,)), ((3,), (3, 2))])
def test_matmul_forward_matches_numpy(sa, sb, rng):
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    x, y = sn.input("a", sa, dtype="float64"), sn.input("b", sb, dtype="float64")
    out = sn.function([x, y], x @ y)(a, b)
    assert out.shape == (a @ b).shape
    np.testing.assert_allclose(out, a @ b, rtol=1e-14)
