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


class DataError(ValueError):
    """A data file or array that cannot be used (names the file and the problem)."""


class MissingDependency(RuntimeError):
    """An optional extra that a feature needs is not installed (the message names the pip command)."""
