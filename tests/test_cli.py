import os
import subprocess
import sys

import pytest

from tests.conftest import require_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def staticnet(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "staticnet", *args], capture_output=True, text=True, cwd=cwd or ROOT)


def write(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = """import staticnet as sn
x = sn.input("x", (None, 784)); y = sn.input("y", (None, 10))
p = sn.dense(sn.dense(x, 30, activation="sigmoid"), 10, activation="sigmoid")
loss = sn.mse(p, y)
outputs = p
optimizer = sn.SGD(lr=3.0)
"""


def test_compile_prints_the_report_and_writes_source_and_dot(tmp_path):
    model = write(tmp_path, GOOD)
    result = staticnet("compile", model, "--emit", str(tmp_path / "gen"), "--dot", str(tmp_path / "g.dot"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("fuse_elementwise", "gemm + epilogue[add, sigmoid]", "gemm_update", "FLOPs", "parameters: 23,860",
                     "peak workspace:", "compile time:"):
        assert expected in out
    source = (tmp_path / "gen" / "model_generated.py").read_text()
    assert "def train_epoch(" in source and "@njit(cache=True" in source and "model.py:3" in source
    dot = (tmp_path / "g.dot").read_text()
    assert 'cluster_before' in dot and 'cluster_after' in dot and "gemm" in dot


def test_a_mistake_in_the_model_file_is_one_line_exit_1(tmp_path):
    model = write(tmp_path, GOOD.replace("sn.dense(x, 30", "sn.dense(sn.input('img', (None, 28, 28)), 30"))
    result = staticnet("compile", model)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "dense at" in result.stderr and "model.py:3" in result.stderr and "(None, 28, 28)" in result.stderr
    crash = write(tmp_path, "import staticnet as sn\nx = 1 / 0\n", name="crash.py")
    result = staticnet("compile", crash)
    assert result.returncode == 1 and "crash.py:2: ZeroDivisionError" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["compile", "missing.py"], "no such model file: missing.py"),
    (["train", "examples/mnist_mlp.py", "--epochs", "zero"], "expected a positive integer, got 'zero'"),
    (["train", "examples/mnist_mlp.py", "--lr", "-1"], "expected a positive number, got '-1'"),
    (["compile", "examples/mnist_mlp.py", "--bogus"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "missing command"),
])
def test_bad_arguments_are_one_line_exit_2(args, message):
    result = staticnet(*args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_train_on_mnist_reports_test_accuracy(tmp_path):
    require_mnist()
    saved = str(tmp_path / "mlp.snet")
    result = staticnet("train", "examples/mnist_mlp.py", "--epochs", "1", "--save", saved, "--seed", "1")
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("accuracy ")[1].split()[0])
    assert accuracy > 0.85 and os.path.exists(saved)
    bad = staticnet("train", "examples/mnist_mlp.py", "--data", str(tmp_path))
    assert bad.returncode == 1 and "MNIST needs the four files" in bad.stderr


def test_every_option_says_what_it_does():
    from staticnet.cli import build_parser
    commands = next(a for a in build_parser()._actions if a.choices and isinstance(a.choices, dict)).choices
    for name, command in commands.items():
        if name == "bench":  # its own parser, in bench/
            continue
        for action in command._actions:
            assert action.help, f"staticnet {name} {action.dest} has no help text"
