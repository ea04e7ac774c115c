"""Compile time per workload in fresh processes, beside JAX's jit compile of the same train step.

staticnet is timed from `sn.compile` until its loops can run (`Model.warm_up`; interpreter start-up and
imports left out, Numba's own initialisation on first use included), in the situations a user meets:

- first model: empty caches, staticnet's and Numba's, so every kernel is compiled too;
- new model, kernel layer cached: a network of the same layer types but one more hidden layer was
  compiled before, so the kernels are cached and the driver is new;
- resized: the same architecture with its hidden layers resized (100 -> 37 units; W5's 1000 -> 370),
  after the first;
- warm: the same model in another process;
- copied: the same model file copied to another directory, renamed and given comment lines.

"train" is the time until the first training step can run, "all" adds the evaluation and prediction
loops (compiled on first use).  JAX: the first call of the jitted train step minus a warm call, in a
fresh process, with its backend already initialised.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = """
import json, sys, time
from staticnet.bench.workloads import WORKLOADS, staticnet_model
workload, hidden, depth, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None
started = time.perf_counter()
net = staticnet_model(WORKLOADS[workload], hidden, depth, path)
net.warm_up(10, ("train",))
train = time.perf_counter() - started
_, cached = net.warm_up(10)
print(json.dumps({"train": train, "all": time.perf_counter() - started, "cached": cached,
                  "kernels_compiled": len(net.generated.report.compiled)}))
"""

JAX_PROBE = """
import json, sys, time
import numpy as np
from staticnet.bench.peers import JaxRunner
workload = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.random((100, 784), np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 100)]
runner = JaxRunner(workload, 10, x, y)
runner.jax.block_until_ready(runner.x)
idx = np.arange(10)
timings = []
for _ in range(2):
    started = time.perf_counter()
    runner.step(idx)
    runner.jax.block_until_ready(runner.state)
    timings.append(time.perf_counter() - started)
print(json.dumps({"compile": timings[0] - timings[1]}))
"""

COPIED_HEADER = "# a copy of the model, under another name, in another directory\n\n# with comments\n"


def _run(code, args, env, cwd=None):
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                            cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"a compile-time probe ({args}) failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _situations(workload: str) -> dict:
    """One fresh set of caches: each situation's probe, in the order that sets it up."""
    from .workloads import WORKLOADS, model_file
    hidden, depth = WORKLOADS[workload].hidden, WORKLOADS[workload].depth
    with tempfile.TemporaryDirectory(prefix="staticnet-bench-") as scratch:
        env = dict(os.environ, STATICNET_CACHE=os.path.join(scratch, "cache"),
                   NUMBA_CACHE_DIR=os.path.join(scratch, "numba"))
        original = os.path.join(scratch, "model.py")
        with open(original, "w") as f:
            f.write(model_file(WORKLOADS[workload]))
        first = _run(PROBE, [workload, hidden, depth, original], env)
        resized = _run(PROBE, [workload, hidden * 37 // 100, depth, original], env)
        warm = _run(PROBE, [workload, hidden, depth, original], env)
        os.makedirs(os.path.join(scratch, "elsewhere"))
        copy = os.path.join(scratch, "elsewhere", "renamed_model.py")
        with open(copy, "w") as f:
            f.write(COPIED_HEADER + model_file(WORKLOADS[workload]).replace("\n\ndef build", "\n\n# build it\ndef build"))
        copied = _run(PROBE, [workload, hidden, depth, copy], env, cwd=os.path.join(scratch, "elsewhere"))
    with tempfile.TemporaryDirectory(prefix="staticnet-bench-") as scratch:
        env = dict(os.environ, STATICNET_CACHE=os.path.join(scratch, "cache"),
                   NUMBA_CACHE_DIR=os.path.join(scratch, "numba"))
        _run(PROBE, [workload, hidden, depth + 1, ""], env)  # a deeper network of the same layers fills the kernels
        new = _run(PROBE, [workload, hidden, depth, ""], env)
    return {"first": first, "new": new, "resized": resized, "warm": warm, "copied": copied}


def compile_times(workload: str, repeats: int = 3, jax: bool = True) -> dict:
    """Medians over `repeats` fresh sets of caches of each situation's seconds, and JAX's compile."""
    runs = [_situations(workload) for _ in range(repeats)]
    row = {"workload": workload, "repeats": repeats}
    for situation in runs[0]:
        for loop in ("train", "all"):
            row[f"{situation}_{loop}_s"] = statistics.median(r[situation][loop] for r in runs)
    row["warm_from_cache"] = all(r[s]["cached"] and not r[s]["kernels_compiled"] for r in runs
                                 for s in ("warm", "copied", "resized"))
    row["new_kernels_compiled"] = max(r["new"]["kernels_compiled"] for r in runs)
    row["jax_s"] = None
    if jax:
        try:
            row["jax_s"] = statistics.median(_run(JAX_PROBE, [workload], dict(os.environ))["compile"]
                                             for _ in range(repeats))
        except RuntimeError as e:  # JAX is a peer: its failure is reported, never fatal
            row["jax_note"] = str(e).splitlines()[-1]
    return row
