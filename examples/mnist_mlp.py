"""Chapter 1 of the book: a 784-30-10 sigmoid network, quadratic cost, SGD with eta = 3.0, minibatch 10.

As a model file:  staticnet train examples/mnist_mlp.py --epochs 30
As a script:      python examples/mnist_mlp.py [--hidden 100] [--epochs 30] [--seed 0]
"""
import argparse

import staticnet as sn


def build(hidden=30):
    x = sn.input("x", (None, 784))
    y = sn.input("y", (None, 10))
    # Weights N(0, 1/sqrt(n_in)) (the book's improved initialisation, chapter 3): with chapter 1's N(0, 1)
    # the 100-unit network saturated here and stalled near 87%, as the book warns it can.
    h = sn.dense(x, hidden, activation="sigmoid", bias_init=sn.init.standard_normal())
    p = sn.dense(h, 10, activation="sigmoid", bias_init=sn.init.standard_normal())
    return {"loss": sn.mse(p, y), "outputs": p, "optimizer": sn.SGD(lr=3.0), "epochs": 30, "batch_size": 10}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="MNIST directory (default: $STATICNET_DATA or the cache)")
    args = parser.parse_args()
    sn.seed(args.seed)
    train, val, test = sn.data.mnist(args.data)
    spec = build(args.hidden)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
    net.fit(train, epochs=args.epochs, batch_size=10, validation=val, seed=args.seed)
    print(f"784-{args.hidden}-10, quadratic cost: test accuracy {net.evaluate(test)['accuracy']:.4f}")
