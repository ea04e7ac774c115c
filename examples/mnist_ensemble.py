"""The book's five-network ensemble of chapter 6 (99.67%) trained as a search, then voting.

The members are the trials of a search over a member number: net 3 of examples/mnist_cnn.py (the 99.60% network)
on the shift-expanded training set, each seeded from the search seed and its number, run side by side on this
machine's cores (one worker process each) or on a Dask cluster. Every trial keeps the weights of its best
validation epoch, the figure the book reports, and is checkpointed after every epoch: the same command after a
stop trains only what is missing, a stopped member going on from its last epoch as if it had never stopped.
Then the members vote, by plurality (the book's) and by the mean of their probabilities.

    python examples/mnist_ensemble.py [--members 5] [--workers N | --scheduler tcp://host:8786]
                                      [--init book] [--dropout book] [--epochs 40] [--dir runs/net3-ensemble]
    python examples/mnist_ensemble.py --vote runs/net3-book/seed0.snet runs/net3-book/seed1.snet ...

--vote trains nothing: saved models (such as those of `mnist_cnn.py --net 3 --ensemble 5`, which trains its
members one after another) vote on the test set. On two cores a search of two workers trains no faster than one
member after another: each worker then has one core.
"""
import argparse
import os
import sys

import staticnet as sn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_cnn  # noqa: E402  (the network and its options live there)


def member(member, init="default", dropout="inverted"):
    """One member of the ensemble: net 3 as a model file's build() returns it. `member` only numbers it (the
    search derives each trial's seed from its parameters); the training set is the search's, so no `data`."""
    spec = mnist_cnn.build(3, init, dropout)
    del spec["data"]
    return spec


def vote(models, test, names):
    """Each member's test accuracy, then the plurality and the mean vote's."""
    for name, model in zip(names, models):
        print(f"{name}: test accuracy {model.evaluate(test)['accuracy']:.4f}")
    for rule in ("plurality", "mean"):
        scores = sn.ensemble(models, vote=rule).evaluate(test)
        print(f"ensemble of {len(models)}, {rule} vote: test accuracy {scores['accuracy']:.4f} "
              f"({scores['errors']} errors in {len(test['x'])})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--init", choices=mnist_cnn.INITS, default="default")
    parser.add_argument("--dropout", choices=mnist_cnn.DROPOUTS, default="inverted")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0, help="the search seed (each member's comes from it)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a Dask scheduler, tcp://host:8786")
    parser.add_argument("--dir", default="runs/net3-ensemble", help="the search's directory (results, models)")
    parser.add_argument("--data", default=None, help="MNIST directory (default: $STATICNET_DATA or the cache)")
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="use only the first N images of each set (a quick check, not a result)")
    parser.add_argument("--vote", nargs="+", default=None, metavar="MODEL.snet",
                        help="train nothing: these saved models vote")
    args = parser.parse_args(argv)
    for name in ("members", "epochs", "workers", "subset"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer, got {value}")
    for path in args.vote or ():
        if not os.path.isfile(path):
            parser.error(f"--vote: {path} is not a file")

    train, validation, test = mnist_cnn.first_rows(sn.data.mnist(args.data, flatten=False), args.subset)
    if args.vote:
        vote([sn.load(path) for path in args.vote], test, args.vote)
        return
    space = sn.search.grid(member=list(range(args.members)), init=[args.init], dropout=[args.dropout])
    result = sn.search.run(member, space, sn.data.expand_shifts(train), validation=validation, epochs=args.epochs,
                           batch_size=10, workers=args.workers, executor=args.scheduler, directory=args.dir,
                           seed=args.seed)
    failed = [r["trial"] for r in result.records if not r.get("model")]
    if failed:
        sys.exit(f"{', '.join(failed)} did not finish (see {args.dir}); run the same command again")
    print(result.table())
    records = sorted(result.records, key=lambda r: r["params"]["member"])
    vote([sn.load(os.path.join(args.dir, r["model"])) for r in records], test,
         [f"member {r['params']['member']} ({r['trial']}, best validation epoch {r['best_epoch']})" for r in records])


if __name__ == "__main__":
    main()
