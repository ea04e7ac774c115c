"""Max and average pooling over NHWC windows, forward and backward.

The window and stride are compile-time constants (`literally`: one specialisation per window
shape; the generated code passes them as literals), so the window loops unroll inside the
channel loop, which runs innermost over contiguous memory and vectorises: one load per tap
and one store per output.  With the window as a run-time argument the compiler could do
neither, and 2x2 max-pooling was 4-6x slower.

When windows tile the input (stride equal to the window), each input position belongs to
one window, so the gradients are written, not accumulated, and only the positions no window
covers are zeroed beforehand.
"""
import numpy as np
from numba import literally, njit

from .runs import axpy_run

FILTER_GRAD_BLOCK = 4  # about this many images per block of max_pool_contract (blocks come in pairs)
LONGEST_RUN = 256  # longer patch rows are added by a loop, not as one vector value


@njit(cache=True, nogil=True, error_model="numpy")
def _zero_gradient(dx, out_h, out_w, ph, pw, sh, sw):
    """Zero what the gradient loop will not write: all of dx if windows overlap or leave gaps,
    else the rows and columns past the last window."""
    tiled = ph == sh and pw == sw
    for n in range(dx.shape[0]):
        for y in range(dx.shape[1]):
            first = out_w * sw if tiled and y < out_h * sh else 0
            for xx in range(first, dx.shape[2]):
                for c in range(dx.shape[3]):
                    dx[n, y, xx, c] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool(x, out, ph, pw, sh, sw):
    literally(ph)
    literally(pw)
    literally(sh)
    literally(sw)
    for n in range(x.shape[0]):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                for c in range(x.shape[3]):
                    m = x[n, oy * sh, ox * sw, c]
                    for i in range(ph):
                        for j in range(pw):
                            v = x[n, oy * sh + i, ox * sw + j, c]
                            m = v if v > m or v != v else m  # NaN wins, as in np.max
                    out[n, oy, ox, c] = m


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool_grad(x, pooled, g, dx, ph, pw, sh, sw):
    """Each window's gradient goes to the first tap (row by row) holding its maximum: tap t hits
    where it equals the maximum and no earlier tap does.  One tap at a time, each channel loop
    storing to one place only, vectorises; one loop over the window per channel, keeping a
    "taken" flag across taps, did not and was 1.6-1.8x slower."""
    literally(ph)
    literally(pw)
    literally(sh)
    literally(sw)
    tiled = ph == sh and pw == sw
    _zero_gradient(dx, pooled.shape[1], pooled.shape[2], ph, pw, sh, sw)
    for n in range(x.shape[0]):
        for oy in range(pooled.shape[1]):
            for ox in range(pooled.shape[2]):
                for t in range(ph * pw):
                    y, xx = oy * sh + t // pw, ox * sw + t % pw
                    for c in range(x.shape[3]):
                        top = pooled[n, oy, ox, c]
                        hit = x[n, y, xx, c] == top
                        for e in range(t):
                            hit &= x[n, oy * sh + e // pw, ox * sw + e % pw, c] != top
                        if tiled:
                            dx[n, y, xx, c] = g[n, oy, ox, c] * hit
                        else:
                            dx[n, y, xx, c] += g[n, oy, ox, c] * hit


@njit(cache=True, nogil=True, error_model="numpy")
def contract_blocks(n):
    """How many blocks max_pool_contract cuts a batch of n into: about FILTER_GRAD_BLOCK images each, in
    pairs (a batch of 10: 2, 3, 2, 3 images), whatever the number of threads that run them."""
    return 2 * max(1, (n + 2 * FILTER_GRAD_BLOCK - 1) // (2 * FILTER_GRAD_BLOCK))


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool_contract_block(patches, x, pooled, g, parts, ph, pw, sh, sw, taps, block):
    """Block `block` of the filter gradient of a convolution whose output x is max-pooled, without the
    full-resolution gradient: parts[block] = the sum over its images' positions of outer(patches,
    max_pool_grad(x, pooled, g)), channel-major (sum_blocks adds the blocks and transposes).  Only each
    window's winner (the first tap holding the maximum, as in max_pool_grad) has a gradient, so per window
    and channel the winner's patch row (taps values, a literal) times the gradient is added to that
    channel's row, one vector operation (runs.axpy_run).  Writing the pooling gradient out a block at a
    time and multiplying it by the patches in BLAS instead was 1.2-1.7x slower on the book's CNN."""
    literally(ph)
    literally(pw)
    literally(sh)
    literally(sw)
    literally(taps)
    n, height, width, channels = x.shape
    out_h, out_w = pooled.shape[1], pooled.shape[2]
    blocks = parts.shape[0]
    rows = patches.reshape(n * height * width * taps)
    part = parts[block]
    for e in range(part.shape[0]):
        part[e] = 0.0
    for b in range(n * block // blocks, n * (block + 1) // blocks):
        for oy in range(out_h):
            for ox in range(out_w):
                for c in range(channels):
                    top, winner = pooled[b, oy, ox, c], -1
                    for t in range(ph * pw - 1, -1, -1):
                        winner = t if x[b, oy * sh + t // pw, ox * sw + t % pw, c] == top else winner
                    if winner < 0:  # NaN: no tap equals the maximum
                        continue
                    row = ((b * height + oy * sh + winner // pw) * width + ox * sw + winner % pw) * taps
                    gradient = g[b, oy, ox, c]
                    if taps <= LONGEST_RUN:
                        axpy_run(part, c * taps, gradient, rows, row, taps)
                    else:
                        for k in range(taps):
                            part[c * taps + k] += gradient * rows[row + k]


@njit(cache=True, nogil=True, error_model="numpy")
def sum_blocks(parts, out):
    """out[i, j] = the sum over blocks, in block order, of parts[block, j * taps + i] (taps = out's rows):
    the same result whichever threads computed the blocks."""
    taps, channels = out.shape
    for i in range(taps):
        for j in range(channels):
            total = parts[0, j * taps + i]
            for block in range(1, parts.shape[0]):
                total += parts[block, j * taps + i]
            out[i, j] = total


@njit(cache=True, nogil=True, error_model="numpy")
def avg_pool(x, out, ph, pw, sh, sw):
    literally(ph)
    literally(pw)
    literally(sh)
    literally(sw)
    scale = 1.0 / (ph * pw)
    for n in range(x.shape[0]):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                for c in range(x.shape[3]):
                    total = x[n, oy * sh, ox * sw, c]
                    for i in range(ph):
                        for j in range(pw):
                            if i > 0 or j > 0:
                                total += x[n, oy * sh + i, ox * sw + j, c]
                    out[n, oy, ox, c] = total * scale


@njit(cache=True, nogil=True, error_model="numpy")
def avg_pool_grad(g, dx, ph, pw, sh, sw):
    literally(ph)
    literally(pw)
    literally(sh)
    literally(sw)
    tiled = ph == sh and pw == sw
    scale = 1.0 / (ph * pw)
    _zero_gradient(dx, g.shape[1], g.shape[2], ph, pw, sh, sw)
    for n in range(g.shape[0]):
        for oy in range(g.shape[1]):
            for ox in range(g.shape[2]):
                for c in range(g.shape[3]):
                    share = g[n, oy, ox, c] * scale
                    for i in range(ph):
                        for j in range(pw):
                            if tiled:
                                dx[n, oy * sh + i, ox * sw + j, c] = share
                            else:
                                dx[n, oy * sh + i, ox * sw + j, c] += share
