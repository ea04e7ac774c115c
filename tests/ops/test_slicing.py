"""Slicing, indexing, concat, split and stack against NumPy's own, with central-difference gradients."""
import os
import re

import numpy as np
import pytest

import staticnet as sn
from tests.conftest import check_grads

HERE = os.path.relpath(__file__)
INDICES = [np.s_[:, 2:5], np.s_[:, -1], np.s_[:, ::2], np.s_[:, ::-1], np.s_[:, 1, 4:0:-2], np.s_[..., -1],
           np.s_[:, -3:, ...], np.s_[:, 0], np.s_[:, 5:1:-1, 1::3], np.s_[:, :, 5]]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_indexing_equals_numpy_basic_indexing(backend):
    v = np.random.default_rng(0).normal(size=(3, 6, 7))
    x = sn.input("x", (None, 6, 7), dtype="float64")
    outs = [x[key] for key in INDICES]
    for key, out, got in zip(INDICES, outs, sn.function([x], outs, backend=backend)(v)):
        assert out.shape == (None,) + v[key].shape[1:]
        np.testing.assert_array_equal(got, v[key])


@pytest.mark.parametrize("key", INDICES, ids=[str(i) for i in range(len(INDICES))])
def test_indexing_gradient_is_central_differences(key):
    check_grads(lambda t: t[key] * 1.5, [np.random.default_rng(1).normal(size=(2, 6, 7))], batch=True)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_concat_split_and_stack_equal_numpy(backend):
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 1, 5))
    xa, xb, xc = (sn.input(n, (None,) + v.shape[1:], dtype="float64") for n, v in zip("abc", (a, b, c)))
    outs = [sn.concat([xa, xb, xa]), sn.concat([xb, xc], axis=1), *sn.split(xb, [1, 3, 1]), *sn.split(xa, 2, 1),
            sn.stack([xa, xa * 2.0]), sn.stack([xa, xa], axis=-1), sn.stack([xa, xa], axis=2)]
    expected = [np.concatenate([a, b, a], -1), np.concatenate([b, c], 1), *np.split(b, [1, 4], -1),
                *np.split(a, 2, 1), np.stack([a, a * 2], 1), np.stack([a, a], -1), np.stack([a, a], 2)]
    for out, got, e in zip(outs, sn.function([xa, xb, xc], outs, backend=backend)(a, b, c), expected):
        assert out.shape == (None,) + e.shape[1:]
        np.testing.assert_array_equal(got, e)


def test_concat_split_and_stack_gradients_are_central_differences():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 4))
    check_grads(lambda s, t: sn.concat([s, t, s]) * sn.concat([t, s, s]), [a, b], batch=True)
    check_grads(lambda s, t: sn.concat([s, t], axis=1), [a, a * 3], batch=True)
    check_grads(lambda t: sn.split(t, [3, 1])[0] * sn.split(t, 4)[1], [b], batch=True)
    check_grads(lambda s, t: sn.stack([s, t * s], axis=2), [a, a + 1], batch=True)


def test_a_slice_of_a_slice_gradient_and_its_second_derivative():
    """The slice's gradient is a slice_grad, whose own gradient is the slice again."""
    v = np.random.default_rng(4).normal(size=(2, 8))
    x = sn.input("x", (None, 8), dtype="float64")
    g = sn.grad(sn.sum(sn.square(x[:, 1:7:2])), x)  # 2 x where sliced, 0 elsewhere
    expected = np.zeros_like(v)
    expected[:, 1:7:2] = 2 * v[:, 1:7:2]
    for backend in ("numpy", "numba"):
        np.testing.assert_array_equal(sn.function([x], g, backend=backend)(v), expected)
    check_grads(lambda t: sn.grad(sn.sum(sn.square(t[:, ::-3])), t), [v], batch=True)


def test_whole_slices_and_one_tensor_joins_add_no_node():
    x = sn.input("x", (None, 4))
    assert x[:, :] is x and x[...] is x and sn.concat([x]) is x


MISTAKES = [
    (lambda x: x[0], sn.ShapeError, r"index at {loc}: axis 0 of \(None, 6, 7\) is the batch axis, which takes only "
                                    r"':' \(got 0\)"),
    (lambda x: x[1:, 2], sn.ShapeError, r"index at {loc}: axis 0 of \(None, 6, 7\) is the batch axis"),
    (lambda x: x[:, 6], sn.ShapeError, r"index at {loc}: index 6 is out of range for axis 1 of \(None, 6, 7\) "
                                       r"\(size 6\)"),
    (lambda x: x[:, 1, 2, 3], sn.ShapeError, r"index at {loc}: 4 indices for a tensor of shape \(None, 6, 7\)"),
    (lambda x: x[:, 4:2], sn.ShapeError, r"slice at {loc}: \[4:2\] of axis 1 \(size 6\) of \(None, 6, 7\) selects "
                                         r"nothing"),
    (lambda x: x[:, None], sn.GraphError, r"index at {loc}: None \(np.newaxis\) is not supported: add an axis with sn.reshape"),
    (lambda x: x[:, 1.5], sn.GraphError, r"index at {loc}: 1.5 is not supported: tensors take ints"),
    (lambda x: x[:, 0.5:], sn.ShapeError, r"index at {loc}: slice 0.5:: its start, stop and step must be ints"),
    (lambda x: x[..., ...], sn.GraphError, r"index at {loc}: an index may hold one Ellipsis"),
    (lambda x: sn.concat([x, x[:, :2, :3]]), sn.ShapeError,
     r"concat at {loc}: shapes \(None, 6, 7\), \(None, 2, 3\) differ on axis 1 \(6 and 2\); only axis 2"),
    (lambda x: sn.concat([x, x], axis=0), sn.ShapeError, r"concat at {loc}: axis 0 of .* is the batch axis"),
    (lambda x: sn.concat([x, sn.cast(x, "float64")]), sn.DTypeError, r"concat at {loc}: dtypes float32 and float64"),
    (lambda x: sn.concat([x, x[:, 0]]), sn.ShapeError, r"concat at {loc}: shapes .* have different ranks"),
    (lambda x: sn.concat([], 1), sn.GraphError, r"concat at {loc}: expects a non-empty list of tensors"),
    (lambda x: sn.concat([x], 3), sn.ShapeError, r"concat at {loc}: axis 3 is out of range for shape \(None, 6, 7\)"),
    (lambda x: sn.split(x, 4, 1), sn.ShapeError, r"split at {loc}: axis 1 of \(None, 6, 7\) \(size 6\) does not "
                                                 r"split into 4 equal parts"),
    (lambda x: sn.split(x, [2, 2], 1), sn.ShapeError, r"split at {loc}: sizes \[2, 2\] add up to 4, not to axis 1"),
    (lambda x: sn.split(x, 2, 0), sn.ShapeError, r"split at {loc}: axis 0 of \(None, 6, 7\) is the batch axis"),
    (lambda x: sn.stack([x, x[:, 1:]]), sn.ShapeError, r"stack at {loc}: shapes \(None, 6, 7\), \(None, 5, 7\) "
                                                       r"differ"),
    (lambda x: sn.stack([x, x], 0), sn.ShapeError, r"stack at {loc}: axis 0 would stack in front of the batch axis"),
]


@pytest.mark.parametrize("build,error,pattern", MISTAKES, ids=[str(i) for i in range(len(MISTAKES))])
def test_mistakes_name_the_op_the_shapes_and_the_users_line(build, error, pattern):
    x = sn.input("x", (None, 6, 7))
    loc = re.escape(f"{HERE}:{build.__code__.co_firstlineno}")
    with pytest.raises(error, match="^" + pattern.format(loc=loc)):
        build(x)


def test_a_tensor_is_not_iterable():
    with pytest.raises(sn.GraphError, match="cannot be iterated"):
        list(sn.input("x", (None, 3)))


def test_integer_tensors_slice_and_join_too():
    """Label or id tensors (int64) go through the same copies, compiled as in the reference."""
    ids = sn.input("ids", (None, 5), dtype="int64")
    outs = [ids[:, 1:4], sn.concat([ids, ids[:, ::-1]]), ids[:, -1], sn.stack(sn.split(ids, [2, 3])[:1] * 2, 1)]
    v = np.arange(15).reshape(3, 5)
    expected = [v[:, 1:4], np.concatenate([v, v[:, ::-1]], 1), v[:, -1], np.stack([v[:, :2], v[:, :2]], 1)]
    for got, e in zip(sn.function([ids], outs)(v), expected):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, e)
