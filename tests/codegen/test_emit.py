"""Elementwise passes whose innermost axis is short run their trailing axes as one loop (Emitter.open_pass);
the values must match the NumPy reference executor whichever way a pass is laid out."""
import numpy as np

import staticnet as sn


def run_both(inputs, outputs, arrays):
    reference = sn.function(inputs, outputs, backend="numpy")(*arrays)
    compiled = sn.function(inputs, outputs)
    for r, c in zip(reference, compiled(*arrays)):
        np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-6)
    return compiled.source


def test_per_channel_bias_and_its_gradient_run_over_whole_rows():
    rng = np.random.default_rng(0)
    x = sn.input("x", (None, 4, 5, 3))
    b = sn.input("b", (3,))
    kept = sn.input("k", (1, 1, 3))
    out = sn.sigmoid(x + b) * kept
    grads = sn.grad(sn.sum(out * out), [x, b, kept])
    arrays = [rng.normal(size=(6, 4, 5, 3)).astype("float32"), rng.normal(size=3).astype("float32"),
              rng.normal(size=(1, 1, 3)).astype("float32")]
    source = run_both([x, b, kept], [out] + grads, arrays)
    assert "the last 3 axes run as one loop of 60" in source
    assert "b_tile" in source and "k_tile" in source  # the bias and the kept-dims vector repeated along the run
    assert "_acc" in source  # the bias gradient summed along the run, then folded per channel


def test_arrays_without_the_batch_axis_are_read_along_the_run():
    rng = np.random.default_rng(1)
    x = sn.input("x", (None, 4, 3))
    c = sn.constant(rng.normal(size=(4, 3)).astype("float32"))
    source = run_both([x], [sn.tanh(x * c + 1.0)], [rng.normal(size=(5, 4, 3)).astype("float32")])
    assert "one loop of 12" in source


def test_rows_of_a_matrix_run_as_one_loop_when_nothing_is_broadcast():
    rng = np.random.default_rng(2)
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 3))
    source = run_both([x, y], [sn.relu(x - y)], [rng.normal(size=(7, 3)).astype("float32")] * 2)
    assert "for i0 in range(n * 3):" in source


def test_a_transposed_view_keeps_the_nested_loops():
    """A transposed view is not contiguous: it cannot be seen as one run."""
    rng = np.random.default_rng(3)
    x, y = sn.input("x", (None, 4, 3)), sn.input("y", (None, 3, 4))
    out = sn.exp(sn.transpose(x, (0, 2, 1)) + y)
    arrays = [rng.normal(size=(5, 4, 3)).astype("float32"), rng.normal(size=(5, 3, 4)).astype("float32")]
    source = run_both([x, y], [out], arrays)
    assert "run as one loop" not in source


def test_long_rows_keep_the_nested_loops():
    x = sn.input("x", (None, 2, 64))
    source = run_both([x], [sn.relu(x)], [np.linspace(-1, 1, 5 * 128, dtype="float32").reshape(5, 2, 64)])
    assert "run as one loop" not in source
