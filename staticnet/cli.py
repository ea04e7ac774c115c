"""The `staticnet` command line: check, compile, train, bench.

A model file is a Python file that defines its graph at module level: `loss` (the
scalar cost) and `outputs` (a tensor or list of tensors), and optionally
`optimizer`, `data` ("mnist", the default, or a function returning
(train, validation, test) dicts), `epochs` and `batch_size`.  It may instead define
`build()` returning a dict with those keys.  Inputs are fed by name: for MNIST,
name them "x" (784 floats) and "y" (10 one-hot floats, or int64 "labels").
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys

from .errors import DataError, GraphError
from .plot import MissingDependency


class UsageError(Exception):
    """A bad command line: one line, exit code 2."""


class ModelFileError(Exception):
    """A mistake in the user's model file: one line, exit code 1."""


def load_model_file(path: str, seed: int | None = None) -> dict:
    """Run a model file and collect what it defines."""
    if not os.path.isfile(path):
        raise UsageError(f"no such model file: {path}")
    if seed is not None:
        from .init import seed as set_seed
        set_seed(seed)
    try:
        namespace = runpy.run_path(path, run_name="__staticnet_model__")
        spec = namespace["build"]() if callable(namespace.get("build")) else namespace
    except GraphError as e:
        raise ModelFileError(f"{type(e).__name__}: {e}") from None
    except Exception as e:  # the user's own code failed: name the line in their file
        tb, line = e.__traceback__, None
        while tb is not None:
            if os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f"{path}:{line}" if line else path
        raise ModelFileError(f"{where}: {type(e).__name__}: {e}") from None
    if not isinstance(spec, dict) or "loss" not in spec:
        raise ModelFileError(f"{path}: defines no `loss` (a model file sets `loss` and `outputs` at module level, "
                             "or a build() function returning a dict with them)")
    spec.setdefault("outputs", spec["loss"])
    return spec


def _optimizer(spec, args):
    from .optim import OPTIMIZERS, SGD
    if args.optimizer:
        name = args.optimizer.lower()
        if name not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {args.optimizer!r}; choose from {', '.join(sorted(OPTIMIZERS))}")
        lr = args.lr if args.lr is not None else getattr(spec.get("optimizer"), "lr", 0.1)
        return OPTIMIZERS[name](lr=lr)
    optimizer = spec.get("optimizer") or SGD(lr=args.lr if args.lr is not None else 0.1)
    if args.lr is not None:
        optimizer.lr = args.lr
    return optimizer


def _build_model(spec, args):
    from .model import Model
    try:
        return Model(spec["loss"], spec["outputs"], _optimizer(spec, args), spec.get("metrics", ("accuracy",)))
    except GraphError as e:
        raise ModelFileError(f"{type(e).__name__}: {e}") from None


def cmd_check(args) -> int:
    from .graph import as_list, describe
    spec = load_model_file(args.model)
    print(describe([spec["loss"]] + as_list(spec["outputs"])))
    return 0


def cmd_compile(args) -> int:
    from .graph import to_dot
    from .report import format_report
    spec = load_model_file(args.model)
    args.optimizer, args.lr = getattr(args, "optimizer", None), getattr(args, "lr", None)
    model = _build_model(spec, args)
    batch = args.batch_size or spec.get("batch_size", 10)
    seconds, cached = model.warm_up(batch)
    print(format_report(model, batch, model.compile_seconds + seconds, cached))
    if args.emit:
        os.makedirs(args.emit, exist_ok=True)
        target = os.path.join(args.emit, os.path.splitext(os.path.basename(args.model))[0] + "_generated.py")
        with open(target, "w") as f:
            f.write(model.source)
        print(f"generated source: {target}")
    if args.dot:
        before = [model.loss] + model.outputs + [v for _, v in model.update_pairs]
        train = model.programs["train"]
        text = ("digraph \"staticnet\" {\n  rankdir=TB;\n" + to_dot(before, "before fusion", cluster="before")
                + to_dot(train.roots, "after fusion", cluster="after") + "}\n")
        with open(args.dot, "w") as f:
            f.write(text)
        print(f"graph before and after fusion: {args.dot}")
    return 0


def _datasets(spec, args):
    from . import data
    source = spec.get("data", "mnist")
    if callable(source):
        return source()
    if source != "mnist":
        raise ModelFileError(f"{args.model}: unknown data {source!r}; use 'mnist' or a function returning (train, val, test)")
    return data.mnist(args.data, flatten=spec.get("flatten", True))


def cmd_train(args) -> int:
    spec = load_model_file(args.model, seed=args.seed)
    model = _build_model(spec, args)
    train, val, test = _datasets(spec, args)
    epochs = args.epochs or spec.get("epochs", 10)
    batch = args.batch_size or spec.get("batch_size", 10)
    history = model.fit(train, epochs=epochs, batch_size=batch, validation=val, seed=args.seed,
                        checkpoint=args.save)
    scores = model.evaluate(test)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
    print(f"test: {shown}")
    if args.save:
        model.save(args.save)
        print(f"saved: {args.save}")
    if args.plot:
        from .plot import training_curves
        training_curves(history, args.plot)
        print(f"training curves: {args.plot}")
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line instead of a usage dump."""

    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="staticnet", description="A static-graph compiler for neural networks.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="build and shape-check a model file, then list its graph")
    check.add_argument("model", help="the model file (Python)")
    check.set_defaults(run=cmd_check)

    comp = sub.add_parser("compile", help="check, differentiate, fuse and compile a model file; print a report")
    comp.add_argument("model", help="the model file (Python)")
    comp.add_argument("--emit", metavar="DIR", help="write the generated source into DIR")
    comp.add_argument("--dot", metavar="FILE", help="write the graph before and after fusion as Graphviz DOT")
    comp.add_argument("--batch-size", type=_positive_int, help="batch size for the report (default: the file's, or 10)")
    comp.set_defaults(run=cmd_compile)

    train = sub.add_parser("train", help="train a model file on MNIST (or the data it names)")
    train.add_argument("model", help="the model file (Python)")
    train.add_argument("--epochs", type=_positive_int, help="epochs to train (default: the file's, or 10)")
    train.add_argument("--batch-size", type=_positive_int, help="minibatch size (default: the file's, or 10)")
    train.add_argument("--lr", type=_positive_float, help="learning rate (default: the file's optimizer's, or 0.1)")
    train.add_argument("--optimizer", help="sgd, adagrad, rmsprop, adam or adamw")
    train.add_argument("--data", metavar="DIR", help="directory holding the MNIST files (default: $STATICNET_DATA, or downloaded "
                       "once into ~/.cache/staticnet/mnist)")
    train.add_argument("--save", metavar="FILE", help="save the trained model (and a checkpoint every epoch)")
    train.add_argument("--plot", metavar="FILE.png", help="draw the training curves (needs matplotlib)")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of the weights, the shuffling and dropout (default: 0)")
    train.set_defaults(run=cmd_train)

    sub.add_parser("bench", help="run the benchmark suite (see `staticnet bench --help`)", add_help=False)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the suite parses its own options
        from .bench.__main__ import main as bench_main
        return bench_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            from . import __version__
            print(f"staticnet {__version__}")
            return 0
        if not getattr(args, "run", None):
            raise UsageError("missing command; see `staticnet --help`")
        return args.run(args)
    except UsageError as e:
        print(f"staticnet: error: {e}", file=sys.stderr)
        return 2
    except (ModelFileError, DataError, MissingDependency) as e:
        print(f"staticnet: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("staticnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
