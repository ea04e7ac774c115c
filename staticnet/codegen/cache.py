"""The compile cache: generated modules as content-addressed files, imported by path.

A module's file name holds a hash of its code and of what the code's meaning depends on (the
staticnet, Numba and NumPy versions and the kernel library's source: generated code calls those
kernels, and Numba's own cache would not notice them change).  The code hashed is what runs, with
no comments: the readable source (`--emit`) carries the user's file:line in comments, and a model
file that is moved, renamed or commented must find what it compiled before.  Files are written
once, atomically, so Numba's `cache=True` finds its machine code beside them in later processes.

Nothing in the cache is trusted: an entry whose text does not match its name (edited, truncated or
another model's), or whose compiled code Numba cannot load, is written again and recompiled with one
warning line naming it.  A cache directory that cannot be written is replaced by one fallback directory
per user in the temporary directory, with one warning line; entries the unwritable cache holds are still
used (copied into the fallback with their compiled code), so a read-only shared cache is not recompiled.

`staticnet cache --clear` may run while other processes compile: it takes the cache's lock exclusively,
which a process holds shared while it writes and imports an entry, and it removes files only, never a
directory, nor a temporary file that Numba may be writing (see `clear`).
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from ..durable import write_text
from .source_text import check_source

_fallback: dict[str, str] = {}  # configured path -> the directory used instead
_fingerprint: str | None = None
LOCK = ".lock"  # in the cache directory: held shared while an entry is written and imported, exclusively by clear
CHOICES_PREFIX = "product-choices-"  # the files of product_choice.py's timed choices, one per machine (.json)
STALE_SECONDS = 3600  # a temporary file this old was left by a killed writer (a write takes milliseconds)


def warn(message: str) -> None:
    print(f"staticnet: warning: {message}", file=sys.stderr)


def configured_dir() -> str:
    """$STATICNET_CACHE, else $XDG_CACHE_HOME/staticnet, else ~/.cache/staticnet."""
    return os.environ.get("STATICNET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "staticnet")


def _writable(path: str) -> None:
    """Make `path` a directory if needed and try creating a file in it; OSError if that cannot be done."""
    os.makedirs(path, exist_ok=True)
    probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
    probe.close()


def cache_dir() -> str:
    """The directory generated modules are written to: the configured one if it can be written, else the
    fallback (`fallback_dir`)."""
    path = configured_dir()
    if path in _fallback:
        return _fallback[path]
    try:
        _writable(path)
    except OSError as e:
        _fallback[path] = fallback_dir()
        held = " (its entries are still read)" if readable_entries(path) else ""
        warn(f"cannot write the compile cache {path} ({e.strerror or e}){held}; compiling into {_fallback[path]}")
        return _fallback[path]
    return path


def fallback_dir() -> str:
    """The cache used when the configured one cannot be written: one per user in the temporary directory,
    kept and reused by later processes (so it does not pile up, and it caches too).  If that one is not
    ours (another user made it, or it is a link), a new temporary directory, removed at exit."""
    path = os.path.join(tempfile.gettempdir(), f"staticnet-cache-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return _temporary_fallback()
    try:
        status = os.lstat(path)
        if os.path.islink(path) or status.st_uid != os.getuid() or status.st_mode & 0o022:
            return _temporary_fallback()
        _writable(path)
    except OSError:
        return _temporary_fallback()
    return path


def _temporary_fallback() -> str:
    path = tempfile.mkdtemp(prefix="staticnet-cache-")
    atexit.register(shutil.rmtree, path, True)
    return path


def readable_entries(directory: str) -> bool:
    """Whether `directory` holds cache entries this process can read (a read-only shared cache)."""
    return bool(entries(directory)) and os.access(directory, os.R_OK | os.X_OK)


@contextlib.contextmanager
def locked(directory: str, exclusive: bool = False):
    """The cache's lock (an flock on LOCK): shared while a process writes and imports an entry, so that
    `clear`, which takes it exclusively, never removes a file between its writing and its import.  Compiled
    code is written later, by Numba, without it: `clear` leaves alone what Numba may be writing."""
    try:
        fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        fd = None
    if fd is None:  # a directory we cannot write: nothing we do there needs protecting
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def kernel_library_fingerprint() -> str:
    """A hash of the kernel library's source (staticnet/kernels)."""
    global _fingerprint
    if _fingerprint is None:
        from .. import kernels
        directory = os.path.dirname(os.path.abspath(kernels.__file__))
        digest = hashlib.sha256()
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py"):
                with open(os.path.join(directory, name), "rb") as f:
                    digest.update(name.encode() + f.read())
        _fingerprint = digest.hexdigest()[:16]
    return _fingerprint


def key_of(code: str) -> str:
    import numba

    from ..version import __version__
    stamp = (f"staticnet {__version__}; kernels {kernel_library_fingerprint()}; numba {numba.__version__}; "
             f"numpy {np.__version__}\n")
    return hashlib.sha256((stamp + code).encode()).hexdigest()[:20]


def compiled_files(path: str) -> list[str]:
    """Numba's cache files (index and data) for the functions of the module at `path`: in __pycache__
    beside it, or under $NUMBA_CACHE_DIR when that is set (numba/core/caching.py's locators)."""
    from numba.core import config
    from numba.core.caching import _CacheLocator

    directory, name = os.path.split(path)
    places = [os.path.join(directory, "__pycache__")]
    if config.CACHE_DIR:
        places.append(os.path.join(config.CACHE_DIR, _CacheLocator.get_suitable_cache_subpath(path)))
    stem = os.path.splitext(name)[0]
    return [f for place in places for f in glob.glob(os.path.join(place, f"{stem}.*.nb[ic]"))]


def _copy_atomically(source: str, target: str) -> None:
    """Copy a file with its times (Numba checks a module's time and size against its compiled code)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-", suffix=os.path.basename(target))
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _purge(path: str) -> None:
    for stale in compiled_files(path):
        try:
            os.unlink(stale)
        except OSError:
            pass


class GeneratedModule:
    """One generated module in the cache: its file, whether its text was there already, and `run`,
    which calls one of its functions and recompiles it once if Numba fails to load its cached code."""

    def __init__(self, name: str, code: str):
        self.name, self.code = name, code
        directory = cache_dir()
        self.path = os.path.join(directory, f"{name}.py")
        with locked(directory):
            self.found = self._ensure_file()
            self.module = self._import()

    def _ensure_file(self) -> bool:
        if not os.path.exists(self.path):
            self._copy_from_unwritable_cache()
        try:
            with open(self.path, encoding="utf-8") as f:
                existing = f.read()
        except FileNotFoundError:
            existing = None
        except (OSError, UnicodeDecodeError) as e:
            warn(f"cache entry {self.path} cannot be read ({e}); recompiling it")
            existing = None
        if existing == self.code:
            return True
        if existing is not None:
            warn(f"cache entry {self.path} does not match its key (edited, truncated or another model's code); "
                 "recompiling it")
        _purge(self.path)
        write_text(self.path, self.code)
        return False

    def _copy_from_unwritable_cache(self) -> None:
        """When the configured cache cannot be written (a read-only shared one) and holds this entry, copy
        the entry and its compiled code into the fallback: Numba reads compiled code only from a directory
        it can write, and finds it there (the copy keeps the file's time and size, which Numba checks)."""
        source = os.path.join(configured_dir(), os.path.basename(self.path))
        if os.path.dirname(source) == os.path.dirname(self.path):
            return
        try:
            with open(source, encoding="utf-8") as f:
                if f.read() != self.code:
                    return
            source_compiled = os.path.join(os.path.dirname(source), "__pycache__")
            target_compiled = os.path.join(os.path.dirname(self.path), "__pycache__")
            os.makedirs(target_compiled, exist_ok=True)
            for compiled in compiled_files(source):
                if os.path.dirname(compiled) == source_compiled:
                    _copy_atomically(compiled, os.path.join(target_compiled, os.path.basename(compiled)))
            _copy_atomically(source, self.path)  # last: its presence says the compiled code is there too
        except (OSError, UnicodeDecodeError):
            return  # not readable after all: compiled here instead

    def _import(self):
        if self.name in sys.modules and getattr(sys.modules[self.name], "__file__", None) == self.path:
            return sys.modules[self.name]
        try:
            return self._exec()
        except Exception as e:  # an unreadable Numba cache of a kernel compiled at import
            return self._recover(e, self._exec)

    def _exec(self):
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[self.name]
            raise
        return module

    def _recover(self, error: Exception, retry):
        if not compiled_files(self.path) or getattr(self, "_recovered", False):
            raise error
        self._recovered = True
        warn(f"cannot load the compiled code of cache entry {self.path} ({type(error).__name__}: {error}); "
             "recompiling it")
        _purge(self.path)
        sys.modules.pop(self.name, None)
        return retry()

    def run(self, function: str, *args):
        """module.function(*args); on its first call a failure to load Numba's cached machine code is
        repaired by recompiling."""
        dispatcher = getattr(self.module, function)
        if dispatcher.signatures:
            return dispatcher(*args)
        try:
            return dispatcher(*args)
        except Exception as e:
            if dispatcher.signatures:
                raise  # it compiled: the generated code itself raised (a label out of range)

            def again():
                with locked(os.path.dirname(self.path)):  # a concurrent clear may have removed the file
                    self._ensure_file()
                    self.module = self._exec()
                return getattr(self.module, function)(*args)
            return self._recover(e, again)


def load(prefix: str, code: str) -> GeneratedModule:
    """The module holding `code`, from the cache (written there first if new)."""
    check_source(code)
    return GeneratedModule(f"{prefix}_{key_of(code)}", code)


# ---------------------------------------------------------------- `staticnet cache`

def entries(directory: str | None = None) -> list[str]:
    directory = directory or cache_dir()
    return sorted(glob.glob(os.path.join(directory, "staticnet_*.py")))


def size_bytes(directory: str | None = None) -> int:
    total = 0
    for root, _, files in os.walk(directory or cache_dir()):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def clear(directory: str | None = None) -> int:
    """Remove every entry and its compiled code, and the product choices; returns how many entries there were.

    Safe while other processes compile into the same directory: with the lock held exclusively no
    process is between writing an entry and importing it, so every file of ours there is finished (or
    a temporary a killed writer left).  Numba writes compiled code later, without the lock, into
    __pycache__ through a temporary renamed into place; so no directory is removed (Numba recreates
    __pycache__ only before it starts a write) and Numba's temporaries are left unless stale.  A process
    that finds its entry gone writes it again; one whose compiled code vanished compiles it again."""
    directory = directory or cache_dir()
    if not os.path.isdir(directory):
        return 0
    with locked(directory, exclusive=True):
        removed = entries(directory)
        for path in removed:
            _remove(path)
        for choices in glob.glob(os.path.join(directory, f"{CHOICES_PREFIX}*.json")):
            _remove(choices)
        for stale in glob.glob(os.path.join(directory, ".tmp-*")):
            _remove(stale)
        compiled = os.path.join(directory, "__pycache__")
        for path in glob.glob(os.path.join(compiled, "*.nb[ic]")):
            _remove(path)
        for path in glob.glob(os.path.join(compiled, "*.tmp.*")):
            try:
                if time.time() - os.stat(path).st_mtime > STALE_SECONDS:
                    os.unlink(path)
            except OSError:
                pass  # finished meanwhile: renamed into place
    return len(removed)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
