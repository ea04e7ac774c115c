"""Compile time per workload: cold (a fresh process with empty staticnet and Numba caches) and
warm (a second process finding what the first one cached).

Each figure is the time from `sn.compile` until the training, evaluation and prediction loops
are all compiled (`Model.warm_up`); interpreter start-up and imports are left out.
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
seconds, cached = net.warm_up(10)
print(json.dumps({"seconds": time.perf_counter() - started, "cached": cached}))
"""


def _probe(workload, env):
    result = subprocess.run([sys.executable, "-c", PROBE, workload], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"compiling {workload} in a fresh process failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compile_times(workload: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="staticnet-bench-") as cache:
        env = dict(os.environ, STATICNET_CACHE=os.path.join(cache, "staticnet"),
                   NUMBA_CACHE_DIR=os.path.join(cache, "numba"))
        cold, warm = _probe(workload, env), _probe(workload, env)
    return {"workload": workload, "cold_s": cold["seconds"], "warm_s": warm["seconds"],
            "warm_from_cache": warm["cached"] and not cold["cached"]}
