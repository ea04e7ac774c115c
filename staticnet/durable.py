"""Files written whole or not at all: the one way staticnet writes a file a user or a later run relies on (model
files, ONNX exports, search records, compile-cache entries, bench reports, downloaded data).

A temporary beside the target is written, fsynced, renamed over the target and the directory fsynced, so a
crash at any moment leaves either the old file or the whole new one.  Temporaries are named
.tmp-HOST-PID-TOKEN-NAME; one left by a killed writer is removed by the next write of that name.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import stat
import time


def write_durably(path: str, write, verify=None) -> None:
    """Create or replace the file `path` with what `write(binary_file)` writes, so that a crash at any
    moment leaves either the old file or the whole new one: a temporary beside the target, fsynced,
    renamed over it, and the directory fsynced.  `verify(temporary_path)`, if given, checks the written file
    before it takes the name: what it raises leaves the old file in place."""
    directory, name = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(directory, name)
    fd, tmp = _create_temporary(directory, name, path)
    try:
        with os.fdopen(fd, "wb") as raw:
            write(raw)
            raw.flush()
            os.fsync(raw.fileno())  # the data is on disk before the name points at it
        if verify is not None:
            verify(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)  # and the rename itself survives a power loss


def write_text(path: str, text: str) -> None:
    """write_durably of a text, in UTF-8."""
    data = text.encode("utf-8")
    write_durably(path, lambda raw: raw.write(data))


_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
STALE_AFTER_SECONDS = 24 * 3600  # a temporary this old is stale whoever wrote it (a reused pid, another machine)


def _temporary_pattern(name: str) -> re.Pattern:
    """Our temporaries for target `name`: .tmp-HOST-PID-TOKEN-NAME (host hash, writer's pid, random token)."""
    return re.compile(rf"\.tmp-([0-9a-f]{{6}})-([0-9]+)-[0-9a-f]{{8}}-{re.escape(name)}\Z")


def _create_temporary(directory: str, name: str, target: str):
    """(fd, path) of a new temporary beside the target, with the mode a plain open() would give:
    the existing file's, or 0666 less the umask for a new one (mkstemp's 0600 would hide it from the group)."""
    while True:
        tmp = os.path.join(directory, f".tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}-{name}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode))
    except FileNotFoundError:
        pass
    return fd, tmp


def process_exists(pid: int) -> bool:
    """Whether a process of this machine has that pid (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # alive under another user, or not a pid a process could have
        return True
    return True


def _writer_gone(host: str, pid: int) -> bool:
    """Whether the process that wrote a temporary has ended; only knowable for writers on this machine."""
    return host == _HOST and pid != os.getpid() and not process_exists(pid)


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Delete temporaries of earlier saves of this file whose writer was killed mid-save.

    Only files matching our own name pattern for this target are considered, and only when their
    writer process is gone or they are older than a day, so a concurrent save is never disturbed."""
    pattern = _temporary_pattern(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.match(entry)
        if not match:
            continue
        full = os.path.join(directory, entry)
        try:
            old = now - os.stat(full).st_mtime > STALE_AFTER_SECONDS
            if old or _writer_gone(match[1], int(match[2])):
                os.unlink(full)
        except OSError:
            continue  # removed meanwhile, or not ours to remove


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
