"""Ctrl-C held back while fit finishes what must not be cut short: the callbacks that end an epoch, a
checkpoint's save among them.

A save is atomic either way (durable.write_durably: a Ctrl-C inside it leaves the previous file), but a
Ctrl-C that lands in it would lose the epoch just trained from the checkpoint.  So fit holds the first
Ctrl-C until the epoch's callbacks are done and then stops as for a Ctrl-C during the epoch; a second
Ctrl-C interrupts at once, for a save that hangs on a dead disk.

Python runs signal handlers in the main thread only, so elsewhere (fit in a worker thread), or where the
program installed its own SIGINT handler, nothing is held and a Ctrl-C raises KeyboardInterrupt as usual.
"""
from __future__ import annotations

import contextlib
import signal
import threading


class Held:
    """What arrived while interrupts were held: `interrupted` is True after a Ctrl-C."""

    interrupted = False


@contextlib.contextmanager
def interrupts_held():
    """Within `with interrupts_held() as held:`, the first SIGINT sets held.interrupted instead of raising
    KeyboardInterrupt; a second one raises it."""
    held = Held()
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield held
        return

    def hold(signum, frame):
        if held.interrupted:
            raise KeyboardInterrupt
        held.interrupted = True

    signal.signal(signal.SIGINT, hold)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
