"""Errors a user can get while building a graph.

Every message starts with the op and the user's file:line, so the mistake can be
found without reading a traceback.
"""


class GraphError(ValueError):
    """A mistake in the graph itself (not in the data fed to it)."""


class ShapeError(GraphError):
    """Operand shapes that do not fit the op."""


class DTypeError(GraphError):
    """Operand dtypes that do not fit the op."""


class ArgumentError(ValueError, TypeError):
    """A bad value for an argument of a function or a constructor outside the graph: fit's batch_size=0, an
    optimizer's lr=-1, a callback's setting, a metric's average.  The rule: arguments of graph builders (sn.dense's
    units) are part of the graph and raise GraphError; bad arrays raise DataError; every other bad argument,
    of a wrong value or a wrong type, raises ArgumentError, which is a ValueError and, so that `except
    TypeError` catches a wrong type as Python's own errors would, a TypeError."""


class DataError(ValueError):
    """A data file or array that cannot be used (names the file and the problem)."""


class UnknownName(KeyError):
    """A key that names nothing there (a parameter of net.params): the message says what is there.  A KeyError,
    so `except KeyError` and Mapping-style code keep working, but printed as its message (KeyError's own str
    shows the repr of its argument)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class MissingDependency(RuntimeError):
    """An optional extra that a feature needs is not installed (the message names the pip command)."""


class NumericalError(FloatingPointError):
    """A value that is not finite (NaN or infinity) appeared while training or running a function.

    The message names where: the epoch and step, and the first node that produced such a value, with
    its op, shape and the user's file:line.  `epoch` and `step` (1-based; None outside fit), `node` (the
    graph node, or None when it could not be found) and `parameters` (names of the leaves that held
    non-finite values) are kept for a program to read."""

    def __init__(self, message: str, *, epoch=None, step=None, node=None, parameters=()):
        super().__init__(message)
        self.epoch, self.step, self.node, self.parameters = epoch, step, node, tuple(parameters)


class SearchError(ValueError):
    """A hyperparameter search that cannot start: a bad space or option, or a directory holding another
    search.  Raised before any trial trains."""


class UsageError(Exception):
    """A bad command line: one line, exit code 2."""


class ModelFileError(Exception):
    """A mistake in the user's model file: one line, exit code 1."""
