"""bench/distributed.py: its workers run under the real mpiexec, and its table says what the figures say."""
import json
import os
import subprocess
import sys

from staticnet.bench import distributed as bench
from staticnet.distributed import RANK_VARIABLES, SIZE_VARIABLES, mpiexec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def last_line(ranks, *arguments):
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARIABLES + SIZE_VARIABLES}
    result = subprocess.run([mpiexec(), "--oversubscribe", "-n", str(ranks), sys.executable, "-m", "bench.distributed",
                             *arguments], capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL,
                            env={**env, **bench.MPI_ENV, "STATICNET_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_workers_time_an_epoch_on_two_ranks_on_one_process_in_exact_mode_and_each_form_of_a_step_on_one():
    assert last_line(2, "--worker", "W1", "1024", "exact")["seconds"] > 0
    alone = subprocess.run([sys.executable, "-m", "bench.distributed", "--worker", "W1", "1024", "exact"], cwd=ROOT,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                           env={k: v for k, v in os.environ.items() if k not in RANK_VARIABLES + SIZE_VARIABLES})
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert json.loads(alone.stdout.strip().splitlines()[-1])["seconds"] > 0
    cost = last_line(1, "--step-costs", "W1", "1024", "1")
    assert set(cost) == set(bench.STEP_FORMS) and all(seconds > 0 for seconds in cost.values())


def test_the_table_gives_each_speed_up_against_one_thread_and_pythons_share():
    medians = {(name, batch, c): 1.0 for name, batch in bench.CASES for c in bench.CONFIGURATIONS}
    medians[("W1", 1024, "2 ranks x 1 thread, fast")] = 0.5
    fit, loop, python = bench.STEP_FORMS
    costs = {(name, batch): {fit: 0.0018, loop: 0.0019, python: 0.002} for name, batch in bench.CASES}
    text = bench.table(medians, costs, 3, "1.00")
    w1 = next(line for line in text.splitlines() if line.startswith("| W1 | 1024 |"))
    assert w1.endswith("| 0.500 (2.00x) |")
    assert "| W3 | 128 | 1.800 (1.00x) | 1.900 (1.06x) | 2.000 (1.11x) | 5.0% |" in text
