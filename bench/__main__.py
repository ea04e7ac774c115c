"""`python -m bench` (or `staticnet bench`): epoch times of staticnet and NumPy, measured in one run.

Each figure is the median of several repeats; staticnet and NumPy repeats are interleaved so
that a noisy machine slows both alike; ratios are NumPy time / staticnet time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from . import numpy_baseline

WORKLOADS = {"W1": "784-100-10 sigmoid, quadratic cost, SGD eta=3.0",
             "W2": "784-100-10 ReLU, softmax cross-entropy, Adam"}
BATCHES = {"W1": [1, 10, 32, 128, 1024], "W2": [10, 128, 1024]}


def load_data():
    import staticnet as sn
    try:
        train, val, _ = sn.data.mnist()
        x = np.concatenate([train["x"], val["x"]])
        y = np.concatenate([train["y"], val["y"]])
        return x, y, "MNIST training images (60,000)"
    except Exception as e:  # no data here: still measure, and say so loudly
        print(f"!!! MNIST unavailable ({e}); timing RANDOM data of the same shape", file=sys.stderr)
        rng = np.random.default_rng(0)
        return rng.random((60000, 784), np.float32), np.eye(10, dtype=np.float32)[rng.integers(0, 10, 60000)], "random"


def staticnet_model(workload):
    import staticnet as sn
    sn.seed(0)
    x, y = sn.input("x", (None, 784)), sn.input("y", (None, 10))
    if workload == "W1":
        p = sn.dense(sn.dense(x, 100, activation="sigmoid"), 10, activation="sigmoid")
        return sn.compile(sn.mse(p, y), outputs=p, optimizer=sn.SGD(lr=3.0))
    p = sn.dense(sn.dense(x, 100, activation="relu"), 10, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.001))


def numpy_runner(workload, batch, x, y):
    rng = np.random.default_rng(0)
    params = [rng.normal(0, 1 / 28, (784, 100)).astype(np.float32), np.zeros(100, np.float32),
              rng.normal(0, 0.1, (100, 10)).astype(np.float32), np.zeros(10, np.float32)]
    if workload == "W1":
        return lambda: numpy_baseline.w1_epoch(params, x, y, batch, 3.0, rng)
    state = {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}
    return lambda: numpy_baseline.w2_epoch(params, state, x, y, batch, 0.001, rng)


def timed(run, steps_fraction=1.0):
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / steps_fraction


def bench(workloads, batches_for, repeats, quick, x, y):
    rows = []
    for workload in workloads:
        for batch in batches_for(workload):
            rows_used = len(x) if not quick else min(len(x), 6000)
            xs, ys = x[:rows_used], y[:rows_used]
            scale = len(x) / rows_used
            net = staticnet_model(workload)
            started = time.perf_counter()
            seconds, cached = net.warm_up(batch)
            compile_seconds = net.compile_seconds + seconds
            epochs = [0]

            def staticnet_epoch():
                epochs[0] += 1
                net.fit({"x": xs, "y": ys}, epochs=epochs[0], batch_size=batch, seed=epochs[0], verbose=0)

            numpy_epoch = numpy_runner(workload, batch, xs, ys)
            times = {"staticnet": [], "numpy": []}
            for _ in range(repeats):
                times["staticnet"].append(timed(staticnet_epoch) * scale)
                times["numpy"].append(timed(numpy_epoch) * scale)
            row = {"workload": workload, "batch": batch,
                   "staticnet_s": statistics.median(times["staticnet"]), "numpy_s": statistics.median(times["numpy"]),
                   "compile_s": compile_seconds, "compile_cached": cached, "repeats": repeats,
                   "scaled_from_rows": rows_used}
            row["ratio"] = row["numpy_s"] / row["staticnet_s"]
            rows.append(row)
            print(f"{workload} batch {batch:>5}: staticnet {row['staticnet_s']:.3f} s  numpy {row['numpy_s']:.3f} s  "
                  f"ratio {row['ratio']:.1f}x  (compile {compile_seconds:.2f} s{' cached' if cached else ''})",
                  file=sys.stderr)
    return rows


def markdown(rows, source):
    lines = [f"Epoch over 60,000 images ({source}); median of {rows[0]['repeats']} interleaved repeats; "
             "ratio = NumPy / staticnet.", "",
             "| workload | batch | staticnet s/epoch | NumPy s/epoch | ratio | compile s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['batch']} | {r['staticnet_s']:.3f} | {r['numpy_s']:.3f} | "
                     f"{r['ratio']:.1f}x | {r['compile_s']:.2f}{' (cached)' if r['compile_cached'] else ''} |")
    return "\n".join(lines) + "\n"


def machine():
    import numba
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "threads": os.environ.get("STATICNET_NUM_THREADS", "all")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="staticnet bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one batch size per workload, a tenth of the data")
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--batch-sizes", help="comma-separated, overriding each workload's list")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--markdown", metavar="FILE")
    args = parser.parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",")]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"staticnet bench: error: unknown workload {unknown[0]!r}; choose from {', '.join(WORKLOADS)}",
              file=sys.stderr)
        return 2
    try:
        chosen = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else None
    except ValueError:
        print(f"staticnet bench: error: --batch-sizes takes integers, got {args.batch_sizes!r}", file=sys.stderr)
        return 2
    x, y, source = load_data()

    def batches_for(workload):
        if chosen:
            return chosen
        return [BATCHES[workload][1 if len(BATCHES[workload]) > 3 else 0]] if args.quick else BATCHES[workload]

    rows = bench(workloads, batches_for, 1 if args.quick else args.repeats, args.quick, x, y)
    table = markdown(rows, source)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "data": source, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
