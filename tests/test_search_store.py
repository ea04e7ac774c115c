"""The search directory (staticnet/search/store.py): one search at a time, held by a lock that a killed search
does not keep, and a stored trial result taken only when this search wrote it for that trial, unchanged, with
its model beside it.  The lock is tested with real processes: searches started together, and one killed."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import staticnet as sn
from staticnet.errors import SearchError
from tests.test_search import assert_same_trials, search

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """import sys
import time

import numpy as np
import staticnet as sn


def build(hidden):
    time.sleep(float(sys.argv[3]))
    x = sn.input("x", (None, 6))
    y = sn.input("y", (None, 3))
    p = sn.dense(sn.dense(x, hidden, activation="sigmoid"), 3, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1)}


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6)).astype(np.float32)
    train = {"x": x, "y": np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int)]}
    space = sn.search.grid(hidden=[int(h) for h in sys.argv[2].split(",")])
    sn.search.run(build, space, train, directory=sys.argv[1], executor="inline", epochs=1, batch_size=10,
                  verbose=False, force="--force" in sys.argv)
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "searching.py"
    path.write_text(SCRIPT)
    return str(path)


def start_search(script, directory, hidden: str, sleep: float, *flags):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.Popen([sys.executable, script, str(directory), hidden, str(sleep), *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock(directory, process) -> dict:
    """The holder a running search wrote into its lock, once it has written its search.json too."""
    lock = directory / "search.lock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if lock.exists() and lock.read_text().strip() and (directory / "search.json").exists():
            return json.loads(lock.read_text())
        time.sleep(0.05)
    raise AssertionError(f"the search never locked {directory}: {process.communicate()}")


def trial_params(directory) -> list[dict]:
    return [json.loads(p.read_text())["params"] for p in sorted(directory.glob("trial-*[0-9].json"))]


def test_two_searches_started_together_in_one_directory_one_runs_and_the_other_is_refused(script, tmp_path):
    directory = tmp_path / "runs"
    spaces = {"3,4": [{"hidden": 3}, {"hidden": 4}], "5,6": [{"hidden": 5}, {"hidden": 6}]}
    searches = {hidden: start_search(script, directory, hidden, 1.5) for hidden in spaces}
    outcomes = {hidden: (p.wait(timeout=300), *p.communicate()) for hidden, p in searches.items()}
    winners = [h for h, (code, _, _) in outcomes.items() if code == 0]
    assert len(winners) == 1, outcomes
    winner = winners[0]
    loser = next(h for h in spaces if h != winner)
    code, _, stderr = outcomes[loser]
    assert code != 0
    assert (f"SearchError: search directory {directory}: another search is running there (pid "
            f"{searches[winner].pid} on host {socket.gethostname()}, since ") in stderr, stderr
    identity = json.loads((directory / "search.json").read_text())
    assert identity["space"]["configurations"] == spaces[winner]
    assert trial_params(directory) == spaces[winner]
    assert not (directory / "search.lock").exists()


def test_a_running_search_refuses_force_and_its_lock_is_taken_over_once_it_is_killed(script, tmp_path, capfd):
    directory = tmp_path / "runs"
    running = start_search(script, directory, "3,4", 60)
    try:
        holder = wait_for_lock(directory, running)
        assert holder["pid"] == running.pid and holder["host"] == socket.gethostname()
        with pytest.raises(SearchError, match=rf"search directory {directory}: another search is running there "
                                              rf"\(pid {running.pid} on host "):
            search(directory, space=sn.search.grid(hidden=[5]), force=True)
        assert json.loads((directory / "search.json").read_text())["space"]["values"] == {"hidden": [3, 4]}
        os.kill(running.pid, signal.SIGKILL)
        running.wait(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
        running.communicate()
    capfd.readouterr()
    result = search(directory, space=sn.search.grid(hidden=[5]), force=True)
    assert result.trained == ["trial-000"] and trial_params(directory) == [{"hidden": 5}]
    warning = capfd.readouterr().err
    assert (f"{directory / 'search.lock'} was left by a search that ended without releasing it (pid {running.pid} "
            f"on host {socket.gethostname()}") in warning
    assert not (directory / "search.lock").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return search(tmp_path_factory.mktemp("reference"))


def edit(path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_a_stored_result_is_taken_only_unchanged_from_this_search_and_trial_with_its_model(reference, tmp_path,
                                                                                         capfd):
    directory = tmp_path / "search"
    shutil.copytree(reference.directory, directory)
    edit(directory / "trial-000.json", lambda r: r.update(best_value=1.0))  # edited by hand
    shutil.copy(directory / "trial-002.json", directory / "trial-001.json")  # copied
    os.unlink(directory / "trial-002.snet")  # its best model deleted

    def reseeded(record):  # a seed that is not this trial's, under a checksum that matches (the documented
        record["seed"] += 1  # SHA-256 of the record's sorted JSON without the checksum)
        body = json.dumps({k: v for k, v in record.items() if k != "checksum"}, sort_keys=True)
        record["checksum"] = hashlib.sha256(body.encode()).hexdigest()
    edit(directory / "trial-003.json", reseeded)
    capfd.readouterr()
    result = search(directory)
    assert result.trained == ["trial-000", "trial-001", "trial-002", "trial-003"]
    assert_same_trials(result, reference)
    warning = capfd.readouterr().err
    assert warning.count("staticnet: warning:") == 1
    assert "4 stored trial results cannot be taken, those trials train again:" in warning
    assert f"{directory / 'trial-000.json'}: was changed after the search wrote it" in warning
    assert f"{directory / 'trial-001.json'}: is the result of trial-002, not of trial-001" in warning
    assert f"{directory / 'trial-002.json'}: its model {directory / 'trial-002.snet'} is missing" in warning
    assert f"{directory / 'trial-003.json'}: was trained with seed" in warning
    assert search(directory).trained == []
    assert "warning" not in capfd.readouterr().err


def test_a_result_lacking_a_field_or_from_another_search_trains_again_naming_the_file(reference, tmp_path, capfd):
    directory = tmp_path / "search"
    shutil.copytree(reference.directory, directory)
    edit(directory / "trial-002.json", lambda r: r.pop("status"))
    other = tmp_path / "other"
    search(other, space=sn.search.grid(hidden=[3, 5], lr=[0.2, 2.0, 4.0]))
    shutil.copy(other / "trial-000.json", directory / "trial-000.json")  # another search's trial-000
    capfd.readouterr()
    result = search(directory)
    assert result.trained == ["trial-000", "trial-002"]
    assert_same_trials(result, reference)
    warning = capfd.readouterr().err
    assert f"{directory / 'trial-002.json'}: lacks the field status" in warning
    assert f"{directory / 'trial-000.json'}: is a result of another search" in warning


@pytest.mark.parametrize("name", ["trial-001.json", "trial-002.snet", "results.md", "search.json"])
def test_a_directory_where_the_search_keeps_a_file_is_refused_before_any_trial(reference, tmp_path, name):
    directory = tmp_path / "search"
    shutil.copytree(reference.directory, directory)
    os.unlink(directory / name)
    os.mkdir(directory / name)
    before = sorted(os.listdir(directory))
    with pytest.raises(SearchError, match=f"^{directory / name}: is a directory, where the search keeps a file"):
        search(directory)
    assert sorted(os.listdir(directory)) == before  # nothing trained, nothing written, the lock let go


def test_a_stored_checkpoint_is_continued_from_only_unchanged_from_this_search_and_trial(reference, tmp_path, capfd):
    directory = tmp_path / "search"
    shutil.copytree(reference.directory, directory)
    for path in directory.glob("trial-*[0-9].json"):  # every result lost: each trial has its last checkpoint
        os.unlink(path)
    other = tmp_path / "other"
    search(other, seed=1)  # another search: the same trials, other seeds
    for suffix in ("json", "snet"):
        shutil.copy(other / f"trial-000.checkpoint.{suffix}", directory / f"trial-000.checkpoint.{suffix}")
        shutil.copy(directory / f"trial-002.checkpoint.{suffix}", directory / f"trial-001.checkpoint.{suffix}")
    shutil.copy(directory / "trial-003.checkpoint.snet", directory / "trial-002.checkpoint.snet")
    capfd.readouterr()
    result = search(directory)
    assert result.trained == ["trial-000", "trial-001", "trial-002", "trial-003"]
    assert_same_trials(result, reference)
    assert [r["resumed_from_epoch"] for r in result.records] == [None, None, None, 3]  # only trial-003's is its own
    warning = capfd.readouterr().err
    assert (f"{directory / 'trial-000.checkpoint.json'}: is a checkpoint of another search (its fingerprint differs); "
            "trial-000 starts again from its first epoch") in warning
    assert f"{directory / 'trial-001.checkpoint.json'}: is the checkpoint of trial-002, not of trial-001" in warning
    assert f"{directory / 'trial-002.checkpoint.json'}: trial-002.checkpoint.snet is not the checkpoint it " \
           "describes" in warning
    assert "trial-003" not in warning
