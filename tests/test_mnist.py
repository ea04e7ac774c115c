"""The book's chapter 1 network on the full MNIST data, compiled: CI must see it reach 94%."""
import os

import pytest

import staticnet as sn
from tests.conftest import require_mnist


@pytest.fixture(scope="module")
def mnist():
    require_mnist()
    return sn.data.mnist()


def test_chapter1_network_reaches_94_percent(mnist):
    train, val, test = mnist
    sn.seed(0)
    x, y = sn.input("x", (None, 784)), sn.input("y", (None, 10))
    p = sn.dense(sn.dense(x, 30, activation="sigmoid"), 10, activation="sigmoid")
    net = sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=3.0), metrics=["accuracy"])
    hist = net.fit(train, epochs=3, batch_size=10, validation=val, seed=0, verbose=0)
    accuracy = net.evaluate(test)["accuracy"]
    assert accuracy >= 0.94, f"test accuracy {accuracy:.4f} after {len(hist)} epochs"
    assert hist["val_accuracy"][-1] >= 0.94


def test_the_books_first_convolutional_network_trains_end_to_end(mnist):
    train, val, test = sn.data.mnist(flatten=False)
    sn.seed(0)
    x, y = sn.input("x", (None, 28, 28, 1)), sn.input("y", (None, 10))
    h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="sigmoid"), 2)
    p = sn.dense(sn.dense(sn.flatten(h), 100, activation="sigmoid"), 10, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1), metrics=["accuracy"])
    net.fit(train, epochs=3, batch_size=10, seed=0, verbose=0)
    accuracy = net.evaluate(test)["accuracy"]
    assert accuracy >= 0.96, f"test accuracy {accuracy:.4f} after 3 epochs"
