"""A single hidden layer approximates a function: the universal approximation theorem at work.

A 1-64-1 tanh network fits sin(x) on [-pi, pi].  Run: python examples/sine.py, or as a model file:
staticnet train examples/sine.py
"""
import numpy as np

import staticnet as sn

sn.seed(0)
points = sn.data.sine(1000, seed=0)
x = sn.input("x", (None, 1))
y = sn.input("y", (None, 1))
p = sn.dense(sn.dense(x, 64, activation="tanh"), 1)
loss = sn.mse(p, y)
outputs = p
optimizer, batch_size, epochs, metrics = sn.Adam(lr=0.01), 32, 300, []


def data():
    """As a model file: trained and tested on the same points."""
    return points, None, points


if __name__ == "__main__":
    print("fitting sin(x) on [-pi, pi] for 300 epochs...", flush=True)
    net = sn.compile(loss, outputs=p, optimizer=optimizer, metrics=metrics)
    net.fit(points, epochs=epochs, batch_size=batch_size, seed=0, verbose=0)
    grid = np.linspace(-np.pi, np.pi, 9, dtype=np.float32)[:, None]
    worst = np.abs(net.predict(grid) - np.sin(grid)).max()
    print(f"mean squared error {2 * net.evaluate(points)['loss']:.5f}; worst error on a grid {worst:.4f}")
