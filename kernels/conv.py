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
    A window row is kw*C contiguous values in both: one copy.  With padding, each image is first copied
    into a zeroed, padded one, so that every window lies inside: testing each window row for the border
    instead took 23 instead of 2.2 us per 28 x 28 image with "same" 5 x 5 windows (43 vs 8 us per
    12 x 12 x 20 image)."""
    literally(kh)
    literally(kw)
    literally(sh)
    literally(sw)
    literally(pad_top)
    literally(pad_left)
    batch, height, width, channels = x.shape
    padded_h, padded_w = _padded_size(out, height, width, kh, kw, sh, sw, pad_top, pad_left)
    if padded_h == height and padded_w == width:
        _windows_inside(x, out, kh, kw, sh, sw)
        return
    padded = np.zeros((1, padded_h, padded_w, channels), x.dtype)
    inside, row = padded.reshape(padded.size), width * channels
    for n in range(batch):
        image = x[n].reshape(height * row)
        for y in range(height):  # rows copied one by one: a slice assignment doubled the compile time
            copy_run(inside, ((pad_top + y) * padded_w + pad_left) * channels, image, y * row, row)
        _windows_inside(padded, out[n:n + 1], kh, kw, sh, sw)


@njit(cache=True, nogil=True, error_model="numpy")
def _padded_size(out, height, width, kh, kw, sh, sw, pad_top, pad_left):
    """The padded image the windows need: padding before, the image, and after it whatever the last window
    reaches beyond it (windows may also stop short of the image's end)."""
    return (max(pad_top + height, (out.shape[1] - 1) * sh + kh),
            max(pad_left + width, (out.shape[2] - 1) * sw + kw))


@njit(cache=True, nogil=True, error_model="numpy")
def _windows_inside(x, out, kh, kw, sh, sw):
    if x.shape[3] == 1:
        im2col_one_channel(x, out, kh, kw, sh, sw)
    else:
        im2col_channels(x, out, kh, kw, sh, sw)


@njit(cache=True, nogil=True, error_model="numpy")
def im2col_one_channel(x, out, kh, kw, sh, sw):
    """im2col without padding, for images of one channel: a window row is kw values, a literal, so copy_run
    moves it as one vector (a loop of
    scalar moves took 6.9-8.5 instead of 1.9-2.2 us per 28 x 28 image).  Its own function: beside the
    run-time copies below, LLVM merged both into one memcpy call of variable size (6.2 us)."""
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
def im2col_channels(x, out, kh, kw, sh, sw):
    """im2col without padding, for images of several channels."""
    batch, height, width, channels = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    run = kw * channels
    for n in range(batch):
        image = x[n].reshape(height * width * channels)
        patches = out[n].reshape(out_h * out_w * kh * run)
        for oy in range(out_h):
            for ox in range(out_w):
                first, corner = (oy * out_w + ox) * kh * run, (oy * sh * width + ox * sw) * channels
                for i in range(kh):
                    copy_run(patches, first + i * run, image, corner + i * width * channels, run)


@njit(cache=True, nogil=True, error_model="numpy")
def col2im(cols, out, kh, kw, sh, sw, pad_top, pad_left):
    """The adjoint of im2col: out[n, y, x, c] = sum of the patch entries that read it.  With padding, each
    image's sums go to a padded one first and its inside is copied out: 10 instead of 22 us per
    12 x 12 x 20 image with "same" 5 x 5 windows."""
    literally(kh)
    literally(kw)
    literally(sh)
    literally(sw)
    literally(pad_top)
    literally(pad_left)
    batch, height, width, channels = out.shape
    padded_h, padded_w = _padded_size(cols, height, width, kh, kw, sh, sw, pad_top, pad_left)
    if padded_h == height and padded_w == width:
        col2im_inside(cols, out, kh, kw, sh, sw)
        return
    padded = np.empty((1, padded_h, padded_w, channels), out.dtype)
    inside, row = padded.reshape(padded.size), width * channels
    for n in range(batch):
        col2im_inside(cols[n:n + 1], padded, kh, kw, sh, sw)
        image = out[n].reshape(height * row)
        for y in range(height):
            copy_run(image, y * row, inside, ((pad_top + y) * padded_w + pad_left) * channels, row)


@njit(cache=True, nogil=True, error_model="numpy")
def col2im_inside(cols, out, kh, kw, sh, sw):
    """col2im without padding, every window inside: each window row adds kw*C contiguous values in one loop, which vectorises when it
    is long (several channels): 4.0 instead of 7.2-13.4 us per 12 x 12 x 20 image, 5 x 5 windows (with
    signed indices 33 us)."""
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
                first, corner = (oy * out_w + ox) * kh * run, (oy * sh * width + ox * sw) * channels
                for i in range(kh):
                    start, source = np.uint64(corner + i * width * channels), np.uint64(first + i * run)
                    for e in range(np.uint64(run)):  # unsigned: no negative-index test, so it vectorises
                        image[start + e] += patches[source + e]
