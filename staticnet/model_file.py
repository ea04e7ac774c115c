"""What a model file is: running it, the keys it sets and their checks, and the model it makes.

`staticnet train`, `check`, `compile`, `explain` and `search` all read model files through these
functions, and so does each trial of a search on its worker (staticnet/search/trial.py), which is
why they live here rather than in the command line's module.
"""
from __future__ import annotations

import functools
import inspect
import io
import os
import runpy
import tokenize
import zipfile

from .checks import did_you_mean
from .errors import ArgumentError, GraphError, ModelFileError, UsageError

MODEL_FILE_KEYS = ("loss", "outputs", "optimizer", "epochs", "batch_size", "metrics", "data", "flatten")
DEFAULT_LR = 0.1  # SGD's learning rate when neither the model file nor --lr gives one


def run_user_code(path: str, function, *args):
    """function(*args), where a failure inside the user's code becomes a ModelFileError naming their line."""
    try:
        return function(*args)
    except (GraphError, ArgumentError) as e:  # their messages name the op and the user's line
        raise ModelFileError(f"{type(e).__name__}: {e}") from None
    except Exception as e:
        tb, line = e.__traceback__, None
        while tb is not None:
            if os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f"{path}:{line}" if line else path
        raise ModelFileError(f"{where}: {type(e).__name__}: {e}") from None


def load_model_file(path: str, seed: int | None = None, params: dict | None = None) -> dict:
    """Run a model file and collect the keys it sets, each checked (MODEL_FILE_HELP); `params` are
    passed to its build() as keyword arguments (`--param NAME=VALUE`, and each trial of a search)."""
    if not os.path.isfile(path):
        raise UsageError(f"no such model file: {path}")
    refuse_non_python(path)
    if seed is not None:
        from .init import seed as set_seed
        set_seed(seed)
    namespace = run_user_code(path, runpy.run_path, path, None, "__staticnet_model__")
    spec = {key: namespace[key] for key in MODEL_FILE_KEYS if key in namespace}
    if callable(namespace.get("build")):
        spec.update(built_spec(path, namespace["build"], params or {}))
    elif params:
        raise ModelFileError(f"{path}: defines no build() function to take the parameter {sorted(params)[0]!r}")
    return finished_spec(spec, path)


def refuse_non_python(path: str) -> None:
    """A model file must be Python source: Python would run a zip archive (a saved .snet model) as a zip
    application and fail with "can't find '__main__' module", and other binary files with a syntax error
    about null bytes, neither of which says that the wrong file was given."""
    if zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Python model file: it is a zip archive (a saved model? `staticnet "
                             "train --resume` and `staticnet export` take those)")
    with open(path, "rb") as f:
        data = f.read()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        text = None
    if text is None or "\0" in text:
        raise ModelFileError(f"{path}: not a Python model file: it holds binary data, not Python source")


def built_spec(path: str, build, params: dict) -> dict:
    """What build(**params) returns, checked to be a dict of model-file keys; `path` is the file the
    function is in, which messages name with the line of the user's code that failed."""
    built = run_user_code(path, functools.partial(build, **params))
    if not isinstance(built, dict):
        raise ModelFileError(f"{path}: build() must return a dict of model-file keys, got {kind_of(built)}")
    unknown = sorted(set(built) - set(MODEL_FILE_KEYS))
    if unknown:
        raise ModelFileError(f"{path}: build() returned unknown key {unknown[0]!r}; a model file may set "
                             f"{', '.join(MODEL_FILE_KEYS)}")
    return built


def finished_spec(spec: dict, path: str) -> dict:
    """A model file's keys with `outputs` defaulted to the loss, each checked."""
    if "loss" not in spec:
        raise ModelFileError(f"{path}: defines no `loss` (a model file sets `loss` and `outputs` at module level, "
                             "or a build() function returning a dict with them)")
    spec.setdefault("outputs", spec["loss"])
    _check_spec(spec, path)
    return spec


def kind_of(value) -> str:
    """A short description of a value the user gave, for a message."""
    from .graph import Tensor, fmt_shape
    if isinstance(value, Tensor):
        return f"a tensor of shape {fmt_shape(value.shape)}"
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _positive_integer(value) -> bool:
    import numpy as np
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def _check_spec(spec: dict, path: str) -> None:
    """Each key of the model file has the type it must have, or a ModelFileError naming the key."""
    from .graph import Tensor
    from .optim import Optimizer

    def refuse(key, expected):
        raise ModelFileError(f"{path}: `{key}` must be {expected}, got {kind_of(spec[key])}")

    loss, outputs = spec["loss"], spec["outputs"]
    if not isinstance(loss, Tensor) or loss.shape != ():
        refuse("loss", "a scalar tensor (a cost such as sn.mse(p, y))")
    if not (isinstance(outputs, Tensor) or (isinstance(outputs, (list, tuple)) and outputs
                                            and all(isinstance(t, Tensor) for t in outputs))):
        refuse("outputs", "a tensor or a non-empty list of tensors")
    if spec.get("optimizer") is not None and not isinstance(spec["optimizer"], Optimizer):
        refuse("optimizer", "an optimizer object such as sn.SGD(lr=0.1) or sn.Adam()")
    for key in ("epochs", "batch_size"):
        if key in spec and not _positive_integer(spec[key]):
            refuse(key, "a positive integer")
    if "metrics" in spec and not (isinstance(spec["metrics"], (list, tuple))
                                  and all(isinstance(m, str) for m in spec["metrics"])):
        refuse("metrics", 'a list of metric names such as ["accuracy"]')
    if "data" in spec and not (spec["data"] == "mnist" or callable(spec["data"])):
        refuse("data", '"mnist" or a function returning (train, validation, test)')
    if "flatten" in spec and not isinstance(spec["flatten"], bool):
        refuse("flatten", "True or False")


def _default_lr(cls):
    """The learning rate an optimizer class declares as its default, or None (SGD declares none)."""
    default = inspect.signature(cls.__init__).parameters["lr"].default
    return None if default is inspect.Parameter.empty else default


def chosen_optimizer(spec, name: str | None = None, lr: float | None = None):
    """(optimizer, where its learning rate came from): the model file's, unless --optimizer `name`s another
    one, which then gets its own default learning rate (a file's SGD rate of 3.0 would wreck Adam)."""
    from .optim import OPTIMIZERS, SGD
    given = spec.get("optimizer")
    if name:
        if name.lower() not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {name!r}; {did_you_mean(name, OPTIMIZERS)}choose from "
                             f"{', '.join(sorted(OPTIMIZERS))}")
        cls = OPTIMIZERS[name.lower()]
        if type(given) is cls:
            optimizer, source = given, "the model file's"
        elif _default_lr(cls) is not None:
            optimizer, source = cls(lr=_default_lr(cls)), f"{cls.__name__}'s default"
        else:
            optimizer, source = cls(lr=DEFAULT_LR), "the default"
    elif given is not None:
        optimizer, source = given, "the model file's"
    else:
        optimizer, source = SGD(lr=DEFAULT_LR), "the default"
    if lr is not None:
        optimizer.lr, source = lr, "--lr"
    return optimizer, source


def model_from_spec(spec, optimizer, path):
    from .graph import derived_from
    from .model import Model
    try:
        with derived_from(path):  # errors found while compiling name the model file, not the staticnet script
            return Model(spec["loss"], spec["outputs"], optimizer, spec.get("metrics"))
    except GraphError as e:
        raise ModelFileError(f"{type(e).__name__}: {e}") from None
