"""The local pool (staticnet/search/engines.py) in the ways a script, a killed coordinator or a killed worker
uses it: real processes, a script run as users run theirs, and the temporary directories left behind."""
import glob
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import staticnet as sn
from tests.test_search import build, build_faulty, search

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKERS = "STATICNET_TEST_LOST_MARKERS"  # where build_waiting_once says which Dask worker process trains

SCRIPT = """import os
import sys
import time

import numpy as np
import staticnet as sn


def build(hidden):
    if len(sys.argv) > 1:  # the coordinator is to be killed: say which process trains, then take long
        with open(os.path.join(sys.argv[1], str(os.getpid())), "w"):
            pass
        time.sleep(120)
    x = sn.input("x", (None, 6))
    y = sn.input("y", (None, 3))
    p = sn.dense(sn.dense(x, hidden, activation="sigmoid"), 3, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1)}


rng = np.random.default_rng(0)
x = rng.normal(size=(5000, 6)).astype(np.float32)  # 180 KB: more than a pipe holds
train = {"x": x, "y": np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int)]}
SEARCH
"""
UNGUARDED = "sn.search.run(build, sn.search.grid(hidden=[3, 4]), train, epochs=1, batch_size=10, workers=2)\n"
GUARDED = 'if __name__ == "__main__":\n    ' + UNGUARDED


def run_script(tmp_path, search_code: str, *args, **popen):
    path = tmp_path / "searching.py"
    path.write_text(SCRIPT.replace("SEARCH", search_code))
    env = {**os.environ, "PYTHONPATH": REPO, **popen.pop("env", {})}
    return str(path), subprocess.Popen([sys.executable, str(path), *args], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, **popen)


def test_a_script_that_runs_a_local_search_without_the_main_guard_gets_one_error_naming_it(tmp_path):
    path, script = run_script(tmp_path, UNGUARDED)
    try:
        _, stderr = script.communicate(timeout=120)
    finally:
        script.kill()
    assert script.returncode == 1
    assert stderr.rstrip().splitlines()[-1] == (
        f"staticnet.errors.SearchError: {path} runs a search on the local pool at its top level, and each worker "
        "process runs that top level again as it starts (processes are spawned): put the search under "
        "`if __name__ == \"__main__\":` (or pass executor='inline')")
    assert stderr.count("Traceback") == 1 and "RuntimeError" not in stderr


def test_workers_of_a_killed_coordinator_exit_quietly_at_once_and_leave_no_directory(tmp_path):
    markers, scratch = tmp_path / "markers", tmp_path / "tmp"
    markers.mkdir()
    scratch.mkdir()
    _, coordinator = run_script(tmp_path, GUARDED, str(markers), env={"TMPDIR": str(scratch)})
    workers = []
    try:
        deadline = time.monotonic() + 120
        while len(os.listdir(markers)) < 2 and coordinator.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = sorted(int(name) for name in os.listdir(markers))
        assert len(workers) == 2, coordinator.communicate()
        assert len(glob.glob(str(scratch / "staticnet-trial-*"))) == 2  # each worker's trial has its directory
        os.kill(coordinator.pid, signal.SIGKILL)
        # the workers hold the coordinator's stderr: it ends when both have exited, long before their builds would
        # have (120 s), and holds nothing from them
        _, stderr = coordinator.communicate(timeout=60)
    finally:
        coordinator.kill()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert stderr == ""
    assert glob.glob(str(scratch / "staticnet-trial-*")) == []


def test_a_worker_killed_in_its_trial_leaves_no_directory(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # for the workers, which read it when they start
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # for this process, which has read it already
    result = search(tmp_path / "search", build=build_faulty, space=sn.search.grid(mode=["killed", "ok"]),
                    executor="local", workers=1)
    assert [r["status"] for r in result.records] == ["killed", "ok"]
    assert os.listdir(scratch) == []


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_build_calling_sys_exit_is_a_failed_trial_that_says_so(tmp_path, executor):
    result = search(tmp_path, build=build_faulty, space=sn.search.grid(mode=["exits", "ok"]), executor=executor,
                    workers=1 if executor == "local" else None)
    exited, ok = result.records
    assert ok["status"] == "ok"
    assert exited["status"] == "failed"
    assert exited["error"].endswith("SystemExit: sys.exit(3) was called during the trial (a trial cannot end the "
                                    "search's process)")
    assert exited["error"].startswith(f"{os.path.join(REPO, 'tests', 'test_search.py')}:")


def build_waiting_once(hidden):
    """build, except that until the test has killed the workers, each trial says which process runs it and waits."""
    markers = os.environ[MARKERS]
    if not os.path.exists(os.path.join(markers, "killed")):
        with open(os.path.join(markers, str(os.getpid())), "w"):
            pass
        time.sleep(120)
    return build(hidden)


def test_dask_trials_lost_with_every_worker_are_recorded_as_lost_and_trained_by_the_next_run(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster  # a dev dependency: missing, this test fails, never skips
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKERS, str(markers))  # before the workers start, which inherit it

    def kill_both_workers():
        deadline = time.monotonic() + 120
        while len(os.listdir(markers)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        (markers / "killed").touch()
        for name in os.listdir(markers):
            if name.isdigit():
                os.kill(int(name), signal.SIGKILL)
    space = sn.search.grid(hidden=[3, 5])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        killer = threading.Thread(target=kill_both_workers, daemon=True)
        killer.start()
        lost = search(tmp_path / "search", build=build_waiting_once, space=space, executor=client)
        killer.join(5)
        assert (markers / "killed").exists(), "the trials never started waiting to be killed"
        for record in lost.records:
            assert record["status"] == "killed"
            assert record["error"] == ("lost: every Dask worker holding the search's data died, and the scheduler "
                                       "dropped the trials that needed it; run the same search again to train it")
        client.wait_for_workers(2, timeout=60)  # their nannies start them again
        again = search(tmp_path / "search", build=build_waiting_once, space=space, executor=client)
    assert sorted(again.trained) == ["trial-000", "trial-001"] and [r["status"] for r in again.records] == ["ok", "ok"]
