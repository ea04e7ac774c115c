"""Chapter 6 of the book: convolutional networks on MNIST (NHWC images, 28x28x1).

net 1: conv 5x5 with 20 feature maps, 2x2 max-pool, dense 100 sigmoid, softmax 10; SGD eta = 0.1, minibatch 10.
net 2: two conv-pool layers (20 then 40 maps), dense 100 ReLU, softmax 10; SGD eta = 0.03, L2 lambda = 0.1.
       batch_norm=True (--batch-norm): a batch norm between each convolution and its ReLU, and no L2.
net 3: the book's best network (99.60%): two conv-pool layers (20 then 40 maps 5x5, 2x2 max-pool, ReLU), two
       dense layers of 1000 ReLU units, softmax 10, dropout 0.5 on the inputs of the three dense layers; SGD
       eta = 0.03, minibatch 10, 40 epochs, no L2; trained on the training set expanded with its four one-pixel
       shifts (sn.data.expand_shifts, the book's expand_mnist.py: 250,000 images).  Its figure is the test
       accuracy at the epoch of best validation accuracy (the first such epoch; network3.py keeps the last).
       init="book" is network3.py's initialisation: weights N(0, 1/sqrt(n_out)), n_out = filters * 25 / 4 for
       a conv layer (its pooled fan-out), biases N(0, 1), the softmax layer zero; "default" is staticnet's,
       N(0, 1/sqrt(n_in)) weights and zero biases.  dropout="inverted" scales kept units by 1/(1 - p) in
       training; "book" is network3.py's, unscaled in training and times 1 - p at evaluation.

As a model file:  staticnet train examples/mnist_cnn.py --epochs 20
                  staticnet train examples/mnist_cnn.py --param net=3 --param init=book --save net3.snet
As a script:      python examples/mnist_cnn.py [--net 1|2] [--epochs 20] [--seed 0]
                  python examples/mnist_cnn.py --net 2 --batch-norm --epochs 3
                  python examples/mnist_cnn.py --net 3 [--init book] [--dropout book] [--dir runs/mnist_cnn3]
                  python examples/mnist_cnn.py --net 3 --ensemble 5           (five seeds, then their votes)
The script checkpoints net 3 after every epoch in --dir; after a stop, the same command with --resume goes
on from the last epoch saved, and ends as an uninterrupted run would.  (`staticnet train` reports the test
accuracy of the last epoch's weights, not of the best validation epoch's.)
"""
import argparse
import math
import os
import sys
import time

import staticnet as sn

flatten = False  # the data this model file wants: images, not rows of 784

INITS = ("default", "book")
DROPOUTS = ("inverted", "book")


def expanded_mnist(path=None):
    """(training set with its four one-pixel shifts, validation, test), NHWC images: the book's expansion."""
    train, validation, test = sn.data.mnist(path, flatten=False)
    return sn.data.expand_shifts(train), validation, test


def build(net=1, init="default", dropout="inverted", batch_norm=False):
    if batch_norm and net != 2:
        raise ValueError(f"batch_norm applies to net 2, got net {net!r}")
    x = sn.input("x", (None, 28, 28, 1))
    y = sn.input("y", (None, 10))
    if net == 1:
        h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="sigmoid"), 2)
        h = sn.dense(sn.flatten(h), 100, activation="sigmoid")
        p = sn.dense(h, 10, activation="softmax")
        return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1), "batch_size": 10}
    if net == 2:
        def conv(h, maps):
            if batch_norm:
                return sn.relu(sn.batch_norm(sn.conv2d(h, maps, 5)))
            return sn.conv2d(h, maps, 5, activation="relu")
        h = sn.max_pool2d(conv(x, 20), 2)
        h = sn.max_pool2d(conv(h, 40), 2)
        h = sn.dense(sn.flatten(h), 100, activation="relu")
        p = sn.dense(h, 10, activation="softmax")
        loss = sn.cross_entropy(p, y) if batch_norm else sn.cross_entropy(p, y) + sn.l2(lam=0.1, n=50_000)
        return {"loss": loss, "outputs": p, "optimizer": sn.SGD(lr=0.03), "batch_size": 10}
    if net != 3:
        raise ValueError(f"net must be 1, 2 or 3, got {net!r}")
    if init not in INITS or dropout not in DROPOUTS:
        raise ValueError(f"init must be one of {INITS} and dropout one of {DROPOUTS}, got {init!r} and {dropout!r}")
    book = init == "book"

    def initialised(n_out):  # network3.py: weights N(0, 1/sqrt(n_out)), biases N(0, 1)
        return {"init": sn.init.normal(1 / math.sqrt(n_out)), "bias_init": sn.init.standard_normal()} if book else {}

    def dropped(h):
        return sn.dropout(h, 0.5, inverted=dropout == "inverted")
    h = sn.max_pool2d(sn.conv2d(x, 20, 5, activation="relu", **initialised(20 * 25 // 4)), 2)
    h = sn.max_pool2d(sn.conv2d(h, 40, 5, activation="relu", **initialised(40 * 25 // 4)), 2)
    h = sn.dense(dropped(sn.flatten(h)), 1000, activation="relu", **initialised(1000))
    h = sn.dense(dropped(h), 1000, activation="relu", **initialised(1000))
    zero = {"init": sn.init.zeros(), "bias_init": sn.init.zeros()} if book else {}
    p = sn.dense(dropped(h), 10, activation="softmax", **zero)
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.03), "batch_size": 10,
            "epochs": 40, "data": expanded_mnist}


def first_rows(sets, count):
    """Each data set cut to its first `count` rows (a quick check of the script), or as it is with None."""
    return [s if s is None or count is None else {k: v[:count] for k, v in s.items()} for s in sets]


def checkpoint_paths(directory, seed):
    """(the checkpoint written after every epoch, the model of the best validation epoch) of one seed."""
    return (os.path.join(directory, f"seed{seed}.checkpoint.snet"), os.path.join(directory, f"seed{seed}.snet"))


def train_best(args, seed, train, validation, test):
    """Net 3 for one seed, checkpointed in args.dir: the model at its best validation epoch, and its line."""
    checkpoint, best = checkpoint_paths(args.dir, seed)
    if os.path.exists(best) and os.path.exists(checkpoint) and sn.load(checkpoint).epochs_done >= args.epochs:
        net = sn.load(best)  # trained to the end by an earlier run: its best epoch's model is all the vote needs
        return net, (f"net 3, seed {seed}: trained earlier ({best}); validation accuracy "
                     f"{net.evaluate(validation)['accuracy']:.4f}, test accuracy {net.evaluate(test)['accuracy']:.4f}")
    sn.seed(seed)
    spec = build(3, args.init, args.dropout)
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
    resume = checkpoint if os.path.exists(checkpoint) else None
    started = time.perf_counter()
    # patience = every epoch: nothing stops early, and at the end the best validation epoch's weights return
    history = net.fit(train, epochs=args.epochs, batch_size=args.batch_size, validation=validation, seed=seed,
                      checkpoint=checkpoint, resume=resume, early_stopping=args.epochs)
    if history.interrupted:
        sys.exit(f"seed {seed}: interrupted after epoch {net.epochs_done}; {checkpoint} holds it, and the same "
                 "command with --resume goes on from there")
    net.save(best)
    epoch = history.best_epoch
    seconds = [e["seconds"] for e in history.epochs]
    line = (f"net 3, seed {seed}: best validation accuracy {history.epochs[epoch - 1]['val_accuracy']:.4f} at epoch "
            f"{epoch}/{args.epochs}, test accuracy there {net.evaluate(test)['accuracy']:.4f} "
            f"({sum(seconds) / len(seconds):.1f} s per epoch, {time.perf_counter() - started:.0f} s this run)")
    return net, line


def check_checkpoints(args, seeds):
    """Before any training: with --resume, something to resume; without, no checkpoint to overwrite."""
    found = [checkpoint_paths(args.dir, s)[0] for s in seeds if os.path.exists(checkpoint_paths(args.dir, s)[0])]
    if args.resume and not found:
        sys.exit(f"--resume: no checkpoint to continue in {args.dir} (seed{seeds[0]}.checkpoint.snet ...)")
    if not args.resume and found:
        sys.exit(f"{found[0]} exists: pass --resume to continue it, or remove it to start again")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", type=int, choices=(1, 2, 3), default=1)
    parser.add_argument("--epochs", type=int, default=None, help="default: 20, and the book's 40 for net 3")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="MNIST directory (default: $STATICNET_DATA or the cache)")
    parser.add_argument("--init", choices=INITS, default="default", help="net 3: the weights' initialisation")
    parser.add_argument("--dropout", choices=DROPOUTS, default="inverted", help="net 3: the dropout's form")
    parser.add_argument("--ensemble", type=int, default=1, metavar="N",
                        help="net 3: train N seeds (--seed, --seed + 1, ...) one after another, then vote")
    parser.add_argument("--dir", default="runs/mnist_cnn3", help="net 3: where checkpoints and models go")
    parser.add_argument("--resume", action="store_true",
                        help="net 3: continue each seed checkpointed in --dir (a seed without a checkpoint starts)")
    parser.add_argument("--batch-norm", action="store_true",
                        help="net 2: a batch norm between each convolution and its ReLU, and no L2")
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="use only the first N images of each set (a quick check, not a result)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "ensemble", "subset"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.batch_norm and args.net != 2:
        parser.error("--batch-norm applies to --net 2")
    if args.net != 3 and (args.ensemble != 1 or args.resume or args.init != "default" or args.dropout != "inverted"):
        parser.error("--ensemble, --resume, --init and --dropout apply to --net 3")
    if args.net != 3:
        args.epochs = args.epochs or 20
        sn.seed(args.seed)
        train, val, test = first_rows(sn.data.mnist(args.data, flatten=False), args.subset)
        spec = build(args.net, batch_norm=args.batch_norm)
        net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"], metrics=["accuracy"])
        started = time.perf_counter()
        net.fit(train, epochs=args.epochs, batch_size=args.batch_size, validation=val, seed=args.seed)
        seconds = time.perf_counter() - started
        print(f"CNN {args.net}{' with batch norm' if args.batch_norm else ''}: test accuracy "
              f"{net.evaluate(test)['accuracy']:.4f} ({seconds:.0f} s in fit, compiling included)")
        return
    args.epochs = args.epochs or 40
    seeds = [args.seed + k for k in range(args.ensemble)]
    os.makedirs(args.dir, exist_ok=True)
    check_checkpoints(args, seeds)
    train, val, test = first_rows(sn.data.mnist(args.data, flatten=False), args.subset)
    train = sn.data.expand_shifts(train)
    print(f"net 3: init {args.init}, dropout {args.dropout}, {len(train['x'])} training images, "
          f"{args.epochs} epochs, seeds {seeds}", flush=True)
    members, lines = [], []
    for seed in seeds:
        net, line = train_best(args, seed, train, val, test)
        members.append(net)
        lines.append(line)
        print(line, flush=True)
    if len(members) > 1:
        for line in lines:
            print(line)
        for vote in ("plurality", "mean"):
            scores = sn.ensemble(members, vote=vote).evaluate(test)
            print(f"ensemble of {len(members)}, {vote} vote: test accuracy {scores['accuracy']:.4f} "
                  f"({scores['errors']} errors in {len(test['x'])})")


if __name__ == "__main__":
    main()
