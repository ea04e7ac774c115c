"""Patches for convolution (NHWC): im2col gathers each output position's window into a row,
col2im scatters row gradients back (adding where windows overlap).

A convolution is then one product of the patches (rows) with the filters, which BLAS
does at full speed.  Measured against direct loops (each output pixel accumulating its
kh*kw*C taps times a row of the filters, the filter loop innermost and vectorised, bias
folded in): im2col + GEMM was 2.5-3x faster at both of the book's layers and batch sizes
(5x5, 1 -> 20 maps on 28x28: 372 vs 935 us at batch 10, 6.0 vs 16.1 ms at 128; 5x5,
20 -> 40 maps on 12x12: 0.73 vs 2.07 ms, 8.4 vs 27.2 ms), so convolution always lowers
to im2col + GEMM.  A column-by-column gather (one patch entry for all output positions
of a row at a time) lost to these run copies too (1 -> 20 maps: 339 vs 237 us at batch 10).

Each window row (kw pixels x C channels) is contiguous in both x and the patches, so the
copies run over runs of kw*C values; positions that fall in the zero padding are skipped
after one zero fill.

The loops stay serial: prange over the batch halved these kernels when timed alone on
2 cores, but inside the training loop it gained nothing at batch 10 (1.41 vs 1.42 s per
5,000 images) and, with OpenBLAS's threads spinning beside Numba's, made it 10x slower.
Tried again on the pooling kernels at batch 128 (the book's CNN, one epoch): 14.7 s with prange
beside BLAS threads, 8.7 s with every product single-threaded, 7.5-8.5 s serial.
"""
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def im2col(x, out, kh, kw, sh, sw, pad_top, pad_left):
    """out[n, oy, ox, (i*kw + j)*C + c] = x[n, oy*sh + i - pad_top, ox*sw + j - pad_left, c], zero outside."""
    batch, height, width, channels = x.shape
    out_h, out_w, depth = out.shape[1], out.shape[2], out.shape[3]
    rows = x.reshape((batch, height, width * channels))
    run = kw * channels
    padded = pad_top > 0 or pad_left > 0 or (out_h - 1) * sh + kh > height or (out_w - 1) * sw + kw > width
    for n in range(batch):
        for oy in range(out_h):
            for ox in range(out_w):
                if padded:
                    for q in range(depth):
                        out[n, oy, ox, q] = 0.0
                x0 = ox * sw - pad_left
                for i in range(kh):
                    y = oy * sh + i - pad_top
                    if y < 0 or y >= height:
                        continue
                    base = i * run
                    if x0 >= 0 and x0 + kw <= width:
                        start = x0 * channels
                        for q in range(run):
                            out[n, oy, ox, base + q] = rows[n, y, start + q]
                    else:
                        for j in range(kw):
                            xx = x0 + j
                            if 0 <= xx < width:
                                for c in range(channels):
                                    out[n, oy, ox, base + j * channels + c] = rows[n, y, xx * channels + c]


@njit(cache=True, nogil=True, error_model="numpy")
def col2im(cols, out, kh, kw, sh, sw, pad_top, pad_left):
    """The adjoint of im2col: out[n, y, x, c] = sum of the patch entries that read it."""
    batch, height, width, channels = out.shape
    out_h, out_w = cols.shape[1], cols.shape[2]
    rows = out.reshape((batch, height, width * channels))
    run = kw * channels
    for n in range(batch):
        for y in range(height):
            for q in range(width * channels):
                rows[n, y, q] = 0.0
        for oy in range(out_h):
            for ox in range(out_w):
                x0 = ox * sw - pad_left
                for i in range(kh):
                    y = oy * sh + i - pad_top
                    if y < 0 or y >= height:
                        continue
                    base = i * run
                    if x0 >= 0 and x0 + kw <= width:
                        start = x0 * channels
                        for q in range(run):
                            rows[n, y, start + q] += cols[n, oy, ox, base + q]
                    else:
                        for j in range(kw):
                            xx = x0 + j
                            if 0 <= xx < width:
                                for c in range(channels):
                                    rows[n, y, xx * channels + c] += cols[n, oy, ox, base + j * channels + c]
