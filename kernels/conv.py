"""Patches for convolution (NHWC): im2col gathers each output position's window into a row,
col2im scatters row gradients back (adding where windows overlap).

A convolution is then one product of the patches (rows) with the filters, which BLAS does at
full speed, so convolution always lowers to im2col + GEMM: direct loops (each output position
accumulating its kh*kw*C taps times a row of the filters, the filter loop innermost and
vectorised, bias folded in) were 2.5-3x slower at both of the book's convolutional layers.
Direct loops over whole feature maps (planes, vectorised along the image rows) save about what
moving between planes and NHWC costs (docs/architecture.md, "Convolution lowering").

The window, stride and padding are compile-time constants (`literally`, as for pooling), so the
tap loops unroll (with them as run-time arguments im2col was about 3x slower).
Each window row inside the image is one copy of kw*C contiguous values (runs.copy_run), not a
loop over them, which LLVM would unroll and leave scalar (kernels/runs.py says why); col2im adds
such rows in one loop that vectorises.  Gathering one patch entry for all output positions of a
row at a time was slower than copying window rows.

The loops stay serial; the generated step splits whole runs of these kernels by batch rows
instead (staticnet/codegen/parallel.py).  A prange over the batch inside each kernel gained
nothing in the training loop, and beside OpenBLAS's own threads it made training up to 10x slower.
"""
import numpy as np
from numba import literally, njit

from .runs import copy_run


@njit(cache=True, nogil=True, error_model="numpy")
def im2col(x, out, kh, kw, sh, sw, pad_top, pad_left):
    """out[n, oy, ox, (i*kw + j)*C + c] = x[n, oy*sh + i - pad_top, ox*sw + j - pad_left, c], zero outside.
    A window row is kw*C contiguous values in both: one copy.  With padding, each image is first copied
    into a zeroed, padded one, so that every window lies inside and the window loop needs no border tests
    (testing each window row for the border was 5-10x slower with "same" 5 x 5 windows)."""
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
    moves it as one vector (a loop of scalar moves was 3-4x slower).  Its own function: beside the run-time
    copies of im2col_channels, LLVM merged both into one memcpy call of variable size, nearly as slow as that loop."""
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
    image's sums go to a padded one first and its inside is copied out, so that the window loop needs no
    border tests (testing them took twice as long)."""
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
    """col2im without padding, every window inside: each window row adds kw*C contiguous values in one loop,
    which vectorises when the row is long (several channels) and its indices are unsigned (signed ones are
    tested for being negative, and the loop stays scalar)."""
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
