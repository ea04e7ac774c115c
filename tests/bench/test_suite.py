"""`staticnet bench --quick` end to end: the output is well formed (no timing thresholds)."""
import json
import os
import subprocess
import sys

import pytest

from staticnet.bench import machine, peers, report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench(*args, timeout=None):
    return subprocess.run([sys.executable, "-m", "staticnet", "bench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_quick_run_writes_table_json_and_chart(tmp_path):
    files = {kind: tmp_path / f"bench.{kind}" for kind in ("json", "md", "png")}
    result = bench("--quick", "--workloads", "W1", "--json", str(files["json"]), "--markdown", str(files["md"]),
                   "--plot", str(files["png"]))
    assert result.returncode == 0, result.stderr
    results = json.loads(files["json"].read_text())
    assert {"cpu", "cores", "threads", "numpy", "numba", "blas"} <= set(results["machine"])
    assert results["roofline"]["one_thread_gflops"] > 0 and results["roofline"]["all_threads_gflops"] > 0
    [row] = results["epochs"]
    assert (row["workload"], row["batch"], row["repeats"]) == ("W1", 10, 3)
    assert all(row[f"{name}_s"] > 0 for name in ("staticnet", "numpy", "numpy_ftz"))
    assert row["numpy_ratio"] == pytest.approx(row["numpy_s"] / row["staticnet_s"])
    assert row["staticnet_threads"] == [None] * 3  # W1's batch-10 products are too small to share
    assert row["gflops"] == pytest.approx(row["gflop_per_epoch"] / row["staticnet_s"])
    assert 18 < row["gflop_per_epoch"] < 21  # W1 is about 19 GFLOP per epoch
    for peer, status in results["peers"].items():
        assert (row[f"{peer}_s"] is not None) == (status == "measured")
        if status != "measured":
            assert row["notes"][peer] == status
    kernels = {k["kernel"] for k in results["kernels"]}
    assert "Adam update of 1,000,000 parameters" in kernels and any("max-pool" in k for k in kernels)
    assert all(k["staticnet_us"] > 0 and k["numpy_us"] > 0 for k in results["kernels"])
    products = results["products"]
    assert {p["batch"] for p in products} == {10} and any("784x100" in p["product"] for p in products)
    assert all(p[f"{name}_gflops"] > 0 for p in products for name in ("staticnet", "blas", "numpy"))
    assert results["roofline"]["rounds"] == 2 * machine.ROOFLINE_ROUNDS  # at the start and at the end
    [compiled] = results["compile"]
    for situation in ("first", "new", "resized", "warm", "copied"):
        assert 0 < compiled[f"{situation}_train_s"] <= compiled[f"{situation}_all_s"]
    assert compiled["warm_all_s"] < compiled["first_all_s"] and compiled["warm_from_cache"]
    assert compiled["new_kernels_compiled"] == 0  # the deeper network compiled every kernel the model needs
    assert (compiled["jax_s"] is not None) == (results["peers"]["jax"] == "measured")
    table = files["md"].read_text()
    assert table in result.stdout and "| W1 | 10 |" in table and "GFLOP/s" in table
    assert "| same architecture, layers resized |" in table
    assert "| x @ W, 10x784 @ 784x100 |" in table and "| W5: d @ W.T, 10x1000 @ 1000x1000 |" in table
    assert "| max-pool 2x2 on 8x8x40, backward, batch 10 |" in table
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args,message", [
    (["--workloads", "W9"], "unknown workload 'W9'"),
    (["--batch-sizes", "ten"], "--batch-sizes takes integers"),
    (["--batch-sizes", "0"], "batch sizes must be positive"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--json", "no/dir/b.json"], f"--json no/dir/b.json: the directory {ROOT}/no/dir does not exist"),
    (["--json", ""], "--json '': is empty; name a file"),
    (["--markdown", "/sys/b.md"], "--markdown /sys/b.md: cannot write in the directory /sys"),
    (["--json", "b.json", "--plot", "./b.json"], "--plot ./b.json: is the same file as --json b.json"),
])
def test_bad_arguments_get_one_line_and_exit_2(args, message):
    result = bench(*args, timeout=120)  # refused before the suite runs, which takes minutes
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_missing_peer_is_reported_not_installed(monkeypatch):
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)
    assert peers.available() == {"pytorch": "not installed", "jax": "not installed"}


def test_table_shows_missing_peers_and_targets():
    row = {"workload": "W2", "batch": 10, "rows_timed": 60_000, "repeats": 3, "target_s": 0.35,
           "gflop_per_epoch": 19.0, "notes": {"pytorch": "not installed", "jax": "failed: boom"},
           "staticnet_s": 0.5, "numpy_s": 2.0, "numpy_ftz_s": 1.0, "pytorch_s": None, "jax_s": None,
           "numpy_ratio": 4.0, "gflops": 38.0, "staticnet_threads": [2, 1, 2]}
    results = {"machine": {"cpu": "cpu", "cores": 2, "threads": 2, "blas": "b", "numpy": "2", "numba": "0"},
               "roofline": {"one_thread_gflops": 50.0, "all_threads_gflops": 76.0}, "data": "MNIST",
               "epochs": [row], "compile": [], "kernels": []}
    line = next(l for l in report.markdown(results).splitlines() if l.startswith("| W2"))
    assert line == ("| W2 | 10 | 0.500 | 2, 1, 2 | 0.350 | 2.000 | 1.000 | not installed | failed: boom | 4.00x | - "
                    "| 38.0 | 50% |")
    row["staticnet_threads"] = [None, None, None]  # steps that give the threads no work: nothing was chosen
    line = next(l for l in report.markdown(results).splitlines() if l.startswith("| W2"))
    assert line.startswith("| W2 | 10 | 0.500 | - | 0.350 |")


def test_the_machine_line_names_the_widest_vectors_the_cpu_flags_give():
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    units = machine.vector_units()
    assert units.endswith(f", {widest}") and len(units) > len(widest) + 2
    results = {"machine": {"cpu": "AMD EPYC", "vector_units": units, "cores": 2, "threads": 2, "blas": "b",
                           "numpy": "2", "numba": "0"},
               "roofline": {"one_thread_gflops": 50.0, "all_threads_gflops": 76.0}, "data": "MNIST",
               "epochs": [], "compile": [], "kernels": []}
    assert f"Machine: AMD EPYC ({units}), 2 cores" in report.markdown(results)


def test_the_roofline_is_the_fastest_product_of_every_round():
    """Noise only slows a product down, so the best of all rounds is the machine's speed."""
    start = {"one_thread": [50.0, 90.0], "all_threads": [120.0, 80.0]}
    end = {"one_thread": [95.0, 60.0], "all_threads": [100.0, 70.0]}
    assert machine.roofline(start, end) == {"one_thread_gflops": 95.0, "all_threads_gflops": 120.0, "rounds": 4}
