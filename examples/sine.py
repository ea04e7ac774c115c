"""A single hidden layer approximates a function: the universal approximation theorem at work.

A 1-64-1 tanh network fits sin(x) on [-pi, pi].  Run: python examples/sine.py
"""
import numpy as np

import staticnet as sn

sn.seed(0)
data = sn.data.sine(1000, seed=0)
x = sn.input("x", (None, 1))
y = sn.input("y", (None, 1))
p = sn.dense(sn.dense(x, 64, activation="tanh"), 1)
loss = sn.mse(p, y)
outputs = p

if __name__ == "__main__":
    print("fitting sin(x) on [-pi, pi] for 300 epochs...", flush=True)
    net = sn.compile(loss, outputs=p, optimizer=sn.Adam(lr=0.01), metrics=[])
    net.fit(data, epochs=300, batch_size=32, seed=0, verbose=0)
    grid = np.linspace(-np.pi, np.pi, 9, dtype=np.float32)[:, None]
    worst = np.abs(net.predict(grid) - np.sin(grid)).max()
    print(f"mean squared error {2 * net.evaluate(data)['loss']:.5f}; worst error on a grid {worst:.4f}")
