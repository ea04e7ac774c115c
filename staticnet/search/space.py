"""Search spaces: the configurations a search trains, each a dict of parameter values.

`grid(lr=[0.1, 0.5], hidden=[30, 100])` is every combination, the last name varying fastest (as nested
loops in the order the names were given); `random(lr=loguniform(1e-3, 1), hidden=[30, 100], trials=20,
seed=0)` draws `trials` distinct configurations.  Values are JSON scalars (int, finite float, str, bool,
None): they go into each trial's result file and, with the search seed, make the trial's seed, so they
must read back exactly as they were.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re

import numpy as np

from ..errors import SearchError

DRAWS_PER_TRIAL = 100  # random(): draws allowed per wanted configuration before the space counts as too small


def _refuse(where: str, message: str):
    raise SearchError(f"{where}: {message}")


def _shown(value) -> str:
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({type(value).__name__})"


def checked_value(where: str, name: str, value):
    """`value` as the Python scalar a result file keeps; NumPy scalars become Python ones."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            _refuse(where, f"{name}={value!r}: values must be finite (a result file could not hold it)")
        return float(value)
    if isinstance(value, str) or value is None:
        return value
    _refuse(where, f"{name}'s values must be numbers, strings, booleans or None (each trial's result file "
                   f"holds them), got {_shown(value)}")


def checked_name(where: str, name) -> str:
    if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
        _refuse(where, f"parameter names are the keyword arguments of build(), got {name!r}")
    return name


def seed_value(value):
    """A parameter value as a trial's seed sees it: a whole float is the int it equals (lr=2 and lr=2.0 are
    one value, as the command line and Python spell it)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _refuse_repeats(where: str, name: str, options: list) -> None:
    """Two values of one parameter that are one value to the trial's seed would make two trials of one seed."""
    first = {}
    for value in options:
        key = json.dumps(seed_value(value))
        if key in first:
            same = "" if repr(first[key]) == repr(value) else " (a whole float is the int it equals)"
            _refuse(where, f"{name} lists one value twice: {first[key]!r} and {value!r}{same}")
        first[key] = value


def trial_seed(search_seed: int, params: dict) -> int:
    """The seed of the trial with these parameters: the first four bytes of the SHA-256 of
    {"params": ..., "search_seed": ...} as sorted JSON, modulo 2**31, with each value as seed_value() gives
    it.  From the values alone, not the trial's place in the space or the worker that runs it, so a trial
    gives the same weights however the space is ordered, extended or split among workers."""
    values = {k: seed_value(v) for k, v in params.items()}
    text = json.dumps({"params": values, "search_seed": search_seed}, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 2**31


class Distribution:
    """A range random() draws a value from."""

    def __init__(self, kind: str, low, high):
        where = f"{kind}({low!r}, {high!r})"
        if kind == "randint":
            if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (low, high)):
                _refuse(where, "the bounds must be integers")
            low, high = int(low), int(high)
        else:
            if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in (low, high)):
                _refuse(where, "the bounds must be finite numbers")
            low, high = float(low), float(high)
            if kind == "loguniform" and low <= 0:
                _refuse(where, "the bounds must be > 0")
        if not low < high:
            _refuse(where, "the low bound must be below the high one")
        self.kind, self.low, self.high = kind, low, high

    def draw(self, rng: np.random.Generator):
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return int(rng.integers(self.low, self.high + 1))

    @property
    def choices(self) -> int | None:
        """How many values it holds, when that is finite."""
        return self.high - self.low + 1 if self.kind == "randint" else None

    def description(self) -> dict:
        return {"kind": self.kind, "low": self.low, "high": self.high}

    def __repr__(self):
        return f"{self.kind}({self.low!r}, {self.high!r})"


def uniform(low: float, high: float) -> Distribution:
    """A float drawn uniformly from [low, high)."""
    return Distribution("uniform", low, high)


def loguniform(low: float, high: float) -> Distribution:
    """A float whose logarithm is uniform over [log low, log high): the usual prior for a learning rate."""
    return Distribution("loguniform", low, high)


def randint(low: int, high: int) -> Distribution:
    """An integer from low to high, both included."""
    return Distribution("randint", low, high)


class Space:
    """A list of configurations (dicts of parameter values) and how it was made, for the fingerprint."""

    kind = "space"

    def __init__(self, names: list[str], configurations: list[dict]):
        self.names = names
        self.configurations = configurations

    def __len__(self):
        return len(self.configurations)

    def __iter__(self):
        return iter(self.configurations)

    def varying(self) -> list[str]:
        """The names that take more than one value over the configurations."""
        return [n for n in self.names if len({json.dumps(c[n]) for c in self.configurations}) > 1]

    def description(self) -> dict:
        raise NotImplementedError


class Grid(Space):
    kind = "grid"

    def __init__(self, values: dict):
        if not values:
            _refuse("grid", "give at least one parameter, e.g. grid(lr=[0.1, 0.5])")
        checked = {}
        for name, options in values.items():
            checked_name("grid", name)
            if isinstance(options, (str, bytes, dict)) or not hasattr(options, "__iter__"):
                _refuse("grid", f"{name} must be a list of values, got {_shown(options)}")
            options = [checked_value("grid", name, v) for v in options]
            if not options:
                _refuse("grid", f"{name} has no values")
            _refuse_repeats("grid", name, options)
            checked[name] = options
        self.values = checked
        names = list(checked)
        super().__init__(names, [dict(zip(names, combo)) for combo in itertools.product(*checked.values())])

    def description(self) -> dict:
        return {"kind": "grid", "values": self.values}


class Random(Space):
    kind = "random"

    def __init__(self, dimensions: dict, trials: int, seed: int):
        if not dimensions:
            _refuse("random", "give at least one parameter, e.g. random(lr=loguniform(1e-3, 1), trials=10)")
        if not (isinstance(trials, (int, np.integer)) and not isinstance(trials, bool) and trials > 0):
            _refuse("random", f"trials must be a positive int, got {_shown(trials)}")
        if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
            _refuse("random", f"seed must be an int >= 0, got {_shown(seed)}")
        checked = {}
        for name, dimension in dimensions.items():
            checked_name("random", name)
            if isinstance(dimension, Distribution):
                checked[name] = dimension
            elif isinstance(dimension, (list, tuple)) and dimension:
                checked[name] = [checked_value("random", name, v) for v in dimension]
                _refuse_repeats("random", name, checked[name])
            else:
                _refuse("random", f"{name} must be a non-empty list of values or uniform(...), loguniform(...), "
                                  f"randint(...), got {_shown(dimension)}")
        sizes = [len(d) if isinstance(d, list) else d.choices for d in checked.values()]
        if None not in sizes and math.prod(sizes) < trials:
            _refuse("random", f"trials={trials}, but the space holds only {math.prod(sizes)} distinct "
                              "configurations: use grid(...) to train them all")
        self.dimensions, self.trials, self.seed = checked, int(trials), int(seed)
        super().__init__(list(checked), self._draw())

    def _draw(self) -> list[dict]:
        """`trials` distinct configurations, drawn in order from a generator seeded with `seed`."""
        rng = np.random.default_rng(self.seed)
        drawn, seen = [], set()
        for _ in range(self.trials * DRAWS_PER_TRIAL):
            configuration = {name: (d.draw(rng) if isinstance(d, Distribution) else d[int(rng.integers(len(d)))])
                             for name, d in self.dimensions.items()}
            key = json.dumps({k: seed_value(v) for k, v in configuration.items()}, sort_keys=True)
            if key not in seen:
                seen.add(key)
                drawn.append(configuration)
                if len(drawn) == self.trials:
                    return drawn
        _refuse("random", f"drew only {len(drawn)} distinct configurations of the {self.trials} asked for in "
                          f"{self.trials * DRAWS_PER_TRIAL} draws: the space is too small, use grid(...)")

    def description(self) -> dict:
        return {"kind": "random", "trials": self.trials, "seed": self.seed,
                "dimensions": {n: d.description() if isinstance(d, Distribution) else d
                               for n, d in self.dimensions.items()}}


def grid(**values) -> Grid:
    """Every combination of the values given per parameter: grid(lr=[0.1, 0.5, 3.0], hidden=[30, 100])."""
    return Grid(values)


def random(trials: int = 10, seed: int = 0, **dimensions) -> Random:
    """`trials` distinct configurations drawn at random: each parameter from a list of values (uniformly)
    or from uniform(low, high), loguniform(low, high) or randint(low, high); seed fixes the draws."""
    return Random(dimensions, trials, seed)


_DISTRIBUTION = re.compile(r"(uniform|loguniform|randint)\((.*),(.*)\)\Z")


def parse_value(text: str):
    """A value written on the command line: True/False/None (or true/false/none), an int, a float, or
    else the text itself as a str."""
    literal = {"true": True, "false": False, "none": None}
    if text.lower() in literal:
        return literal[text.lower()]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_assignment(text: str, allow_ranges: bool):
    """(name, values) from NAME=V1,V2,... or, with allow_ranges, NAME=loguniform(A,B) and its kin;
    ValueError with a message for anything else."""
    name, equals, values = text.partition("=")
    name = name.strip()
    if not equals or not name:
        raise ValueError(f"expected NAME=VALUE[,VALUE...], got {text!r}")
    if not (name.isidentifier() and not name.startswith("_")):
        raise ValueError(f"{name!r} is not a parameter name (a keyword argument of build())")
    found = _DISTRIBUTION.match(values.replace(" ", ""))
    if found:
        if not allow_ranges:
            raise ValueError(f"{text}: a range is drawn from by --random N; a grid needs a list of values")
        kind, low, high = found.groups()
        try:
            return name, Distribution(kind, parse_value(low), parse_value(high))
        except SearchError as e:
            raise ValueError(str(e)) from None
    parts = values.split(",")
    if any(not p.strip() for p in parts):
        raise ValueError(f"{text}: an empty value")
    parsed = [parse_value(p.strip()) for p in parts]
    bad = [v for v in parsed if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise ValueError(f"{text}: values must be finite, got {bad[0]!r}")
    return name, parsed
