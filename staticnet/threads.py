"""How many threads the compiled code uses: $STATICNET_NUM_THREADS, default all cores.

It sets Numba's thread count (for the batch-parallel segments of convolutional steps,
codegen/parallel.py, and the large matrix products, kernels/gemm.py, which call BLAS on one
thread each) and that of every OpenBLAS loaded in the process (NumPy's and SciPy's), so that
NumPy's own products, in the reference interpreter and the baselines, follow it too.

While training, unless $STATICNET_NUM_THREADS fixes the count, a ThreadChooser times chunks of
the epoch on all threads and on one and runs the faster (why: its docstring).  Neither the choice
nor the setting changes the results: work is cut into parts set by the shapes alone (kernels/gemm.py's
split_parts, codegen/parallel.py's tiles, kernels/pool.py's blocks), never by the thread setting, the
core count or how many threads run the parts, so a seeded run repeats exactly on any count.
"""
from __future__ import annotations

import ctypes
import math
import os
import statistics
import threading
from contextlib import contextmanager

import numba


def _openblas_setters():
    """The thread-count functions of the OpenBLAS builds loaded in this process."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    setters = []
    for path in sorted(p for p in paths if os.path.isfile(p)):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
            setter = getattr(library, name, None)
            if setter is not None:
                setters.append(setter)
                break
    return setters


def configured() -> int:
    value = os.environ.get("STATICNET_NUM_THREADS")
    if not value:
        return numba.config.NUMBA_NUM_THREADS
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"STATICNET_NUM_THREADS must be a positive integer, got {value!r}") from None
    if count < 1:
        raise ValueError(f"STATICNET_NUM_THREADS must be a positive integer, got {value!r}")
    return min(count, numba.config.NUMBA_NUM_THREADS)


def apply(count: int | None = None) -> int:
    """Use `count` threads (default: the configured number) in Numba and BLAS; returns it."""
    count = count or configured()
    numba.set_num_threads(count)
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS too, so that it is set as well)
    for setter in _openblas_setters():
        setter(count)
    return count


_applied = False


def apply_once() -> None:
    """Apply the configured thread count before the first compiled call of the process."""
    global _applied
    if not _applied:
        apply()
        _applied = True


@contextmanager
def using(count: int | None):
    """Run the block with `count` of Numba's threads (None: leave the count as it is)."""
    if count is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


_blas_users = 0  # blocks of compiled code running now, in any Python thread
_blas_saved = 1  # BLAS's thread count before the first of them began
_blas_lock = threading.Lock()


@contextmanager
def blas_restored():
    """Run compiled code, then give BLAS back the thread count it had: the products set it to one and leave it
    so (kernels/gemm.py, ONE_BLAS_THREAD), so that NumPy's own products after the block follow the setting.
    The count is one value for the whole process, so it is given back only when the last block running in any
    Python thread ends: a block ending in one thread must not let another's products run on BLAS's threads."""
    global _blas_users, _blas_saved
    from .kernels.blas import set_threads_local
    with _blas_lock:
        previous = set_threads_local(1)
        if _blas_users == 0:
            _blas_saved = previous
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                set_threads_local(_blas_saved)


FIRST_PROBE = 4  # chunks run on the chosen count before the other one is timed again
LONGEST_WAIT = 32  # the wait doubles each time the other count loses, up to this many chunks
LONGEST_WAIT_CALLS = 1024  # the same for sn.function, whose chunk is one call: a probe cannot be a share of a
#                            call, so a probe of a count 40 times slower (a conv step split while the other
#                            core is busy) would cost more than the calls between probes save at 32
MARGIN = 0.05  # the other count must be this much faster per row to be chosen
CLEAR_LOSS = 1.25  # one thread timed this much slower than all on its first chunk is not timed a second time
PROBE_COST = 0.02  # a probe that lost by a factor r waits at least (r - 1) / PROBE_COST chunks (then up to
#                    LONGEST_WAIT), so a count that lost clearly is seldom timed again: doubling the wait from
#                    FIRST_PROBE alone re-timed a count running at half speed often enough to slow an epoch by
#                    about a tenth (the book's CNN at batch 128 on one thread).
WARM_UP_STEPS = 1  # fit runs this many steps untimed when it moves to several threads, then times the chunk: a probe
#                   of two threads timed from its first step, a quarter chunk of 2 steps (W2, batch 128), paid for
#                   waking the sleeping second thread and measured 2.3-2.8 us a row against 1.9 in whole chunks,
#                   and the first chunk on two threads 4.8; so one thread (2.4) was kept, and the epoch took
#                   0.15 s where two threads train it in 0.105 (the 2-core Zen 5, medians of 5 epochs).  One
#                   thread has nothing to wake: its probes start timed (each untimed step of a probe on a count
#                   that lost costs as much as the timed one)
PROBE_SHARE = 4  # the count not in use is timed on a quarter of a chunk, so a probe of a slower count costs a
#                  quarter of what a whole chunk on it would
SHORTEST_CHUNK = 0.02  # seconds a chunk of fit's steps lasts at least, once their speed is measured: each chunk
#                        costs a return to Python and a wake of the threads (docs/architecture.md, "The thread
#                        chooser", has what that cost)


def lasting(chunk_steps: int, step_seconds: float) -> int:
    """chunk_steps, or more steps of step_seconds each, to last SHORTEST_CHUNK (step_seconds 0: not measured)."""
    if step_seconds > 0:
        return max(chunk_steps, math.ceil(SHORTEST_CHUNK / step_seconds))
    return chunk_steps


def _wait(at_least: int, lost_by: float, longest: int = LONGEST_WAIT) -> int:
    """Chunks to run before timing again a count that was lost_by times slower per row."""
    return min(max(at_least, math.ceil((lost_by - 1) / PROBE_COST)), longest)


class ThreadChooser:
    """Chooses, chunk by chunk of a training run, between all threads and one, by measured speed.

    Why measure: on 2-core cloud machines like this project's, the hypervisor places the two
    virtual cores on one core complex at some times and on two at others (apart, a cache line's
    round trip between them takes about 4x as long), and moves them while a process runs.  Apart, a
    step split between threads hands its data across slowly, so which count trains faster depends
    on the model and on where the cores are at the time: the book's CNN at batch 10 trains faster on
    two threads, the Adam MLP at batch 32 (W2) on one.  bench/epochs.py shows it, run with
    $STATICNET_NUM_THREADS set to 1 and to 2.
    Each count is timed twice (one that lost by far, once), then the faster runs and the other is
    timed again FIRST_PROBE chunks on, then now and then, on a share of a chunk (PROBE_SHARE): the more it
    lost by, the later (PROBE_COST)."""

    def __init__(self, most: int, longest_wait: int = LONGEST_WAIT):
        self.options = (most, 1)
        self.longest_wait = longest_wait
        self.recent = {option: [] for option in self.options}  # seconds per row of the last chunks
        self.current = most
        self.wait = self.countdown = FIRST_PROBE

    def _other(self) -> int:
        return self.options[1] if self.current == self.options[0] else self.options[0]

    def _estimate(self, option) -> float:
        return statistics.median(self.recent[option])

    def _untimed(self) -> int | None:
        """The first count not yet timed twice; once is enough for one that lost by far (CLEAR_LOSS) against
        the count timed before it: a second slow chunk would not change the choice."""
        first = self.options[0]
        for option in self.options:
            times = self.recent[option]
            if len(times) < 2 and not (option != first and len(times) == 1
                                       and times[0] > self._estimate(first) * CLEAR_LOSS):
                return option
        return None

    def choose(self) -> int:
        untimed = self._untimed()
        if untimed is not None:
            return untimed
        return self._other() if self.countdown <= 0 else self.current

    def steps(self, option: int, chunk_steps: int, rows_per_step: int) -> int:
        """How many steps to run on `option`: a chunk on the count in use (chunk_steps, or, once both counts are
        timed, more to last SHORTEST_CHUNK at its measured speed), a share of one to time the other."""
        if self._untimed() is None:
            chunk_steps = lasting(chunk_steps, self._estimate(self.current) * rows_per_step)
        return chunk_steps if option == self.current else max(1, chunk_steps // PROBE_SHARE)

    def record(self, option: int, seconds: float, rows: int):
        exploring = self._untimed() is not None
        self.recent[option] = (self.recent[option] + [seconds / rows])[-3:]
        if exploring:
            if self._untimed() is None:  # the verdict of the first timings is checked once, FIRST_PROBE chunks on,
                #                          however clear it was: a moment of noise then (another process's threads
                #                          still spinning) made two threads lose to one they beat by 1.6x, and with
                #                          the wait grown from the loss the whole first epoch of W1 at batch 1024
                #                          (29 chunks) ran on one thread (bench, the 2-core Zen 5); later probes
                #                          wait as long as their loss says
                self.current = min(self.options, key=self._estimate)
                self.wait = self.countdown = FIRST_PROBE
            return
        if option == self.current:
            self.countdown -= 1
            return
        if self.recent[option][-1] < self._estimate(self.current) * (1 - MARGIN):
            self.current, self.wait = option, FIRST_PROBE
        else:
            self.wait = _wait(2 * self.wait, self.recent[option][-1] / self._estimate(self.current), self.longest_wait)
        self.countdown = self.wait


_choosers: dict = {}


def chooser_for(key, longest_wait: int = LONGEST_WAIT) -> ThreadChooser | None:
    """The process's chooser for `key` (a compiled model and batch size), or None when the thread
    count is fixed: $STATICNET_NUM_THREADS is set, or there is one core."""
    most = configured()
    if os.environ.get("STATICNET_NUM_THREADS") or most == 1:
        return None
    if (key, most) not in _choosers:
        _choosers[key, most] = ThreadChooser(most, longest_wait)
    return _choosers[key, most]
