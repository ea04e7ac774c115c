"""Checks of the plain values users pass (counts, sizes, axes, rates, names), shared by the graph
builders, the optimizers and `fit`, so that every refusal reads alike: the op or function at the
user's file:line, the argument, what it must be, and the value given.

NumPy integers and floats are accepted wherever Python ones are (a size computed with NumPy is
still a size); bools are refused wherever a number belongs (True is an int to Python, never a
layer width or a learning rate).
"""
from __future__ import annotations

import difflib
import math
import os
import string
from dataclasses import dataclass

import numpy as np

from .errors import ArgumentError, GraphError
from .locations import fail
from .paths import output_problem


def is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    return is_integer(value) or isinstance(value, (float, np.floating))


def shown(value) -> str:
    """A value as a message quotes it, with its type where its repr does not tell it."""
    if type(value) in (int, float) or type(value).__module__ == "numpy":
        return repr(value)
    return f"{value!r} ({type(value).__name__})"


def nearest(name, choices):
    """The choice nearest to a misspelt `name` (case aside, by difflib's ratio), or None when none is near."""
    if not isinstance(name, str):
        return None
    by_lower = {str(c).lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def did_you_mean(name, choices) -> str:
    """"did you mean 'sigmoid'? ", what a message about an unknown name puts before the list of valid ones;
    "" when no choice is near."""
    found = nearest(name, choices)
    return f"did you mean {found!r}? " if found is not None else ""


def refuse(op: str, message: str, error: type[Exception] = GraphError):
    """Raise `error` naming `op` and the user's file:line."""
    fail(error, op, message)


def flag(op: str, name: str, value) -> bool:
    """A True/False argument (trainable=, ...): 0, 1, "no" or None are refused rather than read as truths."""
    if not isinstance(value, bool):
        refuse(op, f"{name} must be True or False, got {shown(value)}")
    return value


def count(op: str, name: str, value, minimum: int = 1, error: type[Exception] = GraphError) -> int:
    """`value` as a Python int of at least `minimum`, or an error naming it."""
    if not is_integer(value) or value < minimum:
        wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        refuse(op, f"{name} must be {wanted}, got {shown(value)}", error)
    return int(value)


@dataclass(frozen=True)
class Interval:
    """The values a real hyperparameter may take; an infinite bound is never reached (values are finite)."""
    low: float
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = False

    def __contains__(self, value) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return math.isfinite(value) and above and below

    def __str__(self):
        if self.low == -math.inf and self.high == math.inf:
            return "a finite number"
        if self.high == math.inf:
            return f"a finite number {'>=' if self.low_closed else '>'} {self.low:g}"
        return (f"a number in {'[' if self.low_closed else '('}{self.low:g}, "
                f"{self.high:g}{']' if self.high_closed else ')'}")


FINITE = Interval(-math.inf, low_closed=False)
POSITIVE = Interval(0.0, low_closed=False)
NON_NEGATIVE = Interval(0.0)
FRACTION = Interval(0.0, 1.0)  # [0, 1): momentum, decay rates of moving averages, dropout rates
FACTOR = Interval(0.0, 1.0, low_closed=False, high_closed=True)  # (0, 1]: a learning rate's decay per step
OPEN_FRACTION = Interval(0.0, 1.0, low_closed=False)  # (0, 1): a share of a whole, a factor that must reduce
UNIT = Interval(0.0, 1.0, high_closed=True)  # [0, 1]: a fraction of a rate that may be all of it


def real(op: str, name: str, value, allowed: Interval, error: type[Exception] = GraphError) -> float:
    """`value` as a Python float inside `allowed`, or an error naming it."""
    if not is_real(value) or float(value) not in allowed:
        refuse(op, f"{name} must be {allowed}, got {shown(value)}", error)
    return float(value)


NAME_PUNCTUATION = "_.:/-+@;[]"
NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + NAME_PUNCTUATION)
MAX_NAME_LENGTH = 1000
NAME_RULE = (f"a name is 1 to {MAX_NAME_LENGTH} characters among A-Z, a-z, 0-9 and {' '.join(NAME_PUNCTUATION)} "
             "(no spaces, quotes or line breaks)")


def name_problem(value) -> str | None:
    """What makes `value` no name for a node (an input, a parameter, a layer's prefix), or None.

    A name keys the data dicts, the parameters and the model file, and becomes an identifier of generated
    code; the characters allowed are the ones such names use, ONNX files' included (PyTorch's `input.1`,
    `onnx::Gemm_0`, `/fc1/Gemm_output_0`, TensorFlow's `dense/kernel:0`)."""
    if not isinstance(value, str) or not value:
        return f"must be a non-empty str, got {shown(value)}"
    if len(value) > MAX_NAME_LENGTH:
        return f"{quoted(value)} has {len(value):,} characters: {NAME_RULE}"
    bad = next((c for c in value if c not in NAME_CHARACTERS), None)
    if bad is not None:
        return f"{quoted(value)} holds {bad!r}: {NAME_RULE}"
    return None


def quoted(text: str, limit: int = 60) -> str:
    """A string as a message quotes it: its repr (line breaks and control characters escaped), shortened."""
    shown_text = repr(text)
    return shown_text if len(shown_text) <= limit else shown_text[:limit - 4] + "..." + shown_text[-1]


def name(op: str, value, what: str = "name") -> str:
    """A node's name (name_problem says which); refused naming `op` and the user's line."""
    problem = name_problem(value)
    if problem is not None:
        refuse(op, f"the {what} {problem}")
    return value


def numeric(op: str, value) -> None:
    """A non-tensor operand must be what sn.constant can hold: a number or an array of numbers."""
    try:
        kind = np.asarray(value).dtype.kind
    except (TypeError, ValueError):  # a ragged list
        kind = "O"
    if kind not in "fiub":
        refuse(op, f"operands must be tensors, numbers or arrays of numbers, got {shown(value)}")


def memory_available() -> int | None:
    """Bytes of memory the system can still give (Linux's MemAvailable), or None where unknown: what a large
    allocation is checked against before it is made (NumPy's own error names no parameter or node, and Linux
    may grant an allocation that the first write then cannot use)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def byte_size(count: int) -> str:
    """A number of bytes as a message shows it: 74.5 GiB, 3.0 MiB, 12 bytes."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def output_file(op: str, argument: str, path, taken: dict | None = None) -> None:
    """A file the call will write, refused now (before training) if it cannot be written or is the same
    file as one of `taken` (staticnet/paths.py)."""
    problem = output_problem(path, taken)
    if problem is not None:
        given = repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else shown(path)
        refuse(op, f"{argument}={given}: {problem}", ArgumentError)
