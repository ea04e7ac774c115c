"""A per-epoch progress bar on stderr, redrawn between compiled chunks.

The bar is drawn only on a terminal; the closing line of each epoch is printed
whenever progress is enabled, so logs keep one line per epoch.
"""
from __future__ import annotations

import sys
import time

WIDTH = 30


class Progress:
    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.total, self.started = "", 1, 0.0

    def start(self, label: str, total: int):
        self.label, self.total, self.started = label, max(total, 1), time.perf_counter()

    def update(self, done: int, text: str):
        if not self.live:
            return
        filled = int(WIDTH * done / self.total)
        bar = "#" * filled + "-" * (WIDTH - filled)
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total}  {text}  {elapsed:.1f}s")
        self.stream.flush()

    def finish(self, text: str):
        if not self.enabled:
            return
        prefix = "\r\033[K" if self.live else ""
        self.stream.write(f"{prefix}{self.label}: {text}\n")
        self.stream.flush()
