"""The benchmark suite: staticnet against a vectorised NumPy implementation of the same training."""
