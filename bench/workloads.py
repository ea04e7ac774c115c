"""The three workloads, their data, and staticnet's version of each.

W1 and W2 are timed over all 60,000 training images; W3, ten times the work per image, over a
fixed number of images (`rows_timed`) and scaled to the epoch, as the output says.
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
    rows_full: int = EPOCH_ROWS
    rows_quick: int = 6_000
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
    return x.reshape(-1, 28, 28, 1) if workload.images else x


def staticnet_model(workload: Workload):
    import staticnet as sn
    sn.seed(0)
    y = sn.input("y", (None, 10))
    if workload.name == "W3":
        x = sn.input("x", (None, 28, 28, 1))
        h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="sigmoid"), 2)
        p = sn.dense(sn.dense(sn.flatten(h), 100, activation="sigmoid"), 10, activation="softmax")
        return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    x = sn.input("x", (None, 784))
    if workload.name == "W1":
        p = sn.dense(sn.dense(x, 100, activation="sigmoid"), 10, activation="sigmoid")
        return sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=3.0))
    p = sn.dense(sn.dense(x, 100, activation="relu"), 10, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.001))


def flops_per_image(model) -> float:
    """Floating-point operations of one training step per image, as counted by the compile report
    (at batch 128, where the per-step scalar work no longer matters)."""
    from staticnet.report import kernel_table
    return sum(row[3] for row in kernel_table(model.programs["train"], 128)) / 128
