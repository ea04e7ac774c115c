"""Where the user is: the file:line of their call, and errors that name it.

Every build-time error names the op and the user's line; this is the one place that finds it (the first
stack frame outside the staticnet package, or the line a gradient or optimizer step derives from).
A location is stored as one printable line (`escaped`, which codegen/source_text.py also renders every
comment and docstring with); this module imports nothing of staticnet but its errors, so the graph can use it.
"""
from __future__ import annotations

import os
import sys

from .errors import GraphError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_location_override: list[str] = []


def escaped(text) -> str:
    """`text` on one line of printable characters: each non-printable character (line breaks, control
    characters, NUL, separators, surrogates) as its Python escape (\\n, \\x00, \\u2028).  Idempotent (its
    result is printable), so a comment may be rendered again as part of another."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in str(text))


class derived_from:
    """Nodes made inside this block (gradients, optimizer steps) report `loc`, the user line they derive from."""

    def __init__(self, loc: str):
        self.loc = rendered(loc)

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
    return rendered(f"{filename}:{frame.f_lineno}")


MAX_LOCATION_LENGTH = 2000


def rendered(location: str) -> str:
    """A location as staticnet stores it: one line of printable characters (a path may hold anything: its
    line breaks and control characters are escaped, `escaped`), at most MAX_LOCATION_LENGTH
    long (the end kept: the file's name and line).  Generated code's comments carry it."""
    text = escaped(location)
    return text if len(text) <= MAX_LOCATION_LENGTH else "..." + text[3 - MAX_LOCATION_LENGTH:]


def location_problem(value) -> str | None:
    """What makes `value` (read from a file) no location, or None: a location is a string of printable
    characters (as `rendered` makes them), at most MAX_LOCATION_LENGTH long."""
    if not isinstance(value, str):
        return "must be a string (file:line)"
    if len(value) > MAX_LOCATION_LENGTH:
        return f"has {len(value):,} characters; a location has at most {MAX_LOCATION_LENGTH:,}"
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        return f"holds {bad!r}; a location is one line of printable characters"
    return None


def located(error_type: type[GraphError], op: str, loc: str, message: str) -> GraphError:
    return error_type(f"{op} at {loc}: {message}")


def fail(error_type: type[GraphError], op: str, message: str):
    """Raise a build-time error for a composite op, located at the user's call.

    Callers often translate an error caught inside staticnet; `from None` keeps that internal error out of the
    traceback, so the user sees the one line that names the op, the values and their own file:line."""
    raise located(error_type, op, user_location(), message) from None
