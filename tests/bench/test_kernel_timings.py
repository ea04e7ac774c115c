"""Each row of the kernels table times the same computation in both columns: staticnet's compiled function
and the NumPy beside it give the same values (float32 rounding apart)."""
import numpy as np
import pytest

from staticnet.bench import kernel_timings

CASES = [case for case in kernel_timings.kernel_cases([3]) if not case[0].startswith("Adam")]  # Adam: no outputs


@pytest.mark.parametrize("label,compiled,numpy", CASES, ids=[case[0] for case in CASES])
def test_kernel_row_computes_what_its_numpy_does(label, compiled, numpy):
    ours = compiled.function(*compiled.arrays)
    ours = ours if isinstance(ours, (list, tuple)) else [ours]
    theirs = numpy()
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(b).max()))


def test_the_kernels_table_has_w5s_shapes():
    labels = [case[0] for case in CASES]
    for expected in ("conv2d 5x5 20->40 ReLU on 12x12, forward, batch 3",
                     "conv2d 5x5 20->40 on 12x12, backward (dW, db, dx), batch 3",
                     "max-pool 2x2 on 8x8x40, forward, batch 3", "max-pool 2x2 on 8x8x40, backward, batch 3"):
        assert expected in labels
    products = {shape[0]: shape[1:] for shape in kernel_timings.product_shapes(10)}
    assert products["W5: x @ W, 10x1000 @ 1000x1000"] == (False, False, 10, 1000, 1000, 0.0)
    assert products["W5: W += x.T @ d, 1000x10 @ 10x1000"] == (True, False, 1000, 1000, 10, 1.0)
    assert products["W5: d @ W.T, 10x1000 @ 1000x1000"] == (False, True, 10, 1000, 1000, 0.0)
