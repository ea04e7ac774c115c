"""Seconds per training epoch of each implementation, measured in one run.

Every repeat times the FIRST epoch from the same initial weights: training further changes the
speed of code that meets denormal numbers (NumPy's time for W1 grew from 1.2 to 3.6 s over
three epochs here), so timing later epochs would compare different work.  The repeats go round
the implementations in turn (staticnet, NumPy, NumPy with denormals flushed to zero, PyTorch,
JAX), each set up and warmed up untimed, so that a noisy machine slows all alike.  Figures are
medians, scaled to the 60,000-image epoch when fewer images were timed.  staticnet trains as a
user's run does, its thread count chosen by measurement (staticnet/threads.py); each row records
the count every repeat trained on, since the machine decides it.
"""
from __future__ import annotations

import statistics
import sys
import time

from . import numpy_baseline, peers
from .workloads import EPOCH_ROWS, flops_per_image, shaped, staticnet_model

IMPLEMENTATIONS = ("staticnet", "numpy", "numpy_ftz", *peers.PEERS)


def _seconds(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _staticnet_epoch(chosen):
    """Each run appends the thread count that trained most of the epoch (None: the steps give the threads
    no work, so none was chosen) to `chosen`."""
    def prepare(workload, batch, x, y):
        net = staticnet_model(workload)
        net.warm_up(batch)

        def epoch():
            history = net.fit({"x": x, "y": y}, epochs=1, batch_size=batch, seed=0, verbose=0)
            chosen.append(history.epochs[-1].get("threads"))
        return epoch
    return prepare


def _numpy_ftz_epoch(workload, batch, x, y):
    from staticnet.denormals import flushed_to_zero
    epoch = numpy_baseline.epoch_runner(workload.name, batch, x, y)

    def flushed():
        with flushed_to_zero():
            epoch()
    return flushed


def _peer_epoch(peer, threads):
    def prepare(workload, batch, x, y):
        runner = peers.runner(peer, workload.name, batch, x, y, threads)
        runner.warm_up()
        return runner.epoch
    return prepare


def threads_chosen(chosen, none: str = "-") -> str:
    """The thread counts training chose in the repeats, in order (`none`: its steps give threads no work)."""
    counts = [str(c) for c in chosen if c is not None]
    return ", ".join(counts) if counts else none


def time_epochs(workload, batch, x, y, rows_timed, repeats, threads, peer_status):
    """One row: median seconds per epoch of each implementation (None where not measured)."""
    rows_timed = min(len(x), rows_timed)
    x, y = shaped(workload, x[:rows_timed]), y[:rows_timed]
    scale = EPOCH_ROWS / rows_timed
    chosen = []
    prepare = {"staticnet": _staticnet_epoch(chosen),
               "numpy": lambda w, *args: numpy_baseline.epoch_runner(w.name, *args),
               "numpy_ftz": _numpy_ftz_epoch}
    notes = {}
    for peer, missing in peer_status.items():
        if missing:
            notes[peer] = missing
        else:
            prepare[peer] = _peer_epoch(peer, threads)
    times = {name: [] for name in prepare}
    for _ in range(repeats):
        for name in list(prepare):
            try:
                times[name].append(_seconds(prepare[name](workload, batch, x, y)) * scale)
            except Exception as e:  # a peer that fails is reported, never fatal
                if name in ("staticnet", "numpy", "numpy_ftz"):
                    raise
                notes[name] = f"failed: {type(e).__name__}: {e}"
                del prepare[name], times[name]
    flops = flops_per_image(staticnet_model(workload))
    row = {"workload": workload.name, "batch": batch, "rows_timed": rows_timed, "repeats": repeats,
           "target_s": workload.targets.get(batch), "gflop_per_epoch": flops * EPOCH_ROWS / 1e9, "notes": notes}
    for name in IMPLEMENTATIONS:
        row[f"{name}_s"] = statistics.median(times[name]) if name in times else None
    row["staticnet_threads"] = chosen
    row["numpy_ratio"] = row["numpy_s"] / row["staticnet_s"]
    row["gflops"] = row["gflop_per_epoch"] / row["staticnet_s"]
    shown = "  ".join(f"{name} {row[f'{name}_s']:.3f} s" for name in IMPLEMENTATIONS if row[f"{name}_s"])
    print(f"{workload.name} batch {batch:>5}: {shown}  (NumPy/staticnet {row['numpy_ratio']:.1f}x; staticnet's threads: "
          f"{threads_chosen(chosen, 'not chosen')})", file=sys.stderr)
    return row
