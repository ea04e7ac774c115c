"""Chapter 3 of the book as a hyperparameter search: 784-hidden-10 sigmoid, cross-entropy, L2 regularisation
lam / (2n) sum w^2 with n = 50,000, SGD, minibatch 10; build() takes the hidden units and lambda, and the
search's `lr` sets SGD's rate (0.5 when not searched).

    staticnet search examples/mnist_search.py --grid hidden=30,100 --grid lr=0.1,0.5,3.0 --grid lam=0,5 \\
        --epochs 5 --dir runs/ch3
    staticnet train examples/mnist_search.py --param hidden=100 --param lam=5    (one configuration)
"""
import staticnet as sn


def build(hidden=100, lam=5.0):
    x = sn.input("x", (None, 784))
    y = sn.input("y", (None, 10))
    h = sn.dense(x, hidden, activation="sigmoid")
    p = sn.dense(h, 10, activation="sigmoid")
    loss = sn.cross_entropy(p, y) + sn.l2(lam=lam, n=50_000)
    return {"loss": loss, "outputs": p, "optimizer": sn.SGD(lr=0.5), "batch_size": 10}
