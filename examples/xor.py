"""XOR with a 2-4-1 sigmoid network: a graph built, differentiated and trained with updates.

Run: python examples/xor.py
"""
import numpy as np

import staticnet as sn

sn.seed(0)
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)

x = sn.input("x", (None, 2))
y = sn.input("y", (None, 1))
p = sn.dense(sn.dense(x, 4, activation="tanh"), 1, activation="sigmoid")
loss = sn.cross_entropy(p, y)
outputs = p

if __name__ == "__main__":
    print("training a 2-4-1 network on XOR for 500 steps...", flush=True)
    params = sn.Graph(loss).params
    grads = sn.grad(loss, params)
    step = sn.function([x, y], loss, updates=[(w, w - 2.0 * g) for w, g in zip(params, grads)])
    for epoch in range(500):
        cost = step(X, Y)
    predictions = sn.function([x], p)(X)
    print(f"cost {float(cost):.4f}; predictions {np.round(predictions.ravel(), 3).tolist()}")
