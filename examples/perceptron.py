"""The perceptron learning rule, w <- w + eta y x on each misclassified point, on separable data.

It is the perceptron loss max(0, -y (w.x + b)) under SGD with batch size 1; the step unit
gives the prediction.  Run: python examples/perceptron.py, or as a model file: staticnet train examples/perceptron.py
"""
import numpy as np

import staticnet as sn

points = sn.data.linearly_separable(200, margin=0.05, seed=2)
x = sn.input("x", (None, 2))
y = sn.input("y", (None,))
w = sn.param("w", value=np.zeros(2, np.float32))
b = sn.param("b", value=np.zeros((), np.float32))
score = x @ w + b
loss = sn.perceptron_loss(score, y)
outputs = sn.step(score)  # 1 for the +1 class, 0 for the -1 class
optimizer, batch_size, epochs, metrics = sn.SGD(lr=1.0), 1, 20, ["accuracy"]


def data():
    """As a model file: trained and tested on the same points."""
    return points, None, points


if __name__ == "__main__":
    print("training a perceptron on linearly separable points until it makes no error...", flush=True)
    net = sn.compile(loss, outputs=outputs, optimizer=optimizer, metrics=metrics)
    for epoch in range(1, 101):
        net.fit(points, epochs=1, batch_size=batch_size, seed=0, verbose=0)  # one more epoch per call
        errors = int(round((1 - net.evaluate(points)["accuracy"]) * len(points["y"])))
        if errors == 0:
            break
    print(f"converged after {epoch} epochs: {errors} training errors; w = {w.value}, b = {float(b.value):.3f}")
