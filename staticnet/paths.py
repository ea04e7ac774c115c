"""Output paths, checked before any work starts.

Every file staticnet writes for a user (a saved model, a checkpoint, a CSV log, an ONNX export, a
plot, the benchmark's JSON) is checked here before the first step of the work that produces it, so a
path that cannot be written costs one line at once instead of an OSError after an epoch or an hour of
benchmarking, and an output never replaces one of the inputs of the same command or call.

`output_problem` says what is wrong, in words that follow the argument's name; each caller raises it
as its own kind of error (a one-line usage error on the command line, a ValueError naming the user's
line in the API).
"""
from __future__ import annotations

import os
import tempfile


def same_file(a, b) -> bool:
    """Whether two paths name one file: the same inode when both exist, else the same resolved path
    (links and `..` followed)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def output_problem(path, taken: dict | None = None) -> str | None:
    """Why `path` cannot be an output file, or None when it can.

    It must be a non-empty path that is not a directory (nor ends in a separator), in an existing
    directory where a file can be created (tried, so read-only file systems and ACLs count, and root
    is not waved through), and not the same file as any of `taken`: the inputs of the same command or
    call, and its other outputs ({what it is, as a message names it: path}; None paths are skipped).  The write itself stays atomic elsewhere: this only moves the failure before the work."""
    if not isinstance(path, (str, os.PathLike)):
        return f"must be a file path, got {type(path).__name__}"
    text = os.fspath(path)
    if isinstance(text, bytes):
        return "must be a file path given as str, got bytes"
    if not text:
        return "is empty; name a file"
    if os.path.isdir(text):
        return "is a directory; name a file in it"
    if text.endswith(("/", os.sep)):
        return "ends with a separator, so it names a directory; name a file"
    directory = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(directory):
        return f"the directory {directory} does not exist"
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"cannot write in the directory {directory} ({e.strerror or e})"
    for what, other in (taken or {}).items():
        if other is not None and same_file(text, other):
            return f"is the same file as {what} {os.fspath(other)}; name another file"
    return None
