"""Chapter 3 of the book: 784-100-10, cross-entropy cost, L2 regularisation (lambda = 5.0),
the improved N(0, 1/sqrt(n_in)) initialisation, SGD with eta = 0.5, minibatch 10.

As a model file:  staticnet train examples/mnist_mlp_xent.py --epochs 30
As a script:      python examples/mnist_mlp_xent.py [--epochs 30] [--seed 0]
"""
import argparse

import staticnet as sn


def build():
    x = sn.input("x", (None, 784))
    y = sn.input("y", (None, 10))
    h = sn.dense(x, 100, activation="sigmoid", bias_init=sn.init.standard_normal())
    p = sn.dense(h, 10, activation="sigmoid", bias_init=sn.init.standard_normal())
    loss = sn.cross_entropy(p, y) + sn.l2(lam=5.0, n=50_000)
    return {"loss": loss, "outputs": p, "optimizer": sn.SGD(lr=0.5), "epochs": 30, "batch_size": 10}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    sn.seed(args.seed)
    train, val, test = sn.data.mnist(args.data)
    spec = build()
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
    net.fit(train, epochs=args.epochs, batch_size=10, validation=val, seed=args.seed)
    print(f"784-100-10, cross-entropy + L2: test accuracy {net.evaluate(test)['accuracy']:.4f}")
