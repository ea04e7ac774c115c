"""`python -m bench.distributed`: data-parallel training on MPI against one process, measured in one run.

Each configuration trains a workload's first epoch in processes of its own (one per repeat, the configurations
taken in turn, so a noisy machine slows all alike): one process on two threads (fit as it is), one process on one
thread (fit as it is, and fit(mode="exact") without MPI, exact mode's steps on one process), and two ranks of one
thread each (mpiexec -n 2, fit(distributed=True)) in exact and fast mode. One rank of one thread in fast mode
(mpiexec -n 1) runs the distributed step with nobody to talk to: its time against one process on one thread is what
the distributed step costs over fit's compiled loop (the gradient is written out and applied by a second program
instead of folded into the product). Figures are medians over the repeats, seconds per 60,000-image epoch (W3 timed
on 10,000 images and scaled); speed-ups are against one thread.

The second table is the cost of a step on one rank of one thread, in one process, the three taken in turn: fit's
own compiled loop (no MPI), the distributed fit's compiled loop (staticnet/mpi_steps.py: MPI called from compiled
code) and the distributed fit with every step made from Python (DataParallel.compiled_steps = False, as before
the compiled loop); the Python share is what returning to Python each step cost, against the compiled loop.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from staticnet.durable import write_text

from .workloads import EPOCH_ROWS, WORKLOADS, load_data, shaped, staticnet_model

CASES = (("W1", 128), ("W1", 1024), ("W2", 1024), ("W3", 128))
# name -> (ranks or None for a plain process, threads per process, fit's mode: distributed, or on one process
# without MPI for None ranks)
CONFIGURATIONS = {
    "1 process x 2 threads": (None, 2, None),
    "1 process x 1 thread": (None, 1, None),
    "1 process x 1 thread, exact": (None, 1, "exact"),
    "1 rank x 1 thread, fast": (1, 1, "fast"),
    "2 ranks x 1 thread, exact": (2, 1, "exact"),
    "2 ranks x 1 thread, fast": (2, 1, "fast"),
}
BASELINE = "1 process x 1 thread"
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def worker(name: str, batch: int, mode: str | None) -> None:
    """Train the workload's first epoch once untimed (compiling) and once timed; rank 0 prints the seconds."""
    from staticnet.distributed import is_rank_zero, launched_rank
    workload = WORKLOADS[name]
    x, y, _ = load_data()
    rows = workload.rows_full
    x, y = shaped(workload, x[:rows]), y[:rows]
    net = staticnet_model(workload)
    first = {t.name: t.value.copy() for t in net.trainable + net.state}
    options = {"distributed": launched_rank() is not None, "mode": mode} if mode else {}
    net.fit({"x": x[:batch * 4], "y": y[:batch * 4]}, epochs=1, batch_size=batch, seed=0, verbose=0, **options)
    for t in net.trainable + net.state:
        t.value[...] = first[t.name]
    started = time.perf_counter()
    net.fit({"x": x, "y": y}, epochs=1, batch_size=batch, seed=0, verbose=0, **options)
    seconds = (time.perf_counter() - started) * EPOCH_ROWS / rows
    if is_rank_zero():
        print(json.dumps({"seconds": seconds}))


STEP_FORMS = ("fit's loop", "compiled distributed loop", "distributed steps from Python")


def step_costs(name: str, batch: int, repeats: int) -> None:
    """On one rank: the median seconds per step of each of STEP_FORMS over an epoch of up to 200 whole batches of
    the 60,000 images, the forms taken in turn from the same weights, printed as JSON."""
    from staticnet.distributed import DataParallel
    workload = WORKLOADS[name]
    x, y, _ = load_data()
    steps = min(200, EPOCH_ROWS // batch)
    data = {"x": shaped(workload, x[:batch * steps]), "y": y[:batch * steps]}
    net = staticnet_model(workload)
    first = {t.name: t.value.copy() for t in net.trainable + net.state}
    forms = {STEP_FORMS[0]: ({}, True), STEP_FORMS[1]: ({"distributed": True, "mode": "fast"}, True),
             STEP_FORMS[2]: ({"distributed": True, "mode": "fast"}, False)}
    timed = {form: [] for form in forms}
    for repeat in range(repeats + 1):  # the first round compiles, untimed
        for form, (options, compiled) in forms.items():
            DataParallel.compiled_steps = compiled
            for t in net.trainable + net.state:
                t.value[...] = first[t.name]
            started = time.perf_counter()
            net.fit(data, epochs=1, batch_size=batch, seed=0, verbose=0, **options)
            if repeat:
                timed[form].append((time.perf_counter() - started) / steps)
    print(json.dumps({form: statistics.median(values) for form, values in timed.items()}))


def run_one(name: str, batch: int, configuration: str) -> float:
    ranks, threads, mode = CONFIGURATIONS[configuration]
    command = [sys.executable, "-m", "bench.distributed", "--worker", name, str(batch), mode or "-"]
    return json.loads(launched(command, ranks, threads, configuration, name, batch))["seconds"]


def launched(command, ranks, threads, what, name, batch) -> str:
    """The last line `command` printed, run in its own process (on `ranks` ranks of mpiexec unless None)."""
    from staticnet.distributed import mpiexec
    if ranks is not None:
        command = [mpiexec(), "-n", str(ranks), "--bind-to", "none", *command]
    env = {**os.environ, **MPI_ENV, "STATICNET_NUM_THREADS": str(threads)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if result.returncode != 0:
        raise RuntimeError(f"{what}, {name} at batch {batch} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def measure(repeats: int) -> tuple[dict, dict]:
    """(medians of epoch seconds by (workload, batch, configuration), Python's cost by (workload, batch))."""
    costs = {}  # measured first: a few seconds each
    for name, batch in CASES:
        command = [sys.executable, "-m", "bench.distributed", "--step-costs", name, str(batch), str(repeats)]
        costs[(name, batch)] = json.loads(launched(command, 1, 1, "step costs", name, batch))
        print(f"{name} at batch {batch}, seconds per step: {costs[(name, batch)]}", file=sys.stderr, flush=True)
    times = {(name, batch, c): [] for name, batch in CASES for c in CONFIGURATIONS}
    for _ in range(repeats):
        for name, batch in CASES:
            for configuration in CONFIGURATIONS:
                seconds = run_one(name, batch, configuration)
                print(f"{name} at batch {batch}, {configuration}: {seconds:.3f} s", file=sys.stderr, flush=True)
                times[(name, batch, configuration)].append(seconds)
    return {key: statistics.median(values) for key, values in times.items()}, costs


def table(medians: dict, costs: dict, repeats: int, load: str) -> str:
    lines = [f"Seconds per 60,000-image epoch, median of {repeats} repeats taken in turn (load before the run: "
             f"{load}); in brackets the speed-up over {BASELINE}.", "",
             "| workload | batch | " + " | ".join(CONFIGURATIONS) + " |",
             "| --- | --- | " + " | ".join("---" for _ in CONFIGURATIONS) + " |"]
    for name, batch in CASES:
        base = medians[(name, batch, BASELINE)]
        cells = [f"{medians[(name, batch, c)]:.3f} ({base / medians[(name, batch, c)]:.2f}x)" for c in CONFIGURATIONS]
        lines.append(f"| {name} | {batch} | " + " | ".join(cells) + " |")
    lines += ["", f"Milliseconds per step on one rank of one thread (medians of {repeats} epochs of up to 200 steps, the "
                  "forms taken in turn); in brackets the time against fit's loop; the Python share is the steps from "
                  "Python's time over the compiled distributed loop's, as a share of theirs.", "",
              "| workload | batch | " + " | ".join(STEP_FORMS) + " | Python's share |",
              "| --- | --- | " + " | ".join("---" for _ in STEP_FORMS) + " | --- |"]
    for (name, batch), cost in costs.items():
        base = cost[STEP_FORMS[0]]
        cells = [f"{cost[form] * 1e3:.3f} ({cost[form] / base:.2f}x)" for form in STEP_FORMS]
        python = cost[STEP_FORMS[2]] - cost[STEP_FORMS[1]]
        lines.append(f"| {name} | {batch} | " + " | ".join(cells) + f" | {python / cost[STEP_FORMS[2]]:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per figure (median; default 3)")
    parser.add_argument("--markdown", metavar="FILE", help="write the table")
    parser.add_argument("--worker", nargs=3, metavar=("WORKLOAD", "BATCH", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--step-costs", nargs=3, metavar=("WORKLOAD", "BATCH", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step_costs:
        step_costs(args.step_costs[0], int(args.step_costs[1]), int(args.step_costs[2]))
        return 0
    if args.worker:
        name, batch, mode = args.worker
        worker(name, int(batch), None if mode == "-" else mode)
        return 0
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    text = table(*measure(args.repeats), args.repeats, load)
    print(text)
    if args.markdown:
        write_text(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
