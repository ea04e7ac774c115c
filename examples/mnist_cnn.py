"""Chapter 6 of the book: convolutional networks on MNIST (NHWC images, 28x28x1).

net 1: conv 5x5 with 20 feature maps, 2x2 max-pool, dense 100 sigmoid, softmax 10; SGD eta = 0.1, minibatch 10.
net 2: two conv-pool layers (20 then 40 maps), dense 100 ReLU, softmax 10; SGD eta = 0.03, L2 lambda = 0.1.

As a model file:  staticnet train examples/mnist_cnn.py --epochs 20
As a script:      python examples/mnist_cnn.py [--net 1|2] [--epochs 20] [--seed 0]
"""
import argparse

import staticnet as sn

flatten = False  # the data this model file wants: images, not rows of 784


def build(net=1):
    x = sn.input("x", (None, 28, 28, 1))
    y = sn.input("y", (None, 10))
    if net == 1:
        h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="sigmoid"), 2)
        h = sn.dense(sn.flatten(h), 100, activation="sigmoid")
        p = sn.dense(h, 10, activation="softmax")
        return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1), "batch_size": 10}
    h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="relu"), 2)
    h = sn.max_pool2d(sn.conv2d(h, 40, 5, activation="relu"), 2)
    h = sn.dense(sn.flatten(h), 100, activation="relu")
    p = sn.dense(h, 10, activation="softmax")
    loss = sn.cross_entropy(p, y) + sn.l2(lam=0.1, n=50_000)
    return {"loss": loss, "outputs": p, "optimizer": sn.SGD(lr=0.03), "batch_size": 10}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", type=int, choices=(1, 2), default=1)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    sn.seed(args.seed)
    train, val, test = sn.data.mnist(args.data, flatten=False)
    spec = build(args.net)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
    net.fit(train, epochs=args.epochs, batch_size=args.batch_size, validation=val, seed=args.seed)
    print(f"CNN {args.net}: test accuracy {net.evaluate(test)['accuracy']:.4f}")
