import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from staticnet.kernels import conv as K
from staticnet.ops import conv as reference


@pytest.mark.parametrize("channels,kernel,stride,pads,dtype", [
    (1, (5, 5), 1, (0, 0, 0, 0), np.float32),  # every window inside: each window row one inlined copy
    (1, (3, 3), 2, (0, 0, 0, 0), np.float32),  # the same, strided
    (1, (2, 2), 2, (0, 1, 0, 1), np.float32),  # padded below and right only: the last windows reach the zeros
    (1, (3, 3), 1, (1, 1, 1, 1), np.float32),  # windows over the zero border
    (3, (3, 3), 2, (0, 1, 2, 0), np.float32),  # several channels (copies of a run-time length), strided, uneven padding
    (2, (2, 2), 3, (0, 0, 0, 0), np.float32),  # stride past the window: gaps between patches
    (2, (2, 4), 1, (1, 0, 0, 2), np.float32),  # wider than high: rows of 4 taps
    (2, (3, 3), 2, (1, 0, 1, 0), np.float32),  # padded, and the last windows stop short of the image's last row and column
    (1, (5, 5), 1, (2, 2, 2, 2), np.float64),  # "same" on one channel, float64
])
def test_im2col_and_col2im_match_the_numpy_references(channels, kernel, stride, pads, dtype):
    kh, kw = kernel
    rng = np.random.default_rng(channels * 100 + kh * 10 + kw + stride)
    x = rng.normal(size=(2, 7, 8, channels)).astype(dtype)
    expected = reference._im2col_ref(x, kh, kw, stride, stride, pads)
    cols = np.full(expected.shape, np.nan, dtype)
    K.im2col(x, cols, kh, kw, stride, stride, pads[0], pads[2])
    np.testing.assert_array_equal(cols, expected)
    g = rng.normal(size=expected.shape).astype(dtype)
    dx = np.full_like(x, np.nan)
    K.col2im(g, dx, kh, kw, stride, stride, pads[0], pads[2])
    np.testing.assert_allclose(dx, reference._col2im_ref(g, kh, kw, stride, stride, pads, 7, 8),
                               rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None, derandomize=True)  # each geometry compiles its own specialisation
@given(channels=st.integers(1, 3), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), pads=st.tuples(*[st.integers(0, 2)] * 4), height=st.integers(4, 9),
       width=st.integers(4, 9))
def test_any_geometry_matches_the_numpy_references(channels, kh, kw, sh, sw, pads, height, width):
    pt, pb, pl, pr = pads
    assume(kh <= height + pt + pb and kw <= width + pl + pr)  # conv2d's shape rule refuses the others
    rng = np.random.default_rng(kh * 1000 + kw * 100 + sh * 10 + sw)
    x = rng.normal(size=(3, height, width, channels)).astype(np.float32)
    expected = reference._im2col_ref(x, kh, kw, sh, sw, pads)
    cols = np.full(expected.shape, np.nan, np.float32)
    K.im2col(x, cols, kh, kw, sh, sw, pt, pl)
    np.testing.assert_array_equal(cols, expected)
    g = rng.normal(size=expected.shape).astype(np.float32)
    dx = np.full_like(x, np.nan)
    K.col2im(g, dx, kh, kw, sh, sw, pt, pl)
    np.testing.assert_allclose(dx, reference._col2im_ref(g, kh, kw, sh, sw, pads, height, width), rtol=1e-5, atol=1e-5)
