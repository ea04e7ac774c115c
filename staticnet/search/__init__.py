"""Hyperparameter search: grid and random search, and successive halving, on local processes or Dask.

    space = sn.search.grid(lr=[0.1, 0.5, 3.0], hidden=[30, 100])
    result = sn.search.run(build, space, train, validation=val, epochs=10, workers=2, directory="runs/ch3")
    result.best, result.table(), result.plot("search.png")

A search is many independent trainings, so it scales out with no communication between them: the
coordinator (this process) sends each trial's configuration to a worker and writes what comes back into
the search directory, one file per trial, so a search resumes where it stopped.  Importing this module
imports neither Numba nor Dask.
"""
from .coordinator import halving, run
from .result import SearchResult
from .space import Distribution, Grid, Random, grid, loguniform, randint, random, trial_seed, uniform
from .trial import MnistData as MNIST

__all__ = ["MNIST", "Distribution", "Grid", "Random", "SearchResult", "grid", "halving", "loguniform", "randint",
           "random", "run", "trial_seed", "uniform"]
