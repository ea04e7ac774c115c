"""Patches for convolution (NHWC): im2col gathers each output position's window into a row,
col2im scatters row gradients back (adding where windows overlap).

A convolution is then one product of the patches (rows) with the filters, which BLAS
does at full speed.  Measured against direct loops (each output pixel accumulating its
kh*kw*C taps times a row of the filters, the filter loop innermost and vectorised, bias
folded in): im2col + GEMM was 2.5-3x faster at both of the book's layers and batch sizes
(5x5, 1 -> 20 maps on 28x28: 372 vs 935 us at batch 10, 6.0 vs 16.1 ms at 128; 5x5,
20 -> 40 maps on 12x12: 0.73 vs 2.07 ms, 8.4 vs 27.2 ms), so convolution always lowers
to im2col + GEMM.  A column-by-column gather (one patch entry for all output positions
of a row at a time) lost to copying window rows too (1 -> 20 maps: 339 vs 237 us at batch 10).

The window, stride and padding are compile-time constants (`literally`, as for pooling), so
the tap loops unroll: im2col then took 89 instead of 251 us for the first layer at batch 10
(1 -> 20 maps; 1.4 vs 2.9 ms at 128) and 125 instead of 376 us for the second (1.6 vs 6.1 ms),
against copying each window row as a run of kw*C values with the window as run-time values.

The loops stay serial (the generated step splits whole runs of these kernels by batch rows
instead: staticnet/codegen/parallel.py): prange over the batch halved these kernels when timed alone on
2 cores, but inside the training loop it gained nothing at batch 10 (1.41 vs 1.42 s per
5,000 images) and, with OpenBLAS's threads spinning beside Numba's, made it 10x slower.
Tried again on the pooling kernels at batch 128 (the book's CNN, one epoch): 14.7 s with prange
beside BLAS threads, 8.7 s with every product single-threaded, 7.5-8.5 s serial.
"""
from numba import literally, njit


@njit(cache=True, nogil=True, error_model="numpy")
def im2col(x, out, kh, kw, sh, sw, pad_top, pad_left):
    """out[n, oy, ox, (i*kw + j)*C + c] = x[n, oy*sh + i - pad_top, ox*sw + j - pad_left, c], zero outside."""
    literally(kh)
    literally(kw)
    literally(sh)
    literally(sw)
    literally(pad_top)
    literally(pad_left)
    batch, height, width, channels = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    if channels == 1 and pad_top == 0 and pad_left == 0 and (out_h - 1) * sh + kh <= height and (out_w - 1) * sw + kw <= width:
        _single_channel_unpadded(x, out, kh, kw, sh, sw)
        return
    for n in range(batch):
        for oy in range(out.shape[1]):
            for ox in range(out.shape[2]):
                top, left = oy * sh - pad_top, ox * sw - pad_left
                if channels == 1 and top >= 0 and left >= 0 and top + kh <= height and left + kw <= width:
                    for i in range(kh):
                        for j in range(kw):
                            out[n, oy, ox, i * kw + j] = x[n, top + i, left + j, 0]
                    continue
                for i in range(kh):
                    for j in range(kw):
                        inside = 0 <= top + i < height and 0 <= left + j < width
                        for c in range(channels):
                            out[n, oy, ox, (i * kw + j) * channels + c] = x[n, top + i, left + j, c] if inside else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _single_channel_unpadded(x, out, kh, kw, sh, sw):
    """im2col of one-channel images with every window inside: no tests per position, flat indices
    (6.7-7.6 instead of 9.0-9.3 us per 28 x 28 image, 5 x 5 windows, alternating runs)."""
    batch, height, width, _ = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    taps = kh * kw
    for n in range(batch):
        image = x[n].reshape(height * width)
        patches = out[n].reshape(out_h * out_w * taps)
        for oy in range(out_h):
            for ox in range(out_w):
                first, corner = (oy * out_w + ox) * taps, oy * sh * width + ox * sw
                for i in range(kh):
                    for j in range(kw):
                        patches[first + i * kw + j] = image[corner + i * width + j]


@njit(cache=True, nogil=True, error_model="numpy")
def col2im(cols, out, kh, kw, sh, sw, pad_top, pad_left):
    """The adjoint of im2col: out[n, y, x, c] = sum of the patch entries that read it."""
    literally(kh)
    literally(kw)
    literally(sh)
    literally(sw)
    literally(pad_top)
    literally(pad_left)
    batch, height, width, channels = out.shape
    for n in range(batch):
        for y in range(height):
            for xx in range(width):
                for c in range(channels):
                    out[n, y, xx, c] = 0.0
        for oy in range(cols.shape[1]):
            for ox in range(cols.shape[2]):
                top, left = oy * sh - pad_top, ox * sw - pad_left
                for i in range(kh):
                    for j in range(kw):
                        if 0 <= top + i < height and 0 <= left + j < width:
                            for c in range(channels):
                                out[n, top + i, left + j, c] += cols[n, oy, ox, (i * kw + j) * channels + c]
