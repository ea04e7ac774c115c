"""The compile cache: generated modules as content-addressed files, imported by path.

A module's file name holds a hash of its code and of what the code's meaning depends on (the
staticnet, Numba and NumPy versions and the kernel library's source: generated code calls those
kernels, and Numba's own cache would not notice them change).  The code hashed is what runs, with
no comments: the readable source (`--emit`) carries the user's file:line in comments, and a model
file that is moved, renamed or commented must find what it compiled before.  Files are written
once, atomically, so Numba's `cache=True` finds its machine code beside them in later processes.

Nothing in the cache is trusted: an entry whose text does not match its name (edited, truncated or
another model's), or whose compiled code Numba cannot load, is written again and recompiled with one
warning line naming it; a cache directory that cannot be used is replaced by a temporary one, with
one warning line.  `staticnet cache` shows and clears it.
"""
from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile

import numpy as np

from ..durable import write_text
from .source_text import check_source

_fallback: dict[str, str] = {}  # configured path -> the temporary directory used instead
_fingerprint: str | None = None


def warn(message: str) -> None:
    print(f"staticnet: warning: {message}", file=sys.stderr)


def configured_dir() -> str:
    """$STATICNET_CACHE, else $XDG_CACHE_HOME/staticnet, else ~/.cache/staticnet."""
    return os.environ.get("STATICNET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "staticnet")


def cache_dir() -> str:
    """The directory generated modules live in: the configured one if it can be written, else a temporary one."""
    path = configured_dir()
    if path in _fallback:
        return _fallback[path]
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
    except OSError as e:
        _fallback[path] = tempfile.mkdtemp(prefix="staticnet-cache-")
        warn(f"cannot use the compile cache {path} ({e.strerror or e}); compiling into {_fallback[path]} "
             "for this process")
        return _fallback[path]
    return path


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
        self.path = os.path.join(cache_dir(), f"{name}.py")
        self.found = self._ensure_file()
        self.module = self._import()

    def _ensure_file(self) -> bool:
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
    """Remove every entry and its compiled code; returns how many entries there were."""
    directory = directory or cache_dir()
    count = len(entries(directory))
    for path in entries(directory):
        os.unlink(path)
    shutil.rmtree(os.path.join(directory, "__pycache__"), ignore_errors=True)
    for stale in glob.glob(os.path.join(directory, ".tmp-*")):
        os.unlink(stale)
    return count
