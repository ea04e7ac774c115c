"""Data sets: MNIST from its IDX files, the book's expansion of a training set by shifted copies, and small
generated sets for examples.

`mnist()` looks for the four canonical files (gzipped or raw) in the `path`
argument, then $STATICNET_DATA, then a per-user cache directory, downloading
into the cache when absent.  Every file's uncompressed bytes are checked against
the published MD5 before use.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import urllib.request

import numpy as np

from .durable import write_durably
from .errors import DataError

# name: (md5 of the uncompressed IDX bytes, number of items, IDX magic)
MNIST_FILES = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 60000, 0x00000803),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 60000, 0x00000801),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 10000, 0x00000803),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 10000, 0x00000801),
}
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"]


def parse_idx(raw: bytes, source: str) -> np.ndarray:
    """An IDX file's array (big-endian header: zero, zero, type code, rank, then one count per axis)."""
    if len(raw) < 4:
        raise DataError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    zero, type_code, rank = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or type_code != 0x08:
        raise DataError(f"{source}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    if rank == 0:
        raise DataError(f"{source}: its header gives rank 0; an IDX file's array has at least one axis")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DataError(f"{source}: truncated header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    expected = math.prod(dims)  # Python's ints: NumPy's int64 product wraps (4 sizes of 65536 make 0)
    if len(raw) - header != expected:
        raise DataError(f"{source}: header promises {dims} = {expected} bytes of data but the file holds "
                        f"{len(raw) - header} (truncated or corrupted)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def read_idx(path: str, expected_md5: str | None = None) -> np.ndarray:
    """Read an IDX file, gzipped or raw, optionally checking the MD5 of its uncompressed bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: corrupted gzip data ({e})") from None
    if expected_md5 is not None:
        digest = hashlib.md5(raw).hexdigest()
        if digest != expected_md5:
            raise DataError(f"{path}: checksum mismatch (MD5 of the uncompressed bytes is {digest}, "
                            f"expected {expected_md5}); the file is corrupted or is not the file its name says")
    return parse_idx(raw, path)


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "staticnet", "mnist")


def _find(directory: str, name: str) -> str | None:
    for candidate in (name + ".gz", name):
        full = os.path.join(directory, candidate)
        if os.path.isfile(full):
            return full
    return None


def _download(name: str, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name + ".gz")
    errors = []
    for mirror in MIRRORS:
        try:
            with urllib.request.urlopen(mirror + name + ".gz", timeout=30) as response:
                payload = response.read()
            write_durably(target, lambda raw: raw.write(payload),  # checked before it takes the real name
                          verify=lambda written: read_idx(written, MNIST_FILES[name][0]))
            return target
        except (OSError, DataError) as e:
            errors.append(f"{mirror}: {e}")
    raise DataError(f"could not download {name}.gz ({'; '.join(errors)}). Put the four MNIST files "
                    f"({', '.join(n + '.gz' for n in MNIST_FILES)}) in {directory}, or in a directory named by "
                    "$STATICNET_DATA or the path argument")


def locate_mnist(path: str | None = None) -> dict[str, str]:
    """Paths of the four files: from `path`, else $STATICNET_DATA, else the cache (downloading there)."""
    if path is not None:
        directories = [path]
    elif os.environ.get("STATICNET_DATA"):
        directories = [os.environ["STATICNET_DATA"]]
    else:
        directories = [cache_dir()]
    directory = directories[0]
    found = {}
    for name in MNIST_FILES:
        hit = _find(directory, name)
        if hit is None:
            if path is not None or os.environ.get("STATICNET_DATA"):
                raise DataError(f"{directory}: no {name}.gz (or {name}); MNIST needs the four files "
                                f"{', '.join(n + '.gz' for n in MNIST_FILES)} there")
            hit = _download(name, directory)
        found[name] = hit
    return found


def _load_pair(files, prefix):
    images_name, labels_name = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    images = read_idx(files[images_name], MNIST_FILES[images_name][0])
    labels = read_idx(files[labels_name], MNIST_FILES[labels_name][0])
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{files[images_name]}: expected images of 28x28, got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{files[labels_name]}: {labels.shape[0] if labels.ndim else 0} labels for "
                        f"{images.shape[0]} images in {files[images_name]}")
    if labels.max() > 9:
        raise DataError(f"{files[labels_name]}: labels must be digits 0-9, found {labels.max()}")
    return images, labels


def _as_set(images, labels, one_hot, flatten):
    x = images.astype(np.float32) / np.float32(255.0)
    x = x.reshape(len(x), 784) if flatten else x.reshape(len(x), 28, 28, 1)
    labels = labels.astype(np.int64)
    y = np.eye(10, dtype=np.float32)[labels] if one_hot else labels
    return {"x": x, "y": y, "labels": labels}


def mnist(path: str | None = None, one_hot: bool = True, validation: int = 10_000, flatten: bool = True):
    """(train, validation, test) as dicts {"x", "y", "labels"}: 50,000 / 10,000 / 10,000 by default.

    x is float32 in [0, 1], (n, 784) or with flatten=False (n, 28, 28, 1) (NHWC); y is one-hot
    float32 (n, 10), or the int64 labels with one_hot=False; "labels" always holds the ints.
    """
    files = locate_mnist(path)
    train_images, train_labels = _load_pair(files, "train")
    test_images, test_labels = _load_pair(files, "t10k")
    cut = len(train_images) - validation
    return (_as_set(train_images[:cut], train_labels[:cut], one_hot, flatten),
            _as_set(train_images[cut:], train_labels[cut:], one_hot, flatten),
            _as_set(test_images, test_labels, one_hot, flatten))


SHIFTS = ("up", "down", "left", "right")  # the order of the shifted copies expand_shifts appends


def expand_shifts(data: dict, pixels: int = 1, images: str = "x") -> dict:
    """The training set expanded with shifted copies of its images, as the book's expand_mnist.py does
    (chapter 6): the original rows, then the images moved up, then down, left and right by `pixels`, the
    vacated rows or columns zeroed; every other field of `data` (labels, one-hot targets) repeated in the
    same order.  50,000 MNIST images become 250,000.

    data: a dict of arrays with one row per example, such as a set of sn.data.mnist(); `images` names the
    images: rows of a square image ((n, 784) is 28x28) or NHWC images (n, height, width, channels).  The
    book shuffles the expanded set once; fit shuffles it every epoch, so the order of the copies does not
    matter for training.  Returns a new dict; `data` is left unchanged."""
    if not isinstance(data, dict):
        raise ValueError(f"expand_shifts: data must be a dict of arrays keyed by name, got {type(data).__name__}")
    if images not in data:
        raise ValueError(f"expand_shifts: data has no field {images!r} (its fields: {sorted(data)})")
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 1:
        raise ValueError(f"expand_shifts: pixels must be a positive integer, got {pixels!r}")
    x = np.asarray(data[images])
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"expand_shifts: {images!r} of shape {x.shape} holds rows of {x.shape[1]} values, "
                             "which are not square images; give rows of side*side values or NHWC images "
                             "(n, height, width, channels)")
        pictures = x.reshape(len(x), side, side, 1)
    elif x.ndim == 4:
        pictures = x
    else:
        raise ValueError(f"expand_shifts: {images!r} has shape {x.shape}; give rows of square images (n, side*side) "
                         "or NHWC images (n, height, width, channels)")
    height, width = pictures.shape[1:3]
    if pixels >= min(height, width):
        raise ValueError(f"expand_shifts: a shift of {pixels} pixels leaves nothing of {height}x{width} images")
    rows = len(x)
    for name, values in data.items():
        if np.ndim(values) == 0 or len(values) != rows:
            count = "a scalar" if np.ndim(values) == 0 else f"{len(values)} rows"
            raise ValueError(f"expand_shifts: every field needs one row per image: {images!r} has {rows}, "
                             f"{name!r} has {count}")
    expanded = np.zeros((len(SHIFTS) + 1,) + pictures.shape, pictures.dtype)
    expanded[0] = pictures
    up, down, left, right = expanded[1:]
    up[:, :-pixels] = pictures[:, pixels:]
    down[:, pixels:] = pictures[:, :-pixels]
    left[:, :, :-pixels] = pictures[:, :, pixels:]
    right[:, :, pixels:] = pictures[:, :, :-pixels]
    result = {name: np.concatenate([np.asarray(values)] * (len(SHIFTS) + 1)) for name, values in data.items()
              if name != images}
    result[images] = expanded.reshape(((len(SHIFTS) + 1) * rows,) + x.shape[1:])
    return {name: result[name] for name in data}


# ---------------------------------------------------------------- small generated sets

def linearly_separable(n: int = 200, dim: int = 2, margin: float = 0.1, seed: int = 0):
    """Points on either side of a random hyperplane, at least `margin` from it; labels +1 / -1."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=dim)
    w /= np.linalg.norm(w)
    x = rng.uniform(-1, 1, (4 * n, dim))
    distance = x @ w + 0.1
    keep = np.abs(distance) >= margin
    x, distance = x[keep][:n], distance[keep][:n]
    return {"x": x.astype(np.float32), "y": np.where(distance > 0, 1.0, -1.0).astype(np.float32)}


def xor(n: int = 200, noise: float = 0.1, seed: int = 0):
    """The four corners of the unit square, jittered; y = x1 XOR x2 as (n, 1)."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n, 2))
    x = corners + rng.normal(0, noise, (n, 2))
    return {"x": x.astype(np.float32), "y": (corners[:, :1] ^ corners[:, 1:]).astype(np.float32)}


def two_spirals(n: int = 400, noise: float = 0.05, seed: int = 0):
    """Two interleaved spirals; y one-hot (n, 2)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    arm = rng.integers(0, 2, n)
    sign = np.where(arm == 0, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], 1) / (3 * np.pi) + rng.normal(0, noise, (n, 2))
    return {"x": x.astype(np.float32), "y": np.eye(2, dtype=np.float32)[arm]}


def sine(n: int = 500, noise: float = 0.0, seed: int = 0):
    """y = sin(x) on [-pi, pi], optionally with Gaussian noise; both (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n, 1))
    y = np.sin(x) + rng.normal(0, noise, (n, 1)) if noise else np.sin(x)
    return {"x": x.astype(np.float32), "y": y.astype(np.float32)}
