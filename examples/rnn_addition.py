"""A recurrent network adds binary numbers digit by digit, which needs the carry it remembers.

Inputs are two 8-bit numbers' bits, least significant first; the target is their sum's bits.
A per-digit feedforward network of the same size cannot learn it (it never sees the carry).
Run: python examples/rnn_addition.py
"""
import numpy as np

import staticnet as sn


def additions(n, bits=8, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2 ** (bits - 1), n), rng.integers(0, 2 ** (bits - 1), n)
    digits = lambda v: ((v[:, None] >> np.arange(bits)) & 1).astype(np.float32)  # noqa: E731
    return {"x": np.stack([digits(a), digits(b)], 2), "y": digits(a + b)[:, :, None]}


sn.seed(0)
x, y = sn.input("x", (None, 8, 2)), sn.input("y", (None, 8, 1))
h = sn.rnn(x, 16, activation="tanh", return_sequences=True)
W, c = sn.param("out/W", (16, 1)), sn.param("out/b", (1,))
p = sn.sigmoid(h @ W + c)
loss = sn.cross_entropy(p, y)
outputs = p

if __name__ == "__main__":
    print("training an Elman network to add 8-bit numbers, 30 epochs...", flush=True)
    train, test = additions(2000, seed=0), additions(500, seed=1)
    net = sn.compile(loss, outputs=p, optimizer=sn.Adam(lr=0.02), metrics=[])
    net.fit(train, epochs=30, batch_size=32, seed=0, verbose=0)
    exact = np.all((net.predict(test["x"]) > 0.5) == (test["y"] > 0.5), axis=(1, 2)).mean()
    print(f"{exact:.1%} of 500 unseen sums exactly right")
