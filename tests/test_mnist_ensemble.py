"""examples/mnist_ensemble.py: the book's ensemble as a search on a slice of MNIST. Its members are the search's
trials (one model each, distinct seeds), a second run trains nothing, and the votes it prints are the book's
Counter.most_common over the members' predictions, computed here from the saved models."""
import collections
import json
import os
import re
import subprocess
import sys

import numpy as np

import staticnet as sn
from tests.conftest import require_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "mnist_ensemble.py")
ROWS = 40


def run_example(*args):
    env = dict(os.environ, STATICNET_NUM_THREADS="1")
    return subprocess.run([sys.executable, EXAMPLE, "--subset", str(ROWS), "--epochs", "1", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)


def plurality_errors(paths, test):
    """The book's vote: for each image, Counter(the members' classes).most_common(1), ties to the first seen."""
    votes = np.stack([sn.load(path).predict(test).argmax(axis=1) for path in paths])
    chosen = [collections.Counter(column.tolist()).most_common(1)[0][0] for column in votes.T]
    return int((np.array(chosen) != test["y"].argmax(axis=1)).sum())


def test_the_ensemble_is_a_search_of_members_that_vote_as_the_book_does(tmp_path):
    require_mnist()
    directory = str(tmp_path / "team")
    first = run_example("--members", "3", "--workers", "1", "--dir", directory)
    assert first.returncode == 0, first.stderr
    records = [json.load(open(os.path.join(directory, name))) for name in sorted(os.listdir(directory))
               if re.fullmatch(r"trial-\d+\.json", name)]
    assert sorted(r["params"]["member"] for r in records) == [0, 1, 2]
    assert len({r["seed"] for r in records}) == 3  # each member its own seed
    paths = [os.path.join(directory, r["model"]) for r in sorted(records, key=lambda r: r["params"]["member"])]
    test = {k: v[:ROWS] for k, v in sn.data.mnist(flatten=False)[2].items()}
    errors = plurality_errors(paths, test)
    assert f"plurality vote: test accuracy {1 - errors / ROWS:.4f} ({errors} errors in {ROWS})" in first.stdout

    again = run_example("--members", "3", "--workers", "1", "--dir", directory)
    assert again.returncode == 0, again.stderr
    assert "3 finished before" in again.stdout and "training" not in again.stdout
    voted = run_example("--vote", *paths)
    assert voted.returncode == 0, voted.stderr
    assert voted.stdout.splitlines()[-2:] == first.stdout.splitlines()[-2:]  # the same two votes


def test_a_missing_model_to_vote_is_one_line_before_any_work(tmp_path):
    missing = str(tmp_path / "seed9.snet")
    result = run_example("--vote", missing)
    assert result.returncode == 2 and f"--vote: {missing} is not a file" in result.stderr.splitlines()[-1]
