"""Chapter 5 of the book: why deep networks are hard to train, measured with net.learning_speed.

The speed of learning of layer l is ||mean over the examples of dC/db^l||.  In deep sigmoid networks it falls
toward the input layer (vanishing gradients); with large weights it can grow toward it instead (exploding).

    python examples/vanishing_gradients.py              speeds at initialisation over 10 seeds beside the book's,
                                                        sigmoid and ReLU; 500 epochs of full-batch gradient descent
                                                        with the speeds tracked (three plots); exploding gradients
    python examples/vanishing_gradients.py --accuracy   also trains the four networks on 50,000 images (30 epochs;
                                                        --accuracy-seeds 3 for three runs of each)
"""
import argparse
import os
import time

import numpy as np

import staticnet as sn

NETWORKS = ([784, 30, 30, 10], [784, 30, 30, 30, 10], [784, 30, 30, 30, 30, 10])
# Nielsen, chapter 5, "The vanishing gradient problem": hidden-layer speeds at initialisation on the first
# 1,000 training images (one initialisation, from the book's fig/generate_gradient.py) ...
BOOK_SPEEDS = {2: (0.07, 0.31), 3: (0.012, 0.060, 0.283), 4: (0.003, 0.017, 0.070, 0.285)}  # by hidden layers
# ... and validation accuracies after 30 epochs on 50,000 images (minibatch 10, eta 0.1, lambda 5.0).
BOOK_ACCURACY = {"784-30-10": 0.9648, "784-30-30-10": 0.9690, "784-30-30-30-10": 0.9657,
                 "784-30-30-30-30-10": 0.9653}
SPEED_EXAMPLES = 1000


def network(sizes, hidden="sigmoid", lam=5.0, n=SPEED_EXAMPLES, eta=0.1, weights=None):
    """The book's network2: `hidden` units, a sigmoid output layer, the cross-entropy cost with L2 (lam/(2n)),
    weights N(0, 1/sqrt(n_in)) unless `weights` is another initialiser, biases N(0, 1)."""
    x = sn.input("x", (None, sizes[0]))
    y = sn.input("y", (None, sizes[-1]))
    a = x
    for i, units in enumerate(sizes[1:], start=2):
        a = sn.dense(a, units, activation=hidden if i < len(sizes) else "sigmoid", init=weights,
                     bias_init=sn.init.standard_normal())
    return sn.compile(sn.cross_entropy(a, y) + sn.l2(lam=lam, n=n), outputs=a, optimizer=sn.SGD(lr=eta),
                      metrics=["accuracy"])


def name(sizes):
    return "-".join(map(str, sizes))


def initial_speeds(sizes, data, seeds, hidden="sigmoid", weights=None):
    """The hidden layers' speeds at initialisation, one row per seed."""
    rows = []
    for seed in range(seeds):
        sn.seed(seed)
        rows.append(list(network(sizes, hidden, weights=weights).learning_speed(data).values())[:-1])
    return np.array(rows)


def speed_table(data, seeds, hidden):
    print(f"\n{hidden} hidden layers: speed of each hidden layer at initialisation, first to last, "
          f"mean +- sd (min-max) over {seeds} seeds" + (", the book's value below" if hidden == "sigmoid" else ""))
    for sizes in NETWORKS:
        rows = initial_speeds(sizes, data, seeds, hidden)
        shown = [f"{m:.3f} +- {s:.3f} ({lo:.3f}-{hi:.3f})"
                 for m, s, lo, hi in zip(rows.mean(0), rows.std(0), rows.min(0), rows.max(0))]
        print(f"  {name(sizes):<20} " + "".join(f"{cell:<31}" for cell in shown).rstrip())
        if hidden == "sigmoid":
            print(f"  {'  the book':<20} " + "".join(f"{b:<31.3f}" for b in BOOK_SPEEDS[len(sizes) - 2]).rstrip())


def training_plots(data, epochs, directory):
    """Full-batch gradient descent on the 1,000 images (eta 0.1, lambda 5.0) with the speeds tracked, as the
    book's figures "Speed of learning: N hidden layers"; one plot per network."""
    print(f"\nfull-batch gradient descent on {SPEED_EXAMPLES:,} images, {epochs} epochs, eta 0.1, lambda 5.0 "
          "(seed 0): speeds at initialisation -> after the last epoch")
    for sizes in NETWORKS:
        sn.seed(0)
        net = network(sizes)
        before = list(net.learning_speed(data).values())[:-1]
        history = net.fit(data, epochs=epochs, batch_size=SPEED_EXAMPLES, verbose=0, seed=0,
                          track=["learning_speed"], track_data=data)
        after = [history[f"learning_speed/dense{i}"][-1] for i in range(1, len(sizes) - 1)]
        path = os.path.join(directory, f"speed_{len(sizes) - 2}_hidden.png")
        sn.plot.history(history, path)
        print(f"  {name(sizes):<20} " + "   ".join(f"{b:.3f} -> {a:.2g}" for b, a in zip(before, after))
              + f"   (training accuracy {history['accuracy'][-1]:.3f}; {path})")


def chain_of_neurons():
    """The book's explanation: four sigmoid neurons in a chain, each weight 100 and each bias set so that
    z = 0 (b_1 = -100 x, then -100 * 0.5), so that every factor w sigma'(z) is 100 / 4 = 25."""
    x, y = sn.input("x", (None, 1)), sn.input("y", (None, 1))
    a = x
    for bias in (-100.0, -50.0, -50.0, -50.0):
        a = sn.dense(a, 1, activation="sigmoid", init=sn.init.constant(100.0), bias_init=sn.init.constant(bias))
    net = sn.compile(sn.cross_entropy(a, y), outputs=a)
    speeds = list(net.learning_speed({"x": np.ones((1, 1), np.float32), "y": np.zeros((1, 1), np.float32)}).values())
    print("\nexploding gradients, the book's chain of four sigmoid neurons with w = 100 and z = 0 at each: speeds "
          + ", ".join(f"{s:g}" for s in speeds) + "; each "
          + ", ".join(f"{earlier / later:g}" for earlier, later in zip(speeds, speeds[1:]))
          + " times the next (w sigma'(0) = 25)")


def exploding_relu(data, seeds):
    """ReLU layers with the book's chapter 1 weights N(0, 1), large for 784 or 30 inputs: each layer multiplies
    the error by about ||W|| going back, so the speed grows toward the input; trained, the weights blow up."""
    sizes = NETWORKS[-1]
    rows = initial_speeds(sizes, data, seeds, "relu", weights=sn.init.standard_normal())
    print(f"\nexploding gradients, {name(sizes)} with ReLU and N(0, 1) weights: speeds at initialisation, mean over "
          f"{seeds} seeds: " + ", ".join(f"{m:.3g}" for m in rows.mean(0)))
    for eta in (0.1, 1.0):
        sn.seed(0)
        net = network(sizes, "relu", eta=eta, weights=sn.init.standard_normal())
        try:
            history = net.fit(data, epochs=20, batch_size=SPEED_EXAMPLES, verbose=0, seed=0)
            speeds = list(net.learning_speed(data).values())[:-1]
            print(f"  eta {eta}: still finite after 20 epochs of full-batch descent, loss {history['loss'][-1]:.3g}, "
                  "speeds now " + ", ".join(f"{s:.3g}" for s in speeds) + ": no value overflowed, so the NaN guard "
                  "has nothing to catch; a layer at speed 0 has stopped learning")
        except sn.NumericalError as error:
            print(f"  eta {eta}: the NaN guard stopped training:\n    " + str(error).replace("\n", "\n    "))


def accuracies(train, val, test, seeds):
    """The book's runs: 30 epochs on 50,000 images, minibatch 10, eta 0.1, lambda 5.0, for each seed."""
    print(f"\n50,000 training images, 30 epochs, minibatch 10, eta 0.1, lambda 5.0; validation accuracy after the "
          "last epoch and the best epoch's, test accuracy after the last")
    print(f"  {'network':<20} {'seed':>4} {'validation':>10} {'best':>7} {'test':>7} {'book':>7} {'minutes':>8}")
    for sizes in ([784, 30, 10],) + NETWORKS:
        for seed in range(seeds):
            sn.seed(seed)
            net = network(sizes, n=len(train["x"]))
            started = time.perf_counter()
            history = net.fit(train, epochs=30, batch_size=10, validation=val, seed=seed, verbose=0)
            minutes = (time.perf_counter() - started) / 60
            print(f"  {name(sizes):<20} {seed:>4} {history['val_accuracy'][-1]:>10.2%} "
                  f"{max(history['val_accuracy']):>7.2%} {net.evaluate(test)['accuracy']:>7.2%} "
                  f"{BOOK_ACCURACY[name(sizes)]:>7.2%} {minutes:>8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="initialisations to average over (default: 10)")
    parser.add_argument("--epochs", type=int, default=500, help="epochs of full-batch training (default: 500)")
    parser.add_argument("--plots", default=".", help="directory for the three plots (default: here)")
    parser.add_argument("--accuracy", action="store_true", help="train the four networks on 50,000 images too")
    parser.add_argument("--accuracy-seeds", type=int, default=1, help="seeds of each of those runs (default: 1)")
    parser.add_argument("--data", default=None, help="MNIST directory (default: $STATICNET_DATA or the cache)")
    args = parser.parse_args()
    train, val, test = sn.data.mnist(args.data)
    first = {"x": train["x"][:SPEED_EXAMPLES], "y": train["y"][:SPEED_EXAMPLES]}

    speed_table(first, args.seeds, "sigmoid")
    speed_table(first, args.seeds, "relu")
    sn.seed(0)
    net = network(NETWORKS[1], n=len(train["x"]))
    net.learning_speed(first)  # compiled on first use
    started = time.perf_counter()
    net.learning_speed(train)
    print(f"\nlearning_speed of {name(NETWORKS[1])} on all {len(train['x']):,} training images: "
          f"{time.perf_counter() - started:.2f} s")
    training_plots(first, args.epochs, args.plots)
    chain_of_neurons()
    exploding_relu(first, args.seeds)
    if args.accuracy:
        accuracies(train, val, test, args.accuracy_seeds)


if __name__ == "__main__":
    main()
