"""Max and average pooling over NHWC windows, forward and backward.

The window and stride are compile-time constants (`literally`: one specialisation per window
shape; the generated code passes them as literals), so the window loops unroll inside the
channel loop, which runs innermost over contiguous memory and vectorises: one load per tap
and one store per output.  With the window as a run-time argument the compiler could do
neither: 2x2 max-pooling of 10 x 24 x 24 x 20 floats took 116-166 us that way and 29 us
this way (1.9 ms and 0.32 ms at batch 128).

When windows tile the input (stride equal to the window), each input position belongs to
one window, so the gradients are written, not accumulated, and only the positions no window
covers are zeroed beforehand.
"""
from numba import literally, njit


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
                            m = max(m, x[n, oy * sh + i, ox * sw + j, c])
                    out[n, oy, ox, c] = m


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool_grad(x, pooled, g, dx, ph, pw, sh, sw):
    """Each window's gradient goes to the first tap (row by row) holding its maximum: tap t hits
    where it equals the maximum and no earlier tap does.  One tap at a time, each channel loop
    storing to one place only, vectorises; one loop over the window per channel, keeping a
    "taken" flag across taps, did not (96 vs 177 us on 10 x 24 x 24 x 20, 1.9 vs 3.1 ms at 128)."""
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
