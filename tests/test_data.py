import gzip
import re
import os

import numpy as np
import pytest

import staticnet as sn
from tests.conftest import require_mnist
from staticnet.data import MNIST_FILES, parse_idx, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_idx_round_trip_gzipped_and_raw(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    raw = tmp_path / "images-idx3-ubyte"
    raw.write_bytes(idx_bytes(images))
    (tmp_path / "images.gz").write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(str(raw)), images)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "images.gz")), images)


def test_truncated_corrupted_and_mislabelled_files_are_named(tmp_path):
    labels = np.arange(10) % 10
    good = idx_bytes(labels)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good[:-3])
    with pytest.raises(sn.DataError, match=r"truncated.*header promises \[10\] = 10 bytes of data but the file holds 7"):
        read_idx(str(truncated))
    bad_magic = tmp_path / "magic"
    bad_magic.write_bytes(b"\x00\x00\x0d\x01" + good[4:])
    with pytest.raises(sn.DataError, match="magic: not an unsigned-byte IDX file"):
        read_idx(str(bad_magic))
    broken_gzip = tmp_path / "broken.gz"
    broken_gzip.write_bytes(gzip.compress(good)[:-8])
    with pytest.raises(sn.DataError, match="broken.gz: corrupted gzip data"):
        read_idx(str(broken_gzip))
    intact = tmp_path / "intact"
    intact.write_bytes(good)
    with pytest.raises(sn.DataError, match="intact: checksum mismatch"):
        read_idx(str(intact), expected_md5="0" * 32)


def test_a_directory_missing_files_says_what_to_put_there(tmp_path):
    with pytest.raises(sn.DataError, match=r"no train-images-idx3-ubyte.gz .*MNIST needs the four files"):
        sn.data.mnist(str(tmp_path))


def test_swapped_files_fail_their_checksum(tmp_path):
    require_mnist()
    source = os.environ["STATICNET_DATA"]
    for name in MNIST_FILES:
        target = name.replace("train-labels", "t10k-labels") if "train-labels" in name else name
        os.symlink(os.path.join(source, target + ".gz"), tmp_path / (name + ".gz"))
    with pytest.raises(sn.DataError, match="train-labels-idx1-ubyte.gz: checksum mismatch"):
        sn.data.mnist(str(tmp_path))


def test_full_mnist_split_and_scaling():
    require_mnist()
    train, val, test = sn.data.mnist()
    assert train["x"].shape == (50_000, 784) and val["x"].shape == (10_000, 784) and test["x"].shape == (10_000, 784)
    assert train["x"].dtype == np.float32 and 0.0 <= train["x"].min() and train["x"].max() == 1.0
    assert train["y"].shape == (50_000, 10) and np.all(train["y"].sum(1) == 1)
    counts = np.bincount(np.concatenate([train["labels"], val["labels"]]), minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # the published counts
    assert np.bincount(test["labels"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    _, _, ints = sn.data.mnist(one_hot=False)
    assert ints["y"].dtype == np.int64 and ints["y"].shape == (10_000,)


def test_generated_sets():
    sep = sn.data.linearly_separable(100, margin=0.1, seed=0)
    assert sep["x"].shape == (100, 2) and set(np.unique(sep["y"])) == {-1.0, 1.0}
    xor = sn.data.xor(50, seed=0)
    assert xor["y"].shape == (50, 1)
    spirals = sn.data.two_spirals(80, seed=0)
    assert spirals["y"].shape == (80, 2) and np.all(spirals["y"].sum(1) == 1)
    sine = sn.data.sine(30, seed=0)
    np.testing.assert_allclose(sine["y"], np.sin(sine["x"]), atol=1e-6)


# ---------------------------------------------------------------- expand_shifts

def shifted_by_index(images: np.ndarray, direction: str, pixels: int) -> np.ndarray:
    """NHWC images moved by `pixels` in `direction`, pixel by pixel: out[i, j] = in[i + di, j + dj] where that
    lies inside the image, else 0 (the independent reference of expand_shifts)."""
    di, dj = {"up": (pixels, 0), "down": (-pixels, 0), "left": (0, pixels), "right": (0, -pixels)}[direction]
    n, height, width, channels = images.shape
    out = np.zeros_like(images)
    for r in range(n):
        for i in range(height):
            for j in range(width):
                if 0 <= i + di < height and 0 <= j + dj < width:
                    out[r, i, j, :] = images[r, i + di, j + dj, :]
    return out


@pytest.mark.parametrize("pixels", [1, 2])
def test_expand_shifts_of_nhwc_images_in_each_direction(pixels):
    rng = np.random.default_rng(3)
    images = rng.random((4, 6, 5, 2)).astype(np.float32) + 0.5  # no zeros, so a vacated row shows
    labels = rng.integers(0, 10, 4)
    out = sn.data.expand_shifts({"x": images, "labels": labels, "y": np.eye(10, dtype=np.float32)[labels]}, pixels)
    assert list(out) == ["x", "labels", "y"] and out["x"].shape == (20, 6, 5, 2) and out["x"].dtype == np.float32
    np.testing.assert_array_equal(out["x"][:4], images)
    for k, direction in enumerate(["up", "down", "left", "right"], start=1):
        np.testing.assert_array_equal(out["x"][4 * k: 4 * k + 4], shifted_by_index(images, direction, pixels),
                                      err_msg=direction)
    np.testing.assert_array_equal(out["labels"], np.tile(labels, 5))
    np.testing.assert_array_equal(out["y"], np.eye(10)[np.tile(labels, 5)])


def test_expand_shifts_of_flat_rows_of_square_images():
    rng = np.random.default_rng(4)
    rows = rng.random((3, 784)).astype(np.float32) + 0.5
    given = rows.copy()
    out = sn.data.expand_shifts({"x": rows, "labels": np.arange(3)})
    assert out["x"].shape == (15, 784)
    images = rows.reshape(3, 28, 28, 1)
    for k, direction in enumerate(["up", "down", "left", "right"], start=1):
        expected = shifted_by_index(images, direction, 1).reshape(3, 784)
        np.testing.assert_array_equal(out["x"][3 * k: 3 * k + 3], expected, err_msg=direction)
    # the book's expand_mnist.py: "down" is np.roll by +1 along the rows with the top row zeroed
    book_down = np.roll(images[0, :, :, 0], 1, axis=0)
    book_down[0, :] = 0
    np.testing.assert_array_equal(out["x"][6].reshape(28, 28), book_down)
    np.testing.assert_array_equal(out["labels"], [0, 1, 2] * 5)
    np.testing.assert_array_equal(rows, given)  # the input is left as it was


@pytest.mark.parametrize("data, pixels, message", [
    ({"x": np.zeros((2, 785))}, 1, "rows of 785 values, which are not square images"),
    ({"x": np.zeros((2, 28, 28))}, 1, "has shape (2, 28, 28); give rows of square images"),
    ({"x": np.zeros((2, 4, 4, 1))}, 4, "a shift of 4 pixels leaves nothing of 4x4 images"),
    ({"x": np.zeros((2, 784))}, 0, "pixels must be a positive integer, got 0"),
    ({"x": np.zeros((2, 784)), "labels": np.zeros(3)}, 1, "'x' has 2, 'labels' has 3 rows"),
    ({"images": np.zeros((2, 784))}, 1, "data has no field 'x'"),
])
def test_expand_shifts_refuses_what_it_cannot_shift(data, pixels, message):
    with pytest.raises(ValueError, match="expand_shifts: .*" + re.escape(message)):
        sn.data.expand_shifts(data, pixels)


@pytest.mark.parametrize("dims, data, message", [
    ((), b"", "its header gives rank 0; an IDX file's array has at least one axis"),
    ((), b"abc", "its header gives rank 0"),
    ((2**16,) * 4, b"", r"header promises \[65536, 65536, 65536, 65536\] = 18446744073709551616 bytes of data but "
                        "the file holds 0"),  # a product that wraps to 0 in int64
    ((2**32 - 1,) * 3, b"x" * 8, r"header promises \[4294967295, 4294967295, 4294967295\] = "
                                 "79228162458924105385300197375 bytes of data but the file holds 8"),
])
def test_a_rank_0_header_or_dims_beyond_the_file_name_the_file(dims, data, message):
    raw = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + data
    with pytest.raises(sn.DataError, match=r"^labels-idx1-ubyte: " + message):
        parse_idx(raw, "labels-idx1-ubyte")


@pytest.fixture
def mirrors(tmp_path):
    """Two MNIST mirrors on a loopback HTTP server: "bad/" serves a labels file with the wrong contents, "good/"
    the real one (from $STATICNET_DATA)."""
    import functools
    import http.server
    import shutil
    import threading

    require_mnist()
    name = "t10k-labels-idx1-ubyte.gz"
    served = tmp_path / "served"
    (served / "bad").mkdir(parents=True)
    (served / "good").mkdir()
    (served / "bad" / name).write_bytes(gzip.compress(idx_bytes(np.zeros(10000, np.uint8))))
    shutil.copy(os.path.join(os.environ["STATICNET_DATA"], name), served / "good" / name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_download_takes_its_name_only_once_checked(mirrors, tmp_path, monkeypatch):
    from staticnet import data
    target = tmp_path / "cache"
    monkeypatch.setattr(data, "MIRRORS", [mirrors + "bad/", mirrors + "good/"])
    path = data._download("t10k-labels-idx1-ubyte", str(target))
    assert read_idx(path, MNIST_FILES["t10k-labels-idx1-ubyte"][0]).shape == (10000,)
    assert os.listdir(target) == ["t10k-labels-idx1-ubyte.gz"]


def test_a_download_failing_its_check_everywhere_leaves_nothing(mirrors, tmp_path, monkeypatch):
    from staticnet import data
    target = tmp_path / "cache"
    monkeypatch.setattr(data, "MIRRORS", [mirrors + "bad/", mirrors + "missing/"])
    with pytest.raises(sn.DataError, match="could not download t10k-labels-idx1-ubyte.gz .*checksum mismatch"):
        data._download("t10k-labels-idx1-ubyte", str(target))
    assert os.listdir(target) == []
