"""The `staticnet` command line.

A model file is a Python file that defines its graph at module level: `loss` (the
scalar cost) and `outputs` (a tensor or list of tensors), and optionally `optimizer`,
`metrics`, `data` (a name such as "mnist") and defaults `epochs`, `batch_size`.  A
file may instead define `build()` returning a dict with those keys.
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys

from .errors import GraphError


class UsageError(Exception):
    """A bad command line: one line, exit code 2."""


class ModelFileError(Exception):
    """A mistake in the user's model file: one line, exit code 1."""


def load_model_file(path: str) -> dict:
    """Run a model file and collect what it defines."""
    if not os.path.isfile(path):
        raise UsageError(f"no such model file: {path}")
    try:
        namespace = runpy.run_path(path, run_name="__staticnet_model__")
        spec = namespace["build"]() if callable(namespace.get("build")) else namespace
    except GraphError as e:
        raise ModelFileError(f"{type(e).__name__}: {e}") from None
    except Exception as e:  # the user's own code failed: name the line in their file
        tb = e.__traceback__
        line = None
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


def cmd_check(args) -> int:
    from .graph import describe, as_list
    spec = load_model_file(args.model)
    print(describe([spec["loss"]] + as_list(spec["outputs"])))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line instead of a usage dump."""

    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="staticnet", description="A static-graph compiler for neural networks.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="build and shape-check a model file, then list its graph")
    check.add_argument("model", help="the model file (Python)")
    check.set_defaults(run=cmd_check)
    return parser




def main(argv=None) -> int:
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
    except ModelFileError as e:
        print(f"staticnet: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("staticnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
