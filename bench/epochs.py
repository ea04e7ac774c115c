"""Seconds per training epoch of each implementation, measured in one run.

For each workload and batch size every implementation is set up and warmed up first; then
the repeats go round them in turn (staticnet, NumPy, NumPy with denormals flushed to zero,
PyTorch, JAX), so that a noisy machine slows all alike.  Figures are medians, scaled to the
60,000-image epoch when fewer images were timed.
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


def _staticnet_runner(workload, batch, x, y):
    net = staticnet_model(workload)
    net.warm_up(batch)
    epochs = [0]

    def epoch():
        epochs[0] += 1
        net.fit({"x": x, "y": y}, epochs=epochs[0], batch_size=batch, seed=epochs[0], verbose=0)
    return epoch, flops_per_image(net)


def _numpy_ftz_runner(workload, batch, x, y):
    from staticnet.denormals import flushed_to_zero
    epoch = numpy_baseline.epoch_runner(workload.name, batch, x, y)

    def flushed():
        with flushed_to_zero():
            epoch()
    return flushed


def time_epochs(workload, batch, x, y, rows_timed, repeats, threads, peer_status):
    """One row: median seconds per epoch of each implementation (None where not measured)."""
    rows_timed = min(len(x), rows_timed)
    x, y = shaped(workload, x[:rows_timed]), y[:rows_timed]
    scale = EPOCH_ROWS / rows_timed
    runners = {}
    runners["staticnet"], flops = _staticnet_runner(workload, batch, x, y)
    runners["numpy"] = numpy_baseline.epoch_runner(workload.name, batch, x, y)
    runners["numpy_ftz"] = _numpy_ftz_runner(workload, batch, x, y)
    notes = {}
    for peer, missing in peer_status.items():
        if missing:
            notes[peer] = missing
            continue
        try:
            runner = peers.runner(peer, workload.name, batch, x, y, threads)
            runner.warm_up()
            runners[peer] = runner.epoch
        except Exception as e:  # a peer that fails is reported, never fatal
            notes[peer] = f"failed: {type(e).__name__}: {e}"
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times[name].append(_seconds(run) * scale)
    row = {"workload": workload.name, "batch": batch, "rows_timed": rows_timed, "repeats": repeats,
           "target_s": workload.targets.get(batch), "gflop_per_epoch": flops * EPOCH_ROWS / 1e9, "notes": notes}
    for name in IMPLEMENTATIONS:
        row[f"{name}_s"] = statistics.median(times[name]) if name in times else None
    row["numpy_ratio"] = row["numpy_s"] / row["staticnet_s"]
    row["gflops"] = row["gflop_per_epoch"] / row["staticnet_s"]
    shown = "  ".join(f"{name} {row[f'{name}_s']:.3f} s" for name in IMPLEMENTATIONS if row[f"{name}_s"])
    print(f"{workload.name} batch {batch:>5}: {shown}  (NumPy/staticnet {row['numpy_ratio']:.1f}x)", file=sys.stderr)
    return row
