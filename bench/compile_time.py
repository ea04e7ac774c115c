"""Compile time per workload, in fresh processes, from `sn.compile` until the loops are compiled
(`Model.warm_up`; interpreter start-up and imports left out), in three situations:

- first model: empty staticnet and Numba caches, so the kernel library is compiled too (once per
  machine and staticnet version: Numba caches it);
- new model: the kernel library already in Numba's cache, the model's own code not;
- warm: a second process finding everything the first ones cached.

"train loop" is the time until training can start (what the issue's target measures); "all
loops" adds the evaluation and prediction loops, which `fit` and `predict` compile on first use.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

PROBE = """
import json, sys, time
from staticnet.bench.workloads import WORKLOADS, staticnet_model
started = time.perf_counter()
net = staticnet_model(WORKLOADS[sys.argv[1]])
net.warm_up(10, ("train",))
train = time.perf_counter() - started
_, cached = net.warm_up(10)
print(json.dumps({"train": train, "all": time.perf_counter() - started, "cached": cached}))
"""


def _probe(workload, env):
    result = subprocess.run([sys.executable, "-c", PROBE, workload], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"compiling {workload} in a fresh process failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compile_times(workload: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="staticnet-bench-") as cache:
        def env(generated):
            return dict(os.environ, STATICNET_CACHE=os.path.join(cache, generated), NUMBA_CACHE_DIR=os.path.join(cache, "numba"))
        first = _probe(workload, env("first"))
        new = _probe(workload, env("new"))  # same source, another file: Numba compiles it again
        warm = _probe(workload, env("new"))
    return {"workload": workload, "first_train_s": first["train"], "first_all_s": first["all"],
            "new_train_s": new["train"], "new_all_s": new["all"], "warm_all_s": warm["all"],
            "warm_from_cache": warm["cached"] and not new["cached"]}
