"""Max and average pooling over NHWC windows, forward and backward."""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool(x, out, ph, pw, sh, sw):
    batch, _, _, channels = x.shape
    for n in range(batch):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                for c in range(channels):
                    best = x[n, oy * sh, ox * sw, c]
                    for i in range(ph):
                        for j in range(pw):
                            best = max(best, x[n, oy * sh + i, ox * sw + j, c])
                    out[n, oy, ox, c] = best


@njit(cache=True, nogil=True, error_model="numpy")
def max_pool_grad(x, pooled, g, dx, ph, pw, sh, sw):
    """Each window's gradient goes to the first position holding its maximum."""
    batch, height, width, channels = x.shape
    for n in range(batch):
        for y in range(height):
            for xx in range(width):
                for c in range(channels):
                    dx[n, y, xx, c] = 0.0
        for oy in range(pooled.shape[1]):
            for ox in range(pooled.shape[2]):
                for c in range(channels):
                    target = pooled[n, oy, ox, c]
                    found = False
                    for i in range(ph):
                        for j in range(pw):
                            if not found and x[n, oy * sh + i, ox * sw + j, c] == target:
                                dx[n, oy * sh + i, ox * sw + j, c] += g[n, oy, ox, c]
                                found = True


@njit(cache=True, nogil=True, error_model="numpy")
def avg_pool(x, out, ph, pw, sh, sw):
    scale = 1.0 / (ph * pw)
    for n in range(x.shape[0]):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                for c in range(x.shape[3]):
                    total = 0.0
                    for i in range(ph):
                        for j in range(pw):
                            total += x[n, oy * sh + i, ox * sw + j, c]
                    out[n, oy, ox, c] = total * scale


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
                for c in range(channels):
                    share = g[n, oy, ox, c] * scale
                    for i in range(ph):
                        for j in range(pw):
                            dx[n, oy * sh + i, ox * sw + j, c] += share
