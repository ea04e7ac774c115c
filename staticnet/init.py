"""Weight initialisers.

Each returns a function of a shape giving an array.  Fan-in is the product of all
axes but the last (dense weights are (in, out); conv filters (kh, kw, in, out)), so
one rule serves both.  Draws come from one generator, reset by `sn.seed(n)`, so a
model built after the same seed starts from the same weights.
"""
from __future__ import annotations

import math

import numpy as np

from . import checks

_rng = np.random.default_rng(0)


def seed(n: int) -> None:
    """Reset the generator behind every initialiser (and default dropout / shuffle seeds)."""
    global _rng
    _rng = np.random.default_rng(n)


def generator() -> np.random.Generator:
    return _rng


def _fans(shape):
    fan_out = shape[-1] if shape else 1
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else (shape[0] if shape else 1)
    return fan_in, fan_out


def normal_scaled():
    """N(0, 1/sqrt(fan_in)): the book's improved initialisation, the default for weights."""
    return lambda shape: _rng.normal(0.0, 1.0 / math.sqrt(_fans(shape)[0]), shape)


def standard_normal():
    """N(0, 1): the book's first initialisation (also its choice for biases)."""
    return lambda shape: _rng.standard_normal(shape)


def normal(std: float = 1.0, mean: float = 0.0):
    return lambda shape: _rng.normal(mean, std, shape)


def uniform(limit: float, high: float | None = None):
    """uniform(limit) is U(-limit, limit); uniform(low, high) is U(low, high), as sn.search.uniform takes it.

    The bounds are checked here, where they are written: NumPy refuses a range wider than the largest float64
    only when the values are drawn, with a message that names neither the bounds nor the parameter."""
    if high is None:
        limit = checks.real("init.uniform", "limit", limit, checks.POSITIVE)
        low, high = -limit, limit
    else:
        low = checks.real("init.uniform", "low", limit, checks.FINITE)
        high = checks.real("init.uniform", "high", high, checks.Interval(low, low_closed=False))
    if not math.isfinite(high - low):
        checks.refuse("init.uniform", f"the range [{low:g}, {high:g}) is wider than the largest float64 "
                                      f"({np.finfo(np.float64).max:.4g}): no draw can cover it")
    return lambda shape: _rng.uniform(low, high, shape)


def glorot_uniform():
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    def draw(shape):
        fan_in, fan_out = _fans(shape)
        return _rng.uniform(-1, 1, shape) * math.sqrt(6.0 / (fan_in + fan_out))
    return draw


def glorot_normal():
    """N(0, sqrt(2 / (fan_in + fan_out)))."""
    def draw(shape):
        fan_in, fan_out = _fans(shape)
        return _rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)
    return draw


def he():
    """N(0, sqrt(2 / fan_in)), for relu layers (He et al., 2015)."""
    return lambda shape: _rng.normal(0.0, math.sqrt(2.0 / _fans(shape)[0]), shape)


def zeros():
    return lambda shape: np.zeros(shape)


def constant(value: float):
    return lambda shape: np.full(shape, value, dtype=np.float64)


BY_NAME = {
    "normal_scaled": normal_scaled, "standard_normal": standard_normal, "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal, "xavier_uniform": glorot_uniform, "xavier_normal": glorot_normal,
    "he": he, "zeros": zeros,
}


def resolve(init):
    """An initialiser given by name or as a function."""
    if init is None or callable(init):
        return init
    if init not in BY_NAME:
        raise ValueError(f"unknown initialiser {init!r}; valid names: {', '.join(sorted(BY_NAME))}")
    return BY_NAME[init]()
