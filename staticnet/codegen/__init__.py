"""From an optimized Program to compiled Numba functions: schedule, memory plan, source, cache."""
from __future__ import annotations

from .cache import load_module, source_key
from .emit import MODULE_HEADER, Emitter
from .memory import MemoryPlan, plan_memory


def module_source(title: str, functions: list[str]) -> str:
    from .. import __version__
    body = "\n\n".join(functions)
    return MODULE_HEADER.format(version=__version__, title=title, key=source_key(body)) + "\n\n" + body
