"""MNIST read as sequences: each image is 28 steps of 28 pixels (its rows, top to bottom), an LSTM of 128
units reads them, and its last state goes through a softmax layer (bench workload W4; cross-entropy, Adam).

Run: python examples/mnist_lstm.py [--epochs 3] [--hidden 128] [--batch-size 32] [--seed 0]
"""
import argparse
import time

import staticnet as sn


def build(hidden=128):
    x = sn.input("x", (None, 28, 28))
    y = sn.input("y", (None, 10))
    p = sn.dense(sn.lstm(x, hidden), 10, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.Adam(lr=0.001)}


def as_rows(split):
    """A split of sn.data.mnist as sequences of rows: x (n, 28, 28)."""
    return {"x": split["x"].reshape(-1, 28, 28), "y": split["y"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="MNIST directory (default: $STATICNET_DATA or the cache)")
    args = parser.parse_args()
    sn.seed(args.seed)
    train, val, test = (as_rows(split) for split in sn.data.mnist(args.data))
    spec = build(args.hidden)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
    start = time.perf_counter()
    net.fit(train, epochs=args.epochs, batch_size=args.batch_size, validation=val, seed=args.seed)
    print(f"LSTM {args.hidden} over 28 rows of 28 pixels, {args.epochs} epochs in {time.perf_counter() - start:.0f} s: "
          f"test accuracy {net.evaluate(test)['accuracy']:.4f}")
