"""`python -m bench` (or `staticnet bench`): staticnet against NumPy, PyTorch and JAX on this machine.

Epoch times of four workloads at several minibatch sizes, single kernels, compile times, and
the machine's SGEMM roofline; prints a Markdown table, and writes JSON and a chart on request.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys

from staticnet.durable import write_text
from staticnet.paths import output_problem

from . import compile_time, epochs, kernel_timings, machine, peers, report
from .workloads import WORKLOADS, load_data


def parse(argv):
    parser = argparse.ArgumentParser(prog="staticnet bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="batch 10 only, fewer images, kernels and compile repeats: a check that every part runs, "
                             "its figures rough (a few minutes on 2 cores)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, from {','.join(WORKLOADS)}")
    parser.add_argument("--batch-sizes", help="comma-separated, instead of each workload's list")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per figure (median; default 3)")
    parser.add_argument("--skip-kernels", action="store_true", help="no single-kernel timings")
    parser.add_argument("--skip-compile", action="store_true", help="no cold/warm compile timings")
    parser.add_argument("--json", metavar="FILE", help="write every figure and the machine description")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables")
    parser.add_argument("--plot", metavar="FILE.png", help="draw epoch time per batch size (log scale)")
    args = parser.parse_args(argv)
    args.command = shlex.join(["staticnet", "bench", *(sys.argv[1:] if argv is None else argv)])
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.exit(2, f"staticnet bench: error: unknown workload {unknown[0]!r}; choose from {', '.join(WORKLOADS)}\n")
    try:
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else None
    except ValueError:
        parser.exit(2, f"staticnet bench: error: --batch-sizes takes integers, got {args.batch_sizes!r}\n")
    if args.batch_sizes is not None and min(args.batch_sizes) < 1:
        parser.exit(2, "staticnet bench: error: batch sizes must be positive\n")
    if args.repeats < 1:
        parser.exit(2, f"staticnet bench: error: --repeats must be at least 1, got {args.repeats}\n")
    outputs = {}
    for option, path in (("--json", args.json), ("--markdown", args.markdown), ("--plot", args.plot)):
        problem = None if path is None else output_problem(path, outputs)
        if problem is not None:
            parser.exit(2, f"staticnet bench: error: {option} {path or repr(path)}: {problem}\n")
        outputs[option] = path
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.exit(2, "staticnet bench: error: --plot needs matplotlib (pip install 'staticnet[plot]')\n")
    return args


def run(args) -> dict:
    from staticnet import threads
    thread_count = threads.apply()
    x, y, source = load_data()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"), "command": args.command,
               "machine": machine.describe(thread_count), "data": source, "quick": args.quick,
               "peers": {p: reason or "measured" for p, reason in peers.available().items()}}
    print("measuring the SGEMM roofline", file=sys.stderr)
    before = machine.sgemm_rounds(thread_count)
    results["epochs"] = []
    for name in args.workloads:
        workload = WORKLOADS[name]
        for batch in args.batch_sizes or (workload.quick_batches if args.quick else workload.batches):
            results["epochs"].append(epochs.time_epochs(workload, batch, x, y, workload.rows_timed(args.quick),
                                                        args.repeats, thread_count, peers.available()))
    results["kernels"] = [] if args.skip_kernels else kernel_timings.time_kernels(
        [10] if args.quick else [10, 128], args.repeats)
    results["products"] = [] if args.skip_kernels else kernel_timings.time_products(
        [10] if args.quick else [10, 128, 1024], max(args.repeats, 5))
    if not args.skip_compile:
        print("measuring compile times in fresh processes", file=sys.stderr)
    results["compile"] = [] if args.skip_compile else [
        compile_time.compile_times(w, 1 if args.quick else args.repeats, jax=results["peers"]["jax"] == "measured")
        for w in args.workloads]
    print("measuring the SGEMM roofline again", file=sys.stderr)
    results["roofline"] = machine.roofline(before, machine.sgemm_rounds(thread_count))
    return results


def main(argv=None) -> int:
    args = parse(argv)
    results = run(args)
    table = report.markdown(results)
    print(table)
    if args.markdown:
        write_text(args.markdown, table)
    if args.json:
        write_text(args.json, json.dumps(results, indent=1))
    if args.plot:
        report.plot(results, args.plot)
        print(f"chart written to {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
