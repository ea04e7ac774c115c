"""The `staticnet` command line: check, compile, train, search, export, bench.

A model file is a Python file that defines its graph; MODEL_FILE_HELP below lists every
key it may set.  Everything a command needs is checked before the work starts (the
model file's keys, the output paths, the thread count), so a mistake costs a one-line
message and not a traceback after an hour of training.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from .errors import (DataError, GraphError, MissingDependency, ModelFileError, NumericalError, SearchError,
                     UsageError)
from .model_file import (chosen_optimizer, kind_of, load_model_file, model_from_spec, refuse_non_python,
                         run_user_code)
from .onnx_support import DEFAULT_OPSET, MIN_OPSET
from .paths import output_problem

MODEL_FILE_HELP = """\
A model file is Python that sets these keys at module level, or returns them in a dict from a
build() function (build()'s keys win over the module's):
  loss        the scalar cost to minimise (required), e.g. sn.cross_entropy(p, y)
  outputs     the tensor, or list of tensors, that predictions and accuracy use (default: loss)
  optimizer   an optimizer object, e.g. sn.SGD(lr=3.0) (default: SGD with lr 0.1)
  epochs      epochs to train, a positive integer (default: 10)
  batch_size  minibatch size, a positive integer (default: 10)
  metrics     a list of metric names to report (default: accuracy where the output is a classifier; [] for none)
  data        "mnist" (the default), or a function returning (train, validation, test): dicts of
              arrays keyed by input name (validation may be None)
  flatten     for MNIST, True (the default): x is (n, 784) float32; False: x is images (n, 28, 28, 1)
MNIST feeds the inputs by name: "x" as above (values in [0, 1]), "y" one-hot (n, 10) float32, and
"labels" (n,) int64. --epochs, --batch-size, --optimizer and --lr override the file's values; with
--optimizer and no --lr, the learning rate is that optimizer's default (SGD's: the file's, or 0.1)."""

SEARCH_HELP = """\
Each trial runs the model file as `staticnet train` does, with build(**params) given the searched
values; lr, batch_size and epochs, when build() does not take them, set the training instead. Its
seed comes from --seed and its parameters, and the table's command trains the same weights again.
The search directory keeps one result per trial: running the same command again trains only the
trials that have none (after Ctrl-C, say); a different search there is refused without --force."""

def _output_file(option: str, path: str | None, taken: dict | None = None) -> None:
    """A file the command will write must be writable before any work starts, and must not be one of
    `taken` (the command's inputs and other outputs: {how a message names it: path})."""
    if path is None:
        return
    problem = output_problem(path, taken)
    if problem is not None:
        raise UsageError(f"{option} {path or repr(path)}: {problem}")


def _output_directory(option: str, path: str | None) -> None:
    """A directory the command will write files into (made if missing) must be usable before any work starts."""
    if path is None:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a file, not a directory")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):  # the files go into the nearest directory that exists, once made
        existing = os.path.dirname(existing)
    problem = output_problem(os.path.join(existing, "file"))
    if problem is not None:
        raise UsageError(f"{option} {path}: {problem}")


def _check_thread_count() -> None:
    """$STATICNET_NUM_THREADS is read when the first model compiles; a bad value is caught here instead."""
    from .threads import configured
    try:
        configured()
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_check(args) -> int:
    from .graph import as_list, describe
    spec = load_model_file(args.model)
    print(describe([spec["loss"]] + as_list(spec["outputs"])))
    return 0


def cmd_explain(args) -> int:
    from .explain import explain_source
    spec = load_model_file(args.model)
    model = model_from_spec(spec, chosen_optimizer(spec)[0], args.model)
    print(explain_source(model), end="")
    return 0


def cmd_compile(args) -> int:
    from .graph import to_dot
    from .report import format_report
    _output_directory("--emit", args.emit)
    _output_file("--dot", args.dot, {"the model file": args.model})
    spec = load_model_file(args.model)
    model = model_from_spec(spec, chosen_optimizer(spec)[0], args.model)
    batch = args.batch_size or spec.get("batch_size", 10)
    seconds, cached = model.warm_up(batch)
    print(format_report(model, batch, model.compile_seconds + seconds, cached))
    if args.emit:
        os.makedirs(args.emit, exist_ok=True)
        target = os.path.join(args.emit, os.path.splitext(os.path.basename(args.model))[0] + "_generated.py")
        with open(target, "w") as f:
            f.write(model.source)
        kernels = os.path.join(args.emit, os.path.splitext(os.path.basename(args.model))[0] + "_kernels")
        os.makedirs(kernels, exist_ok=True)
        for kernel in model.kernels():
            with open(os.path.join(kernels, kernel.name + ".py"), "w") as f:
                f.write(kernel.source)
        print(f"generated source: {target}, and the kernels it calls in {kernels}")
    if args.dot:
        before = [model.loss] + model.outputs + [v for _, v in model.update_pairs]
        train = model.programs["train"]
        text = ("digraph \"staticnet\" {\n  rankdir=TB;\n" + to_dot(before, "before fusion", cluster="before")
                + to_dot(train.roots, "after fusion", cluster="after") + "}\n")
        with open(args.dot, "w") as f:
            f.write(text)
        print(f"graph before and after fusion: {args.dot}")
    return 0


def cmd_cache(args) -> int:
    from .codegen import cache, product_choice
    directory = cache.configured_dir()
    if os.path.exists(directory) and not os.path.isdir(directory):
        named = f"STATICNET_CACHE={directory}" if os.environ.get("STATICNET_CACHE") else f"the compile cache {directory}"
        raise UsageError(f"{named} is not a directory; point STATICNET_CACHE at a directory")
    if args.clear:
        try:
            removed = cache.clear(directory)
        except OSError as e:
            raise UsageError(f"cannot clear the compile cache {directory}: {e.strerror or e}") from None
        print(f"removed {removed} entries from the compile cache {directory}")
        return 0
    size = cache.size_bytes(directory)
    print(f"compile cache: {directory}\n  {len(cache.entries(directory))} entries (drivers and kernels), "
          f"{size / 2**20:.1f} MiB with their compiled code\n"
          "  set STATICNET_CACHE to move it; `staticnet cache --clear` empties it")
    print(product_choice.described(directory))
    return 0


def _check_mnist_layout(model, spec, path) -> None:
    """MNIST comes flat, (n, 784), unless the file sets flatten = False: say so before loading, not after."""
    flatten = spec.get("flatten", True)
    x = next((t for t in model.inputs if t.name == "x"), None)
    if x is None:
        return
    if flatten and x.shape[1:] == (28, 28, 1):
        raise ModelFileError(f"{path}: input 'x' takes images (None, 28, 28, 1), but MNIST is loaded flat, "
                             "(n, 784): set `flatten = False` in the model file")
    if not flatten and x.shape[1:] == (784,):
        raise ModelFileError(f"{path}: input 'x' takes rows of 784, but `flatten = False` loads MNIST as images "
                             "(n, 28, 28, 1): remove it")


def _datasets(spec, args):
    """(train, validation, test) from MNIST or the model file's data() function."""
    from . import data
    source = spec.get("data", "mnist")
    if source == "mnist":
        return data.mnist(args.data, flatten=spec.get("flatten", True))
    sets = run_user_code(args.model, source)
    if not isinstance(sets, (tuple, list)) or len(sets) != 3:
        count = f" of {len(sets)}" if isinstance(sets, (tuple, list)) else ""
        raise ModelFileError(f"{args.model}: data() must return (train, validation, test), got a "
                             f"{type(sets).__name__}{count}")
    if sets[0] is None or sets[2] is None:
        raise ModelFileError(f"{args.model}: data() must return training and test data (only validation may be None)")
    return sets


SPEED_EXAMPLES = 1000  # the book's chapter 5 measures the speed of learning on the first 1,000 training images


def _first_rows(data, count: int):
    """The first `count` examples of a data set given as a dict of arrays, a tuple of arrays or one array."""
    if isinstance(data, dict):
        return {name: values[:count] for name, values in data.items()}
    return [values[:count] for values in data] if isinstance(data, (tuple, list)) else data[:count]


def _distributed_options(args) -> dict:
    """fit's distributed options from --distributed, --mode and --sync-every, checked before anything is built:
    outside mpiexec or without mpi4py, one line.  --mode exact alone trains this one process in exact mode."""
    if not args.distributed:
        if args.mode == "fast" or args.sync_every:
            raise UsageError(f"{'--mode fast' if args.mode else '--sync-every'} needs --distributed")
        return {"mode": "exact"} if args.mode else {}
    from .distributed import DistributedError, world
    try:
        world()
    except DistributedError as e:
        raise UsageError(f"--distributed: {e}") from None
    return {"distributed": True, "mode": args.mode or "exact", "sync_every": args.sync_every}


def cmd_train(args) -> int:
    from .distributed import is_rank_zero
    say = print if is_rank_zero() else (lambda *_, **__: None)  # rank 0 alone prints and writes
    parallel = _distributed_options(args)
    # --save may be the --resume file: training goes on from it, and each checkpoint replaces it atomically
    _output_file("--save", args.save, {"the model file": args.model})
    _output_file("--plot", args.plot, {"the model file": args.model, "--resume": args.resume, "--save": args.save})
    if args.plot:
        from .plot import require_matplotlib
        require_matplotlib()
    if args.resume is not None and not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume}: no such file")
    spec = load_model_file(args.model, seed=args.seed, params=_build_parameters(args.param))
    optimizer, lr_source = chosen_optimizer(spec, args.optimizer, args.lr)
    say(f"training {args.model} with {type(optimizer).__name__}, lr {optimizer.lr:g} ({lr_source})", flush=True)
    model = model_from_spec(spec, optimizer, args.model)
    if args.track_speed:
        from .learning_speed import bias_layers
        if not bias_layers(model):
            raise UsageError(f"--track-speed: {args.model} has no layer with a bias (a parameter named "
                             "'<layer>/b', as sn.dense makes), so there is no speed of learning to track")
    if spec.get("data", "mnist") == "mnist":
        _check_mnist_layout(model, spec, args.model)
    train, val, test = _datasets(spec, args)
    epochs = args.epochs or spec.get("epochs", 10)
    batch = args.batch_size or spec.get("batch_size", 10)
    tracked = _first_rows(train, SPEED_EXAMPLES) if args.track_speed else None
    history = model.fit(train, epochs=epochs, batch_size=batch, validation=val, seed=args.seed,
                        checkpoint=args.save, resume=args.resume, track=["learning_speed"] if tracked else None,
                        track_data=tracked, **parallel)
    scores = model.evaluate(test)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
    say(f"test: {shown}")
    if not is_rank_zero():
        return 0
    if args.save:
        model.save(args.save)
        print(f"saved: {args.save}")
    if args.plot:
        from . import plot
        plot.history(history, args.plot)
        print(f"training curves: {args.plot}")
    return 0


def _build_parameters(assignments) -> dict:
    """--param NAME=VALUE options as build()'s keyword arguments, each name once."""
    params = {}
    for name, values in assignments or []:
        if len(values) != 1:
            raise UsageError(f"--param {name}: one value, got {len(values)}")
        if name in params:
            raise UsageError(f"--param {name} is given twice")
        params[name] = values[0]
    return params


def _search_space(args):
    from . import search
    if not args.grid:
        raise UsageError("give the search space with --grid NAME=V1,V2,... (once per parameter)")
    names = [name for name, _ in args.grid]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--grid {twice[0]} is given twice")
    ranges = [name for name, values in args.grid if isinstance(values, search.Distribution)]
    if ranges and args.random is None:
        raise UsageError(f"--grid {ranges[0]}: a range is drawn from by --random N; a grid needs a list of values")
    dimensions = dict(args.grid)
    if args.random:
        return search.random(trials=args.random, seed=args.seed, **dimensions)
    return search.grid(**dimensions)


def cmd_search(args) -> int:
    """Train the model file once per configuration, print a line per finished trial, then the table."""
    import importlib.util

    from . import search
    from .search.trial import MnistData, ModelFileBuilder
    if args.halving is None and args.min_epochs is not None:
        raise UsageError("--min-epochs is the first rung of --halving ETA")
    if args.halving is not None and args.epochs is None:
        raise UsageError("--halving needs --epochs: the epochs of its last rung")
    space = _search_space(args)
    if not os.path.isfile(args.model):
        raise UsageError(f"no such model file: {args.model}")
    refuse_non_python(args.model)
    namespace = ModelFileBuilder(args.model).namespace()
    spec = {key: namespace[key] for key in ("data", "flatten") if key in namespace}
    if spec.get("data", "mnist") == "mnist":
        flatten = spec.get("flatten", True)
        if not isinstance(flatten, bool):
            raise ModelFileError(f"{args.model}: `flatten` must be True or False, got {kind_of(flatten)}")
        train, validation, test = MnistData(args.data, flatten), None, None
    elif callable(spec["data"]):
        train, validation, test = _datasets(spec, args)
    else:
        raise ModelFileError(f"{args.model}: `data` must be \"mnist\" or a function returning (train, validation, "
                             f"test), got {kind_of(spec['data'])}")
    directory = args.dir or os.path.join("runs", os.path.splitext(os.path.basename(args.model))[0])
    options = dict(epochs=args.epochs, batch_size=args.batch_size, monitor=args.monitor, patience=args.patience,
                   workers=args.workers, executor=args.scheduler, directory=directory, seed=args.seed,
                   force=args.force)
    if args.halving is not None:
        result = search.halving(args.model, space, train, validation, eta=args.halving,
                                min_epochs=args.min_epochs or 1, **options)
    else:
        result = search.run(args.model, space, train, validation, **options)
    print()
    print(result.table(), end="")
    written = ["results.md", "results.csv", "results.json"]
    if importlib.util.find_spec("matplotlib") is not None:
        result.plot(os.path.join(result.directory, "search.png"))
        written.append("search.png")
    else:
        print("no plot: it needs matplotlib (pip install 'staticnet[plot]')")
    print(f"written in {result.directory}: {', '.join(written)} and each trial's .json and .snet")
    best = result.best
    if best is None:
        print(f"staticnet: error: {result.why_no_best()}; the table gives each one's error", file=sys.stderr)
        return 1
    from .model import load
    if test is None:
        from . import data
        test = data.mnist(args.data, flatten=train.flatten)[2]
    scores = load(best["model"]).evaluate(test)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
    params = " ".join(f"{k}={v}" for k, v in best["params"].items())
    print(f"best: {best['trial']} ({params}): {result.monitor} {best[result.monitor]:.4f} at epoch {best['epoch']}; "
          f"test: {shown}; model {best['model']}")
    record = next(r for r in result.records if r["trial"] == best["trial"])
    print(f"the same weights again: {record['command']}")
    return 0


def cmd_export(args) -> int:
    """A saved model's prediction graph as ONNX, read without compiling it (so it needs no Numba)."""
    from .onnx_export import export
    from .onnx_support import checked_opset, require_onnx
    from .serialize import read_forward_graph
    _output_file("output", args.output, {"the model": args.model})
    if not os.path.isfile(args.model):
        raise UsageError(f"no such model file: {args.model}")
    try:
        opset = checked_opset(require_onnx("staticnet export"), args.opset)
    except ValueError as e:
        raise UsageError(f"--opset: {e}") from None
    features, outputs, _ = read_forward_graph(args.model)
    try:
        export(outputs, args.output, inputs=features, opset=opset)
    except GraphError as e:
        raise ModelFileError(f"{args.model}: cannot export: {e}") from None
    print(f"exported: {args.output} (inputs {', '.join(f'{t.name} {t.shape}' for t in features)}; "
          f"opset {opset})")
    return 0


def _integer_at_least(least: int, what: str):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _integer_at_least(1, "a positive integer")


def _assignment(ranges: bool):
    """NAME=V1,V2,... (with `ranges`, also NAME=loguniform(A,B) and the like) as (name, values)."""
    def parse(text):
        from .search.space import parse_assignment
        try:
            return parse_assignment(text, allow_ranges=ranges)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse
_non_negative_int = _integer_at_least(0, "an integer >= 0")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
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

    explain = sub.add_parser("explain", help="print the training graph and the generated training loop, each "
                                             "kernel annotated with what it computes (the book's BP1-BP4)")
    explain.add_argument("model", help="the model file (Python)")
    explain.set_defaults(run=cmd_explain)

    comp = sub.add_parser("compile", help="check, differentiate, fuse and compile a model file; print a report")
    comp.add_argument("model", help="the model file (Python)")
    comp.add_argument("--emit", metavar="DIR", help="write the generated source into DIR")
    comp.add_argument("--dot", metavar="FILE", help="write the graph before and after fusion as Graphviz DOT")
    comp.add_argument("--batch-size", type=_positive_int, help="batch size for the report (default: the file's, or 10)")
    comp.set_defaults(run=cmd_compile)

    train = sub.add_parser("train", help="train a model file on MNIST (or the data it names)",
                           epilog=MODEL_FILE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("model", help="the model file (Python)")
    train.add_argument("--epochs", type=_positive_int, help="epochs to train (default: the file's, or 10)")
    train.add_argument("--batch-size", type=_positive_int, help="minibatch size (default: the file's, or 10)")
    train.add_argument("--lr", type=_positive_float,
                       help="learning rate (default: the file's optimizer's; with --optimizer, that optimizer's default)")
    train.add_argument("--optimizer", help="sgd, adagrad, rmsprop, adam or adamw")
    train.add_argument("--data", metavar="DIR", help="directory holding the MNIST files (default: $STATICNET_DATA, or downloaded "
                       "once into ~/.cache/staticnet/mnist)")
    train.add_argument("--save", metavar="FILE", help="save the trained model (and a checkpoint every epoch)")
    train.add_argument("--resume", metavar="FILE", help="continue training from a model saved by --save "
                       "(its weights, optimizer state and history)")
    train.add_argument("--plot", metavar="FILE.png", help="draw the training curves (needs matplotlib)")
    train.add_argument("--track-speed", action="store_true",
                       help="record each layer's speed of learning after every epoch, on the first "
                            f"{SPEED_EXAMPLES:,} training examples (the plot then shows the hidden layers')")
    train.add_argument("--seed", type=_non_negative_int, default=0,
                       help="seed of the weights, the shuffling and dropout (default: 0)")
    train.add_argument("--param", action="append", metavar="NAME=VALUE", type=_assignment(ranges=False),
                       help="pass NAME=VALUE to the model file's build() (repeat for each; values are read as "
                       "numbers, True/False/None, or else text)")
    train.add_argument("--distributed", action="store_true",
                       help="train with every process of the MPI job: mpiexec -n N staticnet train ... --distributed "
                       "(needs pip install 'staticnet[mpi]'); rank 0 alone prints and saves")
    train.add_argument("--mode", choices=("exact", "fast"),
                       help="with --distributed: exact (default; the same bits for any number of processes) or fast "
                       "(MPI's own sum of the gradients); --mode exact alone trains this process in exact mode, "
                       "with the bits of --distributed on any number of processes")
    train.add_argument("--sync-every", type=_positive_int, metavar="H",
                       help="with --distributed: local SGD, each process steps alone and the weights are averaged "
                       "every H steps")
    train.set_defaults(run=cmd_train)

    found = sub.add_parser("search", help="train a model file once per configuration of a search space (grid or "
                           "random), on local processes or a Dask cluster", epilog=SEARCH_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("model", help="the model file (Python); its build() takes the searched parameters")
    found.add_argument("--grid", action="append", metavar="NAME=V1,V2,...", type=_assignment(ranges=True),
                       help="a parameter and its values (repeat per parameter); with --random also "
                       "NAME=uniform(A,B), loguniform(A,B) or randint(A,B)")
    found.add_argument("--random", type=_positive_int, metavar="N",
                       help="train N configurations drawn at random from the --grid values instead of all")
    found.add_argument("--seed", type=_non_negative_int, default=0,
                       help="the search seed: of the random draws and, with each trial's parameters, of its weights, "
                       "shuffle and dropout (default: 0)")
    found.add_argument("--epochs", type=_positive_int, help="epochs per trial (default: the file's, or 10)")
    found.add_argument("--batch-size", type=_positive_int, help="minibatch size (default: the file's, or 10)")
    found.add_argument("--monitor", help="the score to rank by (default: val_accuracy where the model reports "
                       "accuracy, else val_loss)")
    found.add_argument("--patience", type=_positive_int,
                       help="stop a trial after this many epochs without improvement")
    found.add_argument("--halving", type=_integer_at_least(2, "an integer >= 2"), metavar="ETA",
                       help="successive halving: keep the best 1/ETA of the trials at each rung")
    found.add_argument("--min-epochs", type=_positive_int, help="with --halving: the first rung's epochs at least "
                       "(default: 1)")
    where = found.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, help="local worker processes (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run the trials on the Dask scheduler at ADDRESS, "
                       "e.g. tcp://host:8786 (needs pip install 'staticnet[distributed]')")
    found.add_argument("--dir", metavar="DIR", help="the search directory: results, models, resumption "
                       "(default: runs/MODEL)")
    found.add_argument("--force", action="store_true", help="replace the results of a different search in --dir")
    found.add_argument("--data", metavar="DIR", help="directory holding the MNIST files (default: $STATICNET_DATA, "
                       "or downloaded once into ~/.cache/staticnet/mnist)")
    found.set_defaults(run=cmd_search)

    cached = sub.add_parser("cache", help="show where compiled code is cached, its size and entry count")
    cached.add_argument("--clear", action="store_true", help="remove every entry and its compiled code")
    cached.set_defaults(run=cmd_cache)

    export = sub.add_parser("export", help="write a saved model (.snet) as ONNX, for onnxruntime and other tools")
    export.add_argument("model", help="the saved model (.snet)")
    export.add_argument("output", help="the ONNX file to write")
    export.add_argument("--opset", type=_integer_at_least(MIN_OPSET, f"an ONNX opset (at least {MIN_OPSET})"),
                        help=f"the ONNX opset to write (default: {DEFAULT_OPSET}; 20 adds a native Gelu, 24 Swish)")
    export.set_defaults(run=cmd_export)

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
            from .version import __version__
            print(f"staticnet {__version__}")
            return 0
        if not getattr(args, "run", None):
            raise UsageError("missing command; see `staticnet --help`")
        _check_thread_count()
        return args.run(args)
    except UsageError as e:
        print(f"staticnet: error: {e}", file=sys.stderr)
        return 2
    except SearchError as e:  # raised before any trial trains: the space, the options, the directory
        print(f"staticnet: error: {e}", file=sys.stderr)
        return 2
    except (ModelFileError, DataError, MissingDependency, NumericalError) as e:  # NumericalError: training diverged
        print(f"staticnet: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("staticnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
