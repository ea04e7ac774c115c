import numpy as np
import pytest

from staticnet import kernels as K
from staticnet.ops import conv as reference


@pytest.mark.parametrize("channels,kernel,stride,pads", [
    (1, (5, 5), 1, (0, 0, 0, 0)),  # every window inside: each window row one inlined copy
    (1, (3, 3), 2, (0, 0, 0, 0)),  # the same, strided
    (1, (2, 2), 2, (0, 1, 0, 1)),  # padded below and right only: the last windows reach the zeros
    (1, (3, 3), 1, (1, 1, 1, 1)),  # windows over the zero border
    (3, (3, 3), 2, (0, 1, 2, 0)),  # several channels (copies of a run-time length), strided, uneven padding
    (2, (2, 2), 3, (0, 0, 0, 0)),  # stride past the window: gaps between patches
    (2, (2, 4), 1, (1, 0, 0, 2)),  # wider than high: rows of 4 taps
])
def test_im2col_and_col2im_match_the_numpy_references(channels, kernel, stride, pads):
    kh, kw = kernel
    rng = np.random.default_rng(channels * 100 + kh * 10 + kw + stride)
    x = rng.normal(size=(2, 7, 8, channels)).astype(np.float32)
    expected = reference._im2col_ref(x, kh, kw, stride, stride, pads)
    cols = np.full(expected.shape, np.nan, np.float32)
    K.im2col(x, cols, kh, kw, stride, stride, pads[0], pads[2])
    np.testing.assert_array_equal(cols, expected)
    g = rng.normal(size=expected.shape).astype(np.float32)
    dx = np.full_like(x, np.nan)
    K.col2im(g, dx, kh, kw, stride, stride, pads[0], pads[2])
    np.testing.assert_allclose(dx, reference._col2im_ref(g, kh, kw, stride, stride, pads, 7, 8),
                               rtol=1e-6, atol=1e-6)
