"""Generated modules are content-addressed files in a cache directory.

The file name is a hash of the source, of the kernel library's source, and of
the staticnet, Numba and NumPy versions; it is written once, atomically, and imported by path, so Numba's own
`cache=True` finds its compiled machine code there in later processes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

import numba
import numpy as np


def cache_dir() -> str:
    path = os.environ.get("STATICNET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "staticnet")
    os.makedirs(path, exist_ok=True)
    return path


def kernel_library_fingerprint() -> str:
    """A hash of the kernel library's source: generated code inlines some kernels, and Numba's own
    cache would not notice a kernel changing under a generated module that did not."""
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


_fingerprint = None


def source_key(source: str) -> str:
    from .. import __version__
    stamp = (f"staticnet {__version__}; kernels {kernel_library_fingerprint()}; numba {numba.__version__}; "
             f"numpy {np.__version__}\n")
    return hashlib.sha256((stamp + source).encode()).hexdigest()[:20]


def write_atomically(path: str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_module(source: str):
    """Import generated source from the cache (writing it there first if new); returns (module, path, was_cached)."""
    key = source_key(source)
    name = f"staticnet_gen_{key}"
    path = os.path.join(cache_dir(), f"{name}.py")
    existed = os.path.exists(path)
    if name in sys.modules:
        return sys.modules[name], path, True
    if not existed:
        write_atomically(path, source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, path, existed
