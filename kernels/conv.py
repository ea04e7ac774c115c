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

The window, stride and padding are compile-time constants (`literally`, as for pooling): im2col
took 89 instead of 251 us for the first layer at batch 10 with the tap loops unrolled (1 -> 20
maps; 1.4 vs 2.9 ms at 128) and 125 instead of 376 us for the second (1.6 vs 6.1 ms).  Each
window row inside the image is now one copy of kw*C contiguous values (runs.copy_run: a loop of 5
scalar moves before, as LLVM unrolls it and Numba keeps the SLP vectoriser off), per image:
first layer 1.9-2.2 instead of 6.9-8.5 us, second 3.7-4.9 instead of 7.5-8.2 us; col2im adds
such runs in a vectorised loop, 4.0-5.7 instead of 8.1-14.4 us (second layer, 64 images, warm).

Direct loops were measured again on the first layer (one channel), computing each feature map
as a plane 28 wide (every filter tap one shifted, contiguous, vectorised pass over the image),
single thread, per image: 15 us for the planes alone, 25 us with the planes transposed into
NHWC, against 19-26 us for im2col + GEMM then (now about 12); the filter gradient from such
planes (the pooling gradient scattered into them, then a dot product per tap) took 31-45 us
against 23-35 us for max_pool_contract.  Moving between planes and NHWC costs what the direct
loops save, so convolution stays im2col + GEMM.

The loops stay serial (the generated step splits whole runs of these kernels by batch rows
instead: staticnet/codegen/parallel.py): prange over the batch halved these kernels when timed alone on
2 cores, but inside the training loop it gained nothing at batch 10 (1.41 vs 1.42 s per
5,000 images) and, with OpenBLAS's threads spinning beside Numba's, made it 10x slower.
Tried again on the pooling kernels at batch 128 (the book's CNN, one epoch): 14.7 s with prange
beside BLAS threads, 8.7 s with every product single-threaded, 7.5-8.5 s serial.
"""
import numpy as np
from numba import literally, njit

from .runs import copy_run


@njit(cache=True, nogil=True, error_model="numpy")
def im2col(x, out, kh, kw, sh, sw, pad_top, pad_left):
    """out[n, oy, ox, (i*kw + j)*C + c] = x[n, oy*sh + i - pad_top, ox*sw + j - pad_left, c], zero outside.
    A window row inside the image is kw*C contiguous values in both: one copy."""
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
    run = kw * channels
    for n in range(batch):
        image = x[n].reshape(height * width * channels)
        patches = out[n].reshape(out_h * out_w * kh * run)
        for oy in range(out_h):
            for ox in range(out_w):
                top, left = oy * sh - pad_top, ox * sw - pad_left
                first = (oy * out_w + ox) * kh * run
                for i in range(kh):
                    y, row = top + i, first + i * run
                    if y < 0 or y >= height:
                        for e in range(run):
                            patches[row + e] = 0.0
                    elif left >= 0 and left + kw <= width:
                        copy_run(patches, row, image, (y * width + left) * channels, run)
                    else:
                        for j in range(kw):
                            inside = 0 <= left + j < width
                            for c in range(channels):
                                patches[row + j * channels + c] = image[(y * width + left + j) * channels + c] if inside else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _single_channel_unpadded(x, out, kh, kw, sh, sw):
    """im2col of one-channel images with every window inside: no tests per window (with one, the general
    loop took 6.2-8.8 instead of 2.0 us per 28 x 28 image, 5 x 5 windows), a vector copy per window row."""
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
                    copy_run(patches, first + i * kw, image, corner + i * width, kw)


@njit(cache=True, nogil=True, error_model="numpy")
def col2im(cols, out, kh, kw, sh, sw, pad_top, pad_left):
    """The adjoint of im2col: out[n, y, x, c] = sum of the patch entries that read it.  A window row inside
    the image adds kw*C contiguous values in one loop, which vectorises when it is long (several channels):
    4.0 instead of 7.2-13.4 us per 12 x 12 x 20 image, 5 x 5 windows (with signed indices 33 us)."""
    literally(kh)
    literally(kw)
    literally(sh)
    literally(sw)
    literally(pad_top)
    literally(pad_left)
    batch, height, width, channels = out.shape
    out_h, out_w = cols.shape[1], cols.shape[2]
    run = kw * channels
    for n in range(batch):
        image = out[n].reshape(height * width * channels)
        patches = cols[n].reshape(out_h * out_w * kh * run)
        for e in range(height * width * channels):
            image[e] = 0.0
        for oy in range(out_h):
            for ox in range(out_w):
                top, left = oy * sh - pad_top, ox * sw - pad_left
                first = (oy * out_w + ox) * kh * run
                for i in range(kh):
                    y, row = top + i, first + i * run
                    if y < 0 or y >= height:
                        continue
                    if left >= 0 and left + kw <= width:
                        start, source = np.uint64((y * width + left) * channels), np.uint64(row)
                        for e in range(np.uint64(run)):  # unsigned: no negative-index test, so it vectorises
                            image[start + e] += patches[source + e]
                    else:
                        for j in range(kw):
                            if 0 <= left + j < width:
                                for c in range(channels):
                                    image[(y * width + left + j) * channels + c] += patches[row + j * channels + c]
