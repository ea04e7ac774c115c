"""Where the user is: the file:line of their call, and errors that name it.

Every build-time error names the op and the user's line; this is the one place that finds it (the first
stack frame outside the staticnet package, or the line a gradient or optimizer step derives from).
"""
from __future__ import annotations

import os
import sys

from .errors import GraphError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_location_override: list[str] = []


class derived_from:
    """Nodes made inside this block (gradients, optimizer steps) report `loc`, the user line they derive from."""

    def __init__(self, loc: str):
        self.loc = loc

    def __enter__(self):
        _location_override.append(self.loc)

    def __exit__(self, *exc):
        _location_override.pop()


def user_location() -> str:
    """file:line of the first stack frame outside the staticnet package."""
    if _location_override:
        return _location_override[-1]
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame = frame.f_back
    if frame is None:
        return "<unknown>:0"
    filename = frame.f_code.co_filename
    if os.path.isabs(filename):
        try:
            rel = os.path.relpath(filename)
            if not rel.startswith(".."):
                filename = rel
        except ValueError:
            pass
    return f"{filename}:{frame.f_lineno}"


def located(error_type: type[GraphError], op: str, loc: str, message: str) -> GraphError:
    return error_type(f"{op} at {loc}: {message}")


def fail(error_type: type[GraphError], op: str, message: str):
    """Raise a build-time error for a composite op, located at the user's call.

    Callers often translate an error caught inside staticnet; `from None` keeps that internal error out of the
    traceback, so the user sees the one line that names the op, the values and their own file:line."""
    raise located(error_type, op, user_location(), message) from None
