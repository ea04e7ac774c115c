"""The four workloads, their data, and staticnet's version of each.

W1 and W2 are timed over all 60,000 training images; W3, ten times the work per image, W4, an LSTM reading
each image as 28 steps of 28 pixels, and W5, the book's 99.60% network with eight times W3's, over a
fixed number of images (`rows_timed`) and scaled to the 60,000-image epoch, as the output says.  W5 is
timed on plain MNIST images: its own epoch, the training set expanded with its four one-pixel shifts
(250,000 images), takes 4.17 times as long.  W3BN is W3 with a batch norm after its convolution, timed as W3.
(The names are the issues'.)
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

EPOCH_ROWS = 60_000


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    batches: tuple[int, ...]
    quick_batches: tuple[int, ...]
    images: bool = False  # NHWC (n, 28, 28, 1) instead of rows of 784
    sequences: bool = False  # (n, 28 steps, 28 pixels) instead of rows of 784
    rows_full: int = EPOCH_ROWS
    rows_quick: int = 6_000
    hidden: int = 100  # units of each hidden dense layer
    depth: int = 1  # hidden dense layers
    targets: dict = field(default_factory=dict)  # batch -> seconds per epoch (the issues' targets)

    def rows_timed(self, quick: bool) -> int:
        return self.rows_quick if quick else self.rows_full


WORKLOADS = {
    "W1": Workload("W1", "784-100-10 sigmoid, quadratic cost, SGD eta=3.0", (1, 10, 32, 128, 1024), (10,),
                   targets={1: 0.6, 10: 0.20, 1024: 0.12}),
    "W2": Workload("W2", "784-100-10 ReLU, softmax cross-entropy, Adam lr=0.001", (10, 128, 1024), (10,),
                   targets={10: 0.35, 1024: 0.13}),
    "W3": Workload("W3", "the book's CNN: conv 5x5x20 sigmoid, 2x2 max-pool, dense 100 sigmoid, softmax 10, "
                   "SGD eta=0.1", (10, 128), (10,), images=True, rows_full=10_000, rows_quick=1_000,
                   targets={10: 4.0, 128: 2.5}),
    "W3BN": Workload("W3BN", "W3 with a batch norm between the convolution and its sigmoid (momentum 0.99, eps 1e-3)",
                     (10, 128), (10,), images=True, rows_full=10_000, rows_quick=1_000),
    "W4": Workload("W4", "MNIST as sequences, 28 steps of 28 pixels: LSTM 128 (the last state), softmax 10, Adam "
                   "lr=0.001", (32, 128), (32,), sequences=True, rows_full=6_000, rows_quick=640, hidden=128),
    "W5": Workload("W5", "the book's 99.60% CNN (mnist_cnn.py net 3): conv-pool 5x5x20, conv-pool 5x5x40, dense 1000, "
                   "dense 1000, all ReLU, softmax 10, dropout 0.5 into each dense layer, SGD eta=0.03", (10, 128), (10,),
                   images=True, rows_full=2_000, rows_quick=200, hidden=1000, depth=2),
}


def load_data():
    """(rows of 784, one-hot labels, where they came from): the 60,000 training images, or random
    data of the same shape, announced loudly, when MNIST cannot be found."""
    import staticnet as sn
    try:
        train, val, _ = sn.data.mnist()
        x = np.concatenate([train["x"], val["x"]])
        y = np.concatenate([train["y"], val["y"]])
        return x, y, "MNIST training images (60,000)"
    except Exception as e:  # no data here: still measure, and say so
        print(f"!!! MNIST unavailable ({e}); timing RANDOM data of the same shape", file=sys.stderr)
        rng = np.random.default_rng(0)
        x = rng.random((EPOCH_ROWS, 784), np.float32)
        return x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, EPOCH_ROWS)], "RANDOM data (MNIST not found)"


def shaped(workload: Workload, x):
    if workload.sequences:
        return x.reshape(-1, 28, 28)
    return x.reshape(-1, 28, 28, 1) if workload.images else x


MODEL_FILE = """\
import staticnet as sn


def build(hidden={hidden}, depth={depth}{options}):
    y = sn.input("y", (None, 10))
    {body}
"""

BODIES = {
    "W1": """x = sn.input("x", (None, 784))
    h = x
    for _ in range(depth):
        h = sn.dense(h, hidden, activation="sigmoid")
    p = sn.dense(h, 10, activation="sigmoid")
    return {"loss": sn.mse(p, y), "outputs": p, "optimizer": sn.SGD(lr=3.0)}""",
    "W2": """x = sn.input("x", (None, 784))
    h = x
    for _ in range(depth):
        h = sn.dense(h, hidden, activation="relu")
    p = sn.dense(h, 10, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.Adam(lr=0.001)}""",
    "W3": """x = sn.input("x", (None, 28, 28, 1))
    h = sn.flatten(sn.max_pool2d(sn.conv2d(x, 20, 5, activation="sigmoid"), 2))
    for _ in range(depth):
        h = sn.dense(h, hidden, activation="sigmoid")
    p = sn.dense(h, 10, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1)}""",
    "W3BN": """x = sn.input("x", (None, 28, 28, 1))
    h = sn.flatten(sn.max_pool2d(sn.sigmoid(sn.batch_norm(sn.conv2d(x, 20, 5))), 2))
    for _ in range(depth):
        h = sn.dense(h, hidden, activation="sigmoid")
    p = sn.dense(h, 10, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1)}""",
    "W4": """x = sn.input("x", (None, 28, 28))
    p = sn.dense(sn.lstm(x, hidden), 10, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.Adam(lr=0.001)}""",
    "W5": """x = sn.input("x", (None, 28, 28, 1))
    h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="relu"), 2)
    h = sn.flatten(sn.max_pool2d(sn.conv2d(h, 40, 5, activation="relu"), 2))
    for _ in range(depth):
        h = sn.dense(sn.dropout(h, dropout), hidden, activation="relu")
    p = sn.dense(sn.dropout(h, dropout), 10, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.03)}""",
}

# A model file's parameters beyond hidden and depth, with their defaults (W5's dropout=0.0 turns dropout off).
OPTIONS = {"W5": ", dropout=0.5"}


def model_file(workload: Workload, hidden: int | None = None, depth: int | None = None) -> str:
    """The workload as a model file (`staticnet train` reads it): `depth` hidden dense layers of `hidden` units
    (by default the workload's own)."""
    return MODEL_FILE.format(hidden=hidden or workload.hidden, depth=depth or workload.depth,
                             options=OPTIONS.get(workload.name, ""), body=BODIES[workload.name])


def staticnet_model(workload: Workload, hidden: int | None = None, depth: int | None = None, path: str | None = None,
                    **options):
    """The workload compiled by staticnet, from its model file (`path`, or the text of model_file), its `build`
    given `hidden`, `depth` (by default the workload's own) and `options` (W5's dropout), as `staticnet train
    --param` gives them."""
    import staticnet as sn
    sn.seed(0)
    hidden, depth = hidden or workload.hidden, depth or workload.depth
    namespace = {}
    if path is None:
        exec(compile(model_file(workload, hidden, depth), f"<{workload.name} model file>", "exec"), namespace)
    else:
        import runpy
        namespace = runpy.run_path(path)
    spec = namespace["build"](hidden=hidden, depth=depth, **options)
    return sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])


def flops_per_image(model) -> float:
    """Floating-point operations of one training step per image, as counted by the compile report
    (at batch 128, where the per-step scalar work no longer matters)."""
    from staticnet.report import kernel_table
    return sum(row[3] for row in kernel_table(model.programs["train"], 128)) / 128
