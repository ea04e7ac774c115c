import numpy as np
import pytest

import staticnet as sn
from tests.conftest import central_difference, check_grads


def direct_conv(x, W, b, kh, kw, stride, pads):
    """Convolution by its definition, one output at a time (NHWC; W rows in (i, j, c) order)."""
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, H, Wd, C = xp.shape
    F = W.shape[1]
    filt = W.reshape(kh, kw, C, F)
    oh, ow = (H - kh) // stride + 1, (Wd - kw) // stride + 1
    out = np.zeros((n, oh, ow, F))
    for y in range(oh):
        for x_ in range(ow):
            window = xp[:, y * stride:y * stride + kh, x_ * stride:x_ * stride + kw, :]
            out[:, y, x_, :] = np.tensordot(window, filt, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


CASES = [(3, 1, "valid", (0, 0, 0, 0)), (3, 2, "valid", (0, 0, 0, 0)), (3, 1, "same", (1, 1, 1, 1)),
         (2, 2, 1, (1, 1, 1, 1)), (4, 1, "same", (1, 2, 1, 2))]


@pytest.mark.parametrize("k,stride,padding,pads", CASES)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_conv2d_matches_the_definition(k, stride, padding, pads, backend):
    rng = np.random.default_rng(k + stride)
    xv = rng.normal(size=(2, 6, 7, 3))
    x = sn.input("x", (None, 6, 7, 3), dtype="float64")
    out = sn.conv2d(x, 4, k, stride=stride, padding=padding, activation=None, name="c")
    W, b = (p.value for p in sn.Graph(out).params)
    got = sn.function([x], out, backend=backend)(xv)
    np.testing.assert_allclose(got, direct_conv(xv, W, b, k, k, stride, pads), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k,stride,padding,pads", CASES[:4])
def test_conv2d_gradients(k, stride, padding, pads):
    rng = np.random.default_rng(3)
    check_grads(lambda t: sn.conv2d(t, 2, k, stride=stride, padding=padding, activation="tanh", name="g"),
                [rng.normal(size=(2, 5, 6, 2))], batch=True)


def test_conv2d_filter_and_bias_gradients_by_finite_differences():
    rng = np.random.default_rng(5)
    xv = rng.normal(size=(2, 5, 5, 2))
    x = sn.input("x", (2, 5, 5, 2), dtype="float64")
    out = sn.conv2d(x, 3, 3, padding="same", activation="sigmoid", name="f")
    loss = sn.sum(out * sn.constant(rng.normal(size=(2, 5, 5, 3))))
    params = sn.Graph(loss).params
    analytic = sn.function([x], sn.grad(loss, params), backend="numpy")(xv)
    f = sn.function([x], loss, backend="numpy")
    for p, g in zip(params, analytic):
        def value_at(v, p=p):
            old = p.value
            p.value = v
            result = float(f(xv))
            p.value = old
            return result
        np.testing.assert_allclose(g, central_difference(value_at, p.value.copy()), rtol=1e-6, atol=1e-8)


def test_conv_net_compiled_matches_the_reference_forward_and_backward():
    rng = np.random.default_rng(2)
    x = sn.input("x", (None, 8, 8, 1))
    y = sn.input("y", (None, 3))
    h = sn.max_pool2d(sn.conv2d(x, 4, 3, activation="relu", name="c1"), 2)
    h = sn.conv2d(h, 5, 2, padding="same", activation="tanh", name="c2")
    p = sn.dense(sn.flatten(h), 3, activation="softmax", name="d")
    loss = sn.cross_entropy(p, y)
    params = sn.Graph(loss).params
    outs = [loss, p] + sn.grad(loss, params) + [sn.grad(loss, x)]
    args = rng.normal(size=(4, 8, 8, 1)), np.eye(3)[rng.integers(0, 3, 4)]
    for r, c in zip(sn.function([x, y], outs, backend="numpy")(*args), sn.function([x, y], outs)(*args)):
        np.testing.assert_allclose(c, r, rtol=1e-4, atol=1e-6)


def test_conv_shape_errors_name_the_shapes():
    x = sn.input("x", (None, 4, 4, 1))
    with pytest.raises(sn.ShapeError, match=r"^conv2d at .*test_conv.py:\d+: a 5x5 kernel is larger than the padded "
                                            r"input 4x4"):
        sn.conv2d(x, 2, 5)
    with pytest.raises(sn.ShapeError, match=r"conv2d at .*: input \(None, 784\) must be \(batch, height, width, channels\)"):
        sn.conv2d(sn.input("flat", (None, 784)), 2, 5)
    with pytest.raises(sn.GraphError, match="padding must be 'valid', 'same'"):
        sn.conv2d(x, 2, 3, padding="full")


def test_a_convolution_of_a_transposed_input_compiles_and_matches_the_reference():
    """An NCHW input transposed to NHWC (as an imported ONNX model has it) reaches im2col as a copy."""
    rng = np.random.default_rng(9)
    x = sn.input("x", (None, 2, 6, 6), dtype="float64")
    sn.seed(0)
    out = sn.conv2d(sn.transpose(x, (0, 2, 3, 1)), 3, 3, activation="tanh")
    outputs = [out] + sn.grad(sn.sum(out), [x])
    images = rng.normal(size=(4, 2, 6, 6))
    reference = sn.function([x], outputs, backend="numpy")(images)
    for r, c in zip(reference, sn.function([x], outputs)(images)):
        np.testing.assert_allclose(c, r, rtol=1e-10, atol=1e-12)
