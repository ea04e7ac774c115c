"""The LSTM and GRU kernels on plain arrays against the NumPy references of their ops, at shapes that take
both BLAS and the microkernels (kernels/gemm.py's product_at), in both float types; gradients nothing reads
are left unwritten."""
import numpy as np
import pytest

from staticnet.kernels import gru, lstm
from staticnet.ops.gru import _gru_grad_ref, _gru_ref
from staticnet.ops.lstm import _lstm_grad_ref, _lstm_ref

SHAPES = [(2, 1, 3, 4), (5, 7, 3, 8), (70, 6, 28, 40)]  # batch, steps, features, hidden
TOLERANCE = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


def arrays(shape, gates, dtype, seed):
    batch, steps, features, hidden = shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, features)).astype(dtype)
    weights = [rng.normal(scale=0.5, size=s).astype(dtype)
               for s in ((features, gates * hidden), (hidden, gates * hidden), (gates * hidden,))]
    return x, weights, rng.normal(size=(batch, steps, hidden)).astype(dtype)


def lstm_scratch(x, h):
    """The backward kernel's work array, filled with NaN: what it held before must not matter."""
    batch, steps, hidden = h.shape
    return [np.full((batch, steps, 5 * hidden), np.nan, x.dtype)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_lstm_kernels_against_numpy(shape, dtype):
    x, (w, u, b), g = arrays(shape, 4, dtype, 0)
    h = np.full(g.shape, np.nan, dtype)
    tape = np.full(g.shape[:2] + (6 * g.shape[2],), np.nan, dtype)
    lstm.lstm_forward(x, w, u, b, tape, h)
    np.testing.assert_allclose(h, _lstm_ref(x, w, u, b, tape), **TOLERANCE[dtype])
    scratch = lstm_scratch(x, h)
    grads = [np.full_like(a, np.nan) for a in (x, w, u, b)]
    lstm.lstm_backward(x, h, w, u, tape, g, *scratch, *grads, True, True, True, True)
    for got, expected in zip(grads, _lstm_grad_ref(x, h, w, u, b, tape, g)):
        np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])
    untouched = [np.full_like(a, 7.0) for a in (x, w, u, b)]
    lstm.lstm_backward(x, h, w, u, tape, g, *scratch, *untouched, False, True, False, False)
    assert np.all(untouched[0] == 7.0) and np.all(untouched[2] == 7.0) and np.all(untouched[3] == 7.0)
    np.testing.assert_allclose(untouched[1], grads[1], **TOLERANCE[dtype])


@pytest.mark.parametrize("parts", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_kernels_in_runs_of_examples_against_numpy(parts, dtype):
    """The recurrence forward and back in runs of examples, as the threads share them (run here last first),
    writes the whole batch's tape and work as one run does; each run's rows of dx and share of the weights'
    gradients, added after, match the references."""
    x, (w, u, b), g = arrays(SHAPES[-1], 4, dtype, 3)
    h = np.full(g.shape, np.nan, dtype)
    tape = np.full(g.shape[:2] + (6 * g.shape[2],), np.nan, dtype)
    for part in reversed(range(parts)):
        lstm.lstm_forward_rows(x, w, u, b, tape, h, part, parts)
    np.testing.assert_allclose(h, _lstm_ref(x, w, u, b, tape), **TOLERANCE[dtype])
    work, = lstm_scratch(x, h)
    grads = [np.full_like(a, np.nan) for a in (x, w, u, b)]
    partials = np.full((parts, lstm.partial_size(x.shape[2], u.shape[0])), np.nan, dtype)
    for part in reversed(range(parts)):
        lstm.lstm_backward_rows(x, h, w, u, tape, g, work, grads[0], partials, True, True, True, True, part, parts)
    lstm.lstm_backward_sums(partials, *grads[1:], True, True, True)
    for got, expected in zip(grads, _lstm_grad_ref(x, h, w, u, b, tape, g)):
        np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


def test_the_weights_gradients_of_an_empty_batch_are_zero():
    """A sum over no examples: zeros, not whatever the parts' shares held."""
    x, (w, u, b), g = arrays((0, 5, 3, 4), 4, np.float32, 4)
    h, tape = np.zeros(g.shape, np.float32), np.zeros((0, 5, 24), np.float32)
    lstm.lstm_forward(x, w, u, b, tape, h)
    grads = [np.full_like(a, np.nan) for a in (x, w, u, b)]
    lstm.lstm_backward(x, h, w, u, tape, g, *lstm_scratch(x, h), *grads, True, True, True, True)
    assert all(np.all(a == 0) for a in grads[1:])

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_gru_kernels_against_numpy(shape, dtype):
    x, (w, u, b), g = arrays(shape, 3, dtype, 1)
    b_hn = np.random.default_rng(2).normal(size=shape[3]).astype(dtype)
    h = np.full(g.shape, np.nan, dtype)
    gru.gru_forward(x, w, u, b, b_hn, h)
    np.testing.assert_allclose(h, _gru_ref(x, w, u, b, b_hn), **TOLERANCE[dtype])
    batch, steps, _, hidden = shape
    scratch = [np.full((batch, steps, k * hidden), np.nan, dtype) for k in (3, 3, 1)]
    grads = [np.full_like(a, np.nan) for a in (x, w, u, b, b_hn)]
    gru.gru_backward(x, h, w, u, b, b_hn, g, *scratch, *grads, True, True, True, True, True)
    for got, expected in zip(grads, _gru_grad_ref(x, h, w, u, b, b_hn, g)):
        np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])
    untouched = [np.full_like(a, 7.0) for a in (x, w, u, b, b_hn)]
    gru.gru_backward(x, h, w, u, b, b_hn, g, *scratch, *untouched, True, False, False, False, False)
    assert all(np.all(a == 7.0) for a in untouched[1:])
    np.testing.assert_allclose(untouched[0], grads[0], **TOLERANCE[dtype])
