"""Text in generated source: the one place that turns a string into a comment, an identifier, a docstring
line or a literal of the code staticnet writes and imports.

Names and locations come from users and from files (.snet, ONNX), and the generated module is imported,
so text that could end a comment line, close a docstring or a string literal would run as code.  Python
ends a line at \\n and \\r only, but the comment-stripping that makes the hashed code (driver.code_only)
splits lines as str.splitlines does, at \\v \\f \\x1c-\\x1e \\x85 U+2028 U+2029 too; and a NUL or a lone
surrogate makes the file unwritable or unparsable.  So every such string is rendered here, on one line
of printable characters (str.isprintable), whatever it holds; `check_source` refuses generated code with
anything else before it is written, as the last guard.
"""
from __future__ import annotations

import math
import string

import numpy as np

from ..locations import escaped  # every text is escaped as a location is (locations is below the graph)

IDENTIFIER_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_")


def comment(text) -> str:
    """A comment line's text (without indentation): '# ' and `text` escaped."""
    return "# " + escaped(text)


def identifier(text) -> str:
    """`text` with every character but ASCII letters, digits and '_' replaced by '_'.

    ASCII only: Python normalises non-ASCII identifiers (NFKC), so two different names could become one
    variable.  The result may start with a digit or be a keyword: driver.readable prefixes those."""
    return "".join(c if c in IDENTIFIER_CHARACTERS else "_" for c in str(text))


def docstring(text) -> str:
    """`text` as lines inside a triple-quoted docstring: each line escaped, its backslashes and quotes too, so
    nothing in it can end the string, and a '#' starting a line written \\x23, so that driver.code_only,
    which drops comment lines, keeps every line of it."""
    lines = []
    for line in str(text).split("\n"):
        line = escaped(line).replace("\\", "\\\\").replace('"', '\\"')
        if line.lstrip().startswith("#"):
            line = line.replace("#", "\\x23", 1)
        lines.append(line)
    return "\n".join(lines)


def literal(value) -> str:
    """A Python literal of `value` (None, a bool, number or str, or a tuple or list of them) that evaluates to
    it: a str as its ascii() form (one line of ASCII), a non-finite float as math.inf / math.nan."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return repr(None if value is None else bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value):
            return repr(value)
        return "math.nan" if math.isnan(value) else ("math.inf" if value > 0 else "-math.inf")
    if isinstance(value, str):
        return ascii(value)
    if isinstance(value, list):
        return f"[{', '.join(literal(v) for v in value)}]"
    if isinstance(value, tuple):
        return f"({literal(value[0])},)" if len(value) == 1 else f"({', '.join(literal(v) for v in value)})"
    raise TypeError(f"internal error: {type(value).__name__} is not a literal of generated code")


def check_source(code: str) -> None:
    """Refuse generated code holding anything but printable characters and newlines: every name, location
    and note should have come through the functions above, so this is a staticnet bug, caught before the
    code is written or imported."""
    bad = next((c for c in code if not (c.isprintable() or c == "\n")), None)
    if bad is not None:
        at = code.index(bad)
        raise RuntimeError(f"internal error: generated code holds the character {bad!r} (near "
                           f"{escaped(code[max(0, at - 60):at + 20])!r}); a string reached it unescaped")
