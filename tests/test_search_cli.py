"""`staticnet search`: the live lines, the table, the directory, the command that trains a trial's weights again,
Ctrl-C, and the one-line refusals of arguments that cannot work."""
import os
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest

import staticnet as sn

MODEL = """import time

import numpy as np
import staticnet as sn


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(180, 6)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)
    sets = [{"x": x[i:i + 60], "y": np.eye(3, dtype=np.float32)[labels[i:i + 60]]} for i in (0, 60, 120)]
    return sets[0], sets[1], sets[2]


def build(hidden=4):
    time.sleep(SLEEP)
    x = sn.input("x", (None, 6))
    y = sn.input("y", (None, 3))
    p = sn.dense(sn.dense(x, hidden, activation="sigmoid"), 3, activation="softmax")
    return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1), "batch_size": 10}
"""


def model_file(tmp_path, sleep=0.0):
    path = tmp_path / "model.py"
    path.write_text(MODEL.replace("SLEEP", repr(sleep)))
    return str(path)


def staticnet(*args, **popen):
    env = {**os.environ, **popen.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "staticnet", *args], capture_output=True, text=True, env=env,
                          **popen)


def live_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("[")]


def test_search_prints_each_trial_and_the_table_and_its_command_trains_the_best_weights_again(tmp_path):
    model, directory = model_file(tmp_path), str(tmp_path / "runs")
    args = ["search", model, "--grid", "hidden=3,5", "--grid", "lr=0.2,2", "--epochs", "3", "--workers", "2",
            "--dir", directory]
    run = staticnet(*args)
    assert run.returncode == 0, run.stderr
    lines = live_lines(run.stdout)
    assert [line[:5] for line in lines] == [f"[{k}/4]" for k in range(1, 5)]
    assert sorted(line.split()[1] for line in lines) == [f"trial-00{i}" for i in range(4)]
    assert "| trial | hidden | lr | seed | val_accuracy | epoch | epochs | seconds | compile s | worker | status |" \
        in run.stdout
    for name in ["search.json", "results.md", "results.csv", "results.json", "search.png"] + \
            [f"trial-00{i}.{ext}" for i in range(4) for ext in ("json", "snet")]:
        assert os.path.isfile(os.path.join(directory, name)), name
    best_line = next(line for line in run.stdout.splitlines() if line.startswith("best: "))
    best_model = best_line.rsplit("model ", 1)[1]
    command = next(line for line in run.stdout.splitlines() if line.startswith("the same weights again: "))
    words = shlex.split(command.split(": ", 1)[1])
    assert words[:4] == ["STATICNET_NUM_THREADS=1", "staticnet", "train", model]
    again = staticnet(*words[2:], "--save", str(tmp_path / "again.snet"), env={"STATICNET_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    retrained, saved = sn.load(str(tmp_path / "again.snet")).params, sn.load(best_model).params
    assert set(retrained) == set(saved)
    for name in saved:
        np.testing.assert_array_equal(retrained[name], saved[name])

    rerun = staticnet(*args)
    assert rerun.returncode == 0 and "search: 4 trials in" in rerun.stdout and "(4 finished before)" in rerun.stdout
    assert live_lines(rerun.stdout) == [] and best_line in rerun.stdout
    changed = staticnet(*[a.replace("hidden=3,5", "hidden=3,6") for a in args])
    assert changed.returncode == 2 and changed.stderr.count("\n") == 1
    assert "holds the results of another search (the search space changed); pass force=True (--force)" \
        in changed.stderr


def test_ctrl_c_stops_the_search_and_the_same_command_finishes_it(tmp_path):
    model, directory = model_file(tmp_path, sleep=0.5), tmp_path / "runs"
    args = [sys.executable, "-m", "staticnet", "search", model, "--grid", "hidden=3,4,5,6", "--epochs", "2",
            "--workers", "1", "--dir", str(directory)]
    search = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        while not search.stdout.readline().startswith("[1/4]"):
            pass
        os.killpg(search.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole process group
        _, stderr = search.communicate(timeout=60)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 130
    finished = sorted(p.name for p in directory.glob("trial-*[0-9].json"))
    assert 1 <= len(finished) < 4 and f"interrupted: {len(finished)} of 4 trials have results" in stderr
    assert not list(directory.glob(".tmp-*")) and not list(directory.glob("results.*"))
    rerun = subprocess.run(args, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({len(finished)} finished before)" in rerun.stdout
    assert len(live_lines(rerun.stdout)) == 4 - len(finished)


def test_halving_whose_last_rung_all_failed_exits_1_and_names_no_best(tmp_path):
    """build() fails when it builds a configuration again, as the second rung does: the first rung's losers,
    trained one epoch, are no answer to a search of two."""
    once = ("    import os\n"
            f"    marker = os.path.join({str(tmp_path)!r}, f'built-{{hidden}}')\n"
            "    if os.path.exists(marker):\n"
            "        raise RuntimeError(f'hidden={hidden} was built before')\n"
            "    open(marker, 'w').close()\n")
    model = tmp_path / "model.py"
    model.write_text(MODEL.replace("SLEEP", "0.0").replace("    time.sleep(0.0)\n", "    time.sleep(0.0)\n" + once))
    result = staticnet("search", str(model), "--grid", "hidden=3,4,5,6", "--epochs", "2", "--halving", "2",
                       "--workers", "1", "--dir", str(tmp_path / "runs"))
    assert result.returncode == 1, result.stderr
    assert "rung 2/2: none of its 2 trials finished; no trial reached 2 epochs" in result.stdout
    assert result.stderr == ("staticnet: error: no trial finished the last rung (2 epochs); the table gives each one's "
                             "error\n")
    assert [line.split("  ")[-1].split(":")[0] for line in live_lines(result.stdout)[4:]] == ["failed", "failed"]
    assert not [line for line in result.stdout.splitlines() if line.startswith("best: ")]


@pytest.mark.parametrize("args, message", [
    (["--grid", "lr"], "argument --grid: expected NAME=VALUE[,VALUE...], got 'lr'"),
    (["--grid", "lr=0.1,,0.5"], "argument --grid: lr=0.1,,0.5: an empty value"),
    (["--grid", "lr=0.1,inf"], "argument --grid: lr=0.1,inf: values must be finite, got inf"),
    (["--grid", "lr=loguniform(0.001,1)"], "--grid lr: a range is drawn from by --random N"),
    (["--grid", "lr=loguniform(1,0.001)", "--random", "3"], "the low bound must be below the high one"),
    (["--grid", "units=3"], "the space's 'units' is neither a parameter of build() (build() takes hidden) nor a "
                            "training option (lr, batch_size, epochs)"),
    ([], "give the search space with --grid NAME=V1,V2,..."),
    (["--grid", "hidden=3", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "argument --scheduler: not allowed with argument --workers"),
    (["--grid", "hidden=3", "--grid", "hidden=5"], "--grid hidden is given twice"),
    (["--grid", "hidden=3,5", "--random", "3"], "trials=3, but the space holds only 2 distinct configurations"),
    (["--grid", "hidden=3", "--halving", "2"], "--halving needs --epochs: the epochs of its last rung"),
    (["--grid", "hidden=3", "--workers", "0"], "argument --workers: expected a positive integer, got '0'"),
    (["--grid", "hidden=3", "--monitor", "val_f1"], "monitor must be one of loss, accuracy, mse, mae"),
])
def test_an_argument_that_cannot_work_is_one_line_exit_2_before_any_trial(args, message, tmp_path):
    directory = tmp_path / "runs"
    result = staticnet("search", model_file(tmp_path), *args, "--dir", str(directory))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and not directory.exists()


def test_a_model_file_without_build_is_named_as_such(tmp_path):
    path = tmp_path / "no_build.py"
    path.write_text(MODEL.replace("def build(hidden=4):", "def other(hidden=4):"))
    directory = tmp_path / "runs"
    result = staticnet("search", str(path), "--grid", "hidden=3,5", "--dir", str(directory))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.endswith(f"the space's 'hidden' is not a training option (lr, batch_size, epochs), and {path} "
                                  "defines no build() function to take it\n"), result.stderr
    assert not directory.exists()


def test_train_takes_one_value_per_build_parameter(tmp_path):
    result = staticnet("train", model_file(tmp_path), "--param", "hidden=3,5")
    assert result.returncode == 2 and "--param hidden: one value, got 2" in result.stderr
    result = staticnet("train", model_file(tmp_path), "--param", "units=3")
    assert result.returncode == 1 and "TypeError: build() got an unexpected keyword argument 'units'" in result.stderr
