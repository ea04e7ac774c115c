import os
import subprocess
import sys

import numpy as np
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


# ------------------------------------------------------------------ every mistake is one line, before any work

TINY = """import numpy as np
import staticnet as sn
x = sn.input("x", (None, 3)); y = sn.input("y", (None, 2))
p = sn.dense(x, 2, activation="softmax")
loss = sn.cross_entropy(p, y)
outputs = p
optimizer = sn.SGD(lr=0.5)
epochs, batch_size = 1, 4


def data():
    rng = np.random.default_rng(0)

    def part(n):
        return {"x": rng.normal(size=(n, 3)).astype(np.float32), "y": np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]}
    return part(16), part(8), part(8)
"""

CNN_WITHOUT_FLATTEN = """import staticnet as sn
x = sn.input("x", (None, 28, 28, 1)); y = sn.input("y", (None, 10))
p = sn.dense(sn.flatten(sn.max_pool2d(sn.conv2d(x, 4, 5, activation="relu"), 2)), 10, activation="softmax")
loss = sn.cross_entropy(p, y)
outputs = p
"""


def run_main(capsys, *argv):
    """(exit code, stdout, stderr) of `staticnet ARGV` run in this process."""
    from staticnet.cli import main
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("text,argv,code,message", [
    (TINY.replace("loss = sn.cross_entropy(p, y)", "loss = 5"), ["compile", "{model}"], 1,
     "{model}: `loss` must be a scalar tensor (a cost such as sn.mse(p, y)), got int 5"),
    (TINY.replace("loss = sn.cross_entropy(p, y)", "loss = p"), ["train", "{model}"], 1,
     "{model}: `loss` must be a scalar tensor (a cost such as sn.mse(p, y)), got a tensor of shape (None, 2)"),
    (TINY.replace("outputs = p", "outputs = 'p'"), ["check", "{model}"], 1,
     "{model}: `outputs` must be a tensor or a non-empty list of tensors, got str 'p'"),
    (TINY.replace("sn.SGD(lr=0.5)", '"sgd"'), ["train", "{model}"], 1,
     "{model}: `optimizer` must be an optimizer object such as sn.SGD(lr=0.1) or sn.Adam(), got str 'sgd'"),
    (TINY.replace("epochs, batch_size = 1, 4", 'epochs = "ten"'), ["train", "{model}"], 1,
     "{model}: `epochs` must be a positive integer, got str 'ten'"),
    (TINY.replace("epochs, batch_size = 1, 4", "batch_size = 0"), ["train", "{model}"], 1,
     "{model}: `batch_size` must be a positive integer, got int 0"),
    (TINY + "flatten = 'no'\n", ["train", "{model}"], 1, "{model}: `flatten` must be True or False, got str 'no'"),
    (TINY + "metrics = 'accuracy'\n", ["train", "{model}"], 1,
     "{model}: `metrics` must be a list of metric names such as [\"accuracy\"], got str 'accuracy'"),
    (TINY + "data = 'cifar'\n", ["train", "{model}"], 1,
     "{model}: `data` must be \"mnist\" or a function returning (train, validation, test), got str 'cifar'"),
    (TINY + "def build():\n    return {'loss': loss, 'epoch': 3}\n", ["train", "{model}"], 1,
     "{model}: build() returned unknown key 'epoch'; a model file may set loss, outputs, optimizer, epochs, "
     "batch_size, metrics, data, flatten"),
    (TINY + "def build():\n    return 5\n", ["train", "{model}"], 1,
     "{model}: build() must return a dict of model-file keys, got int 5"),
    (TINY.replace("    return part(16), part(8), part(8)", "    return part(16)"), ["train", "{model}"], 1,
     "{model}: data() must return (train, validation, test), got a dict"),
    (TINY.replace("    return part(16), part(8), part(8)", "    return part(16), part(8)"), ["train", "{model}"], 1,
     "{model}: data() must return (train, validation, test), got a tuple of 2"),
    (TINY.replace("    rng = np.random.default_rng(0)", "    raise OSError('the data server is down')"),
     ["train", "{model}"], 1, "{model}:12: OSError: the data server is down"),
    (TINY.replace("loss = sn.cross_entropy(p, y)", "loss = sn.sum(x)"), ["compile", "{model}"], 1,
     "GraphError: compile at {model}: the loss depends on no parameters: nothing to train"),
    (CNN_WITHOUT_FLATTEN, ["train", "{model}"], 1,
     "{model}: input 'x' takes images (None, 28, 28, 1), but MNIST is loaded flat, (n, 784): set `flatten = False` "
     "in the model file"),
    (GOOD + "flatten = False\n", ["train", "{model}"], 1,
     "{model}: input 'x' takes rows of 784, but `flatten = False` loads MNIST as images (n, 28, 28, 1): remove it"),
    (TINY, ["compile", "{model}", "--emit", "{tmp}/afile"], 2, "--emit {tmp}/afile: is a file, not a directory"),
    (TINY, ["compile", "{model}", "--emit", "/sys/generated"], 2,
     "--emit /sys/generated: cannot write in the directory /sys (Permission denied)"),
    (TINY, ["compile", "{model}", "--dot", "{tmp}/missing/g.dot"], 2,
     "--dot {tmp}/missing/g.dot: the directory {tmp}/missing does not exist"),
    (TINY, ["compile", "{model}", "--dot", "{tmp}"], 2, "--dot {tmp}: is a directory; name a file in it"),
    (TINY, ["train", "{model}", "--save", "{tmp}/missing/m.snet"], 2,
     "--save {tmp}/missing/m.snet: the directory {tmp}/missing does not exist"),
    (TINY, ["train", "{model}", "--save", "{tmp}"], 2, "--save {tmp}: is a directory; name a file in it"),
    (TINY, ["train", "{model}", "--plot", "{tmp}/missing/curves.png"], 2,
     "--plot {tmp}/missing/curves.png: the directory {tmp}/missing does not exist"),
    (TINY, ["train", "{model}", "--plot", "{tmp}"], 2, "--plot {tmp}: is a directory; name a file in it"),
    (TINY, ["train", "{model}", "--save", "{model}"], 2,
     "--save {model}: is the same file as the model file {model}; name another file"),
    (TINY, ["train", "{model}", "--save", ""], 2, "--save '': is empty; name a file"),
    (TINY, ["train", "{model}", "--save", "/sys/m.snet"], 2,
     "--save /sys/m.snet: cannot write in the directory /sys (Permission denied)"),
    (TINY, ["train", "{model}", "--plot", "{model}"], 2,
     "--plot {model}: is the same file as the model file {model}; name another file"),
    (TINY, ["train", "{model}", "--save", "{tmp}/m.snet", "--plot", "{tmp}/m.snet"], 2,
     "--plot {tmp}/m.snet: is the same file as --save {tmp}/m.snet; name another file"),
    (TINY, ["train", "{model}", "--resume", "{tmp}/afile", "--plot", "{tmp}/afile"], 2,
     "--plot {tmp}/afile: is the same file as --resume {tmp}/afile; name another file"),
    (TINY, ["compile", "{model}", "--dot", "{model}"], 2,
     "--dot {model}: is the same file as the model file {model}; name another file"),
    (TINY, ["export", "{tmp}/afile", "{tmp}/afile"], 2,
     "output {tmp}/afile: is the same file as the model {tmp}/afile; name another file"),
    (TINY, ["train", "{model}", "--resume", "{tmp}/none.snet"], 2, "--resume {tmp}/none.snet: no such file"),
    (TINY, ["train", "{model}", "--resume", "{tmp}/afile"], 1,
     "{tmp}/afile: not a staticnet model file, or truncated or corrupted (not a readable zip archive: File is not "
     "a zip file)"),
    (TINY, ["train", "{model}", "--seed", "-5"], 2, "argument --seed: expected an integer >= 0, got '-5'"),
    (TINY.replace('p = sn.dense(x, 2, activation="softmax")', 'p = sn.softmax(x @ sn.param("W", (3, 2)))'),
     ["train", "{model}", "--track-speed"], 2, "--track-speed: {model} has no layer with a bias (a parameter named "
     "'<layer>/b', as sn.dense makes), so there is no speed of learning to track"),
    (TINY, ["train", "{model}", "--lr", "inf"], 2, "argument --lr: expected a positive number, got 'inf'"),
    (TINY, ["train", "{model}", "--optimizer", "sdg"], 2,
     "unknown optimizer 'sdg'; did you mean 'sgd'? choose from adagrad, adam, adamw, rmsprop, sgd"),
    (TINY.replace("optimizer = ", "optimizer = sn.SGD(lr=-1) or "), ["train", "{model}"], 1,
     "ArgumentError: SGD at {model}:7: lr must be a finite number > 0, got -1"),
])
def test_each_mistake_is_one_line_and_an_exit_code(tmp_path, capsys, text, argv, code, message):
    model = write(tmp_path, text)
    (tmp_path / "afile").write_text("not a directory, not a model")
    fill = {"model": model, "tmp": tmp_path}
    result = run_main(capsys, *[a.format(**fill) for a in argv])
    assert result[::2] == (code, f"staticnet: error: {message.format(**fill)}\n")


def test_an_output_reached_through_a_link_or_another_spelling_of_its_input_is_refused(tmp_path, capsys):
    model = write(tmp_path, TINY)
    link = tmp_path / "link.py"
    link.symlink_to(model)
    spelled = str(tmp_path / "sub" / ".." / "model.py")
    (tmp_path / "sub").mkdir()
    for output in (str(link), spelled):
        code, out, err = run_main(capsys, "train", model, "--save", output)
        assert (code, out) == (2, "")
        assert err == f"staticnet: error: --save {output}: is the same file as the model file {model}; name another file\n"
    assert open(model).read() == TINY


def test_a_diverging_run_is_the_error_in_a_few_lines_not_a_traceback(tmp_path):
    linear = TINY.replace('p = sn.dense(x, 2, activation="softmax")', "p = sn.dense(x, 2)").replace(
        "sn.cross_entropy(p, y)", "sn.mse(p, y)") + "metrics = []\n"
    result = staticnet("train", write(tmp_path, linear), "--lr", "1e30", "--epochs", "3")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = result.stderr[result.stderr.index("staticnet: error: "):]
    assert error.startswith("staticnet: error: fit: training diverged in epoch 1") and len(error.splitlines()) <= 3


@pytest.mark.parametrize("command", [["check"], ["explain"], ["compile"], ["train"], ["search", "--grid", "lr=0.1"]])
def test_a_file_that_is_not_python_is_named_as_such(tmp_path, capsys, command):
    saved = tmp_path / "m.snet"
    assert run_main(capsys, "train", write(tmp_path, TINY), "--save", saved)[0] == 0
    binary = tmp_path / "noise.py"
    binary.write_bytes(bytes(range(256)))
    for path, kind in ((saved, "it is a zip archive (a saved model?"), (binary, "it holds binary data")):
        code, out, err = run_main(capsys, command[0], path, *command[1:])
        assert (code, out) == (1, "")
        assert err.startswith(f"staticnet: error: {path}: not a Python model file: {kind}") and err.count("\n") == 1


def test_cache_refuses_a_cache_path_that_is_a_file_naming_the_variable(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a cache")
    monkeypatch.setenv("STATICNET_CACHE", str(blocker))
    for argv in (["cache", "--clear"], ["cache"]):
        assert run_main(capsys, *argv) == (2, "", f"staticnet: error: STATICNET_CACHE={blocker} is not a directory; "
                                                  "point STATICNET_CACHE at a directory\n")
    assert blocker.read_text() == "not a cache"


def test_cache_lists_the_product_choices_of_this_machine_and_clear_removes_them(tmp_path, capsys, monkeypatch):
    from staticnet.codegen import product_choice
    monkeypatch.setenv("STATICNET_CACHE", str(tmp_path))
    monkeypatch.setattr(product_choice, "_stored", None)
    monkeypatch.delenv(product_choice.ENVIRONMENT, raising=False)
    product_choice._remember({"10x100x784 NN =": "axpy", "784x100x10 TN +": "blas"})
    code, out, _ = run_main(capsys, "cache")
    assert code == 0 and "2 product shapes timed" in out and product_choice.machine()["cpu"] in out
    assert out.splitlines()[-2:] == [f"  {'10x100x784 NN =':<24} axpy", f"  {'784x100x10 TN +':<24} blas"]
    assert run_main(capsys, "cache", "--clear")[0] == 0
    assert not os.listdir(tmp_path) or not [f for f in os.listdir(tmp_path) if f.endswith(".json")]
    assert "0 product shapes timed" in run_main(capsys, "cache")[1]


@pytest.mark.parametrize("value", ["0", "abc", "-2"])
def test_a_bad_thread_count_is_one_line_exit_2(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setenv("STATICNET_NUM_THREADS", value)
    code, _, err = run_main(capsys, "compile", write(tmp_path, TINY))
    assert (code, err) == (2, f"staticnet: error: STATICNET_NUM_THREADS must be a positive integer, got {value!r}\n")


def console_script(*args, env=None):
    """The installed `staticnet` console script, run as a user runs it."""
    script = os.path.join(os.path.dirname(sys.executable), "staticnet")
    return subprocess.run([script, *args], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})


def test_the_console_script_reports_mistakes_in_one_line_naming_the_model_file(tmp_path):
    no_parameters = write(tmp_path, TINY.replace("loss = sn.cross_entropy(p, y)", "loss = sn.sum(x)"))
    result = console_script("compile", no_parameters)
    assert (result.returncode, result.stderr) == (1, f"staticnet: error: GraphError: compile at {no_parameters}: the "
                                                     "loss depends on no parameters: nothing to train\n")
    loss_is_five = write(tmp_path, TINY.replace("loss = sn.cross_entropy(p, y)", "loss = 5"), name="five.py")
    result = console_script("compile", loss_is_five)
    assert (result.returncode, result.stderr) == (
        1, f"staticnet: error: {loss_is_five}: `loss` must be a scalar tensor (a cost such as sn.mse(p, y)), got int 5\n")
    result = console_script("train", loss_is_five, env={"STATICNET_NUM_THREADS": "0"})
    assert (result.returncode, result.stderr) == (2, "staticnet: error: STATICNET_NUM_THREADS must be a positive "
                                                     "integer, got '0'\n")


def test_train_says_which_optimizer_and_rate_in_its_first_line(tmp_path, capsys):
    model = write(tmp_path, TINY)
    code, out, err = run_main(capsys, "train", model, "--optimizer", "adam")
    assert code == 0, err
    assert out.splitlines()[0] == f"training {model} with Adam, lr 0.001 (Adam's default)"


MSE_L2 = TINY.replace("loss = sn.cross_entropy(p, y)", "loss = sn.mse(p, y) + sn.l2(0.1, 16)")


@pytest.mark.parametrize("text", [TINY, MSE_L2], ids=["cross_entropy", "mse + l2"])
def test_resume_continues_a_saved_run_exactly(tmp_path, capsys, monkeypatch, text):
    import staticnet as sn
    monkeypatch.setenv("STATICNET_NUM_THREADS", "1")
    model = write(tmp_path, text)
    straight, first, resumed = (str(tmp_path / name) for name in ("straight.snet", "first.snet", "resumed.snet"))
    assert run_main(capsys, "train", model, "--epochs", "3", "--save", straight)[0] == 0
    assert run_main(capsys, "train", model, "--epochs", "1", "--save", first)[0] == 0
    code, _, err = run_main(capsys, "train", model, "--epochs", "3", "--resume", first, "--save", resumed)
    assert code == 0, err
    a, b = sn.load(straight), sn.load(resumed)
    assert b.epochs_done == 3 and b.history["loss"] == a.history["loss"]
    for name in a.params:
        np.testing.assert_array_equal(b.params[name], a.params[name])


def test_resume_refuses_the_checkpoint_of_another_model(tmp_path, capsys):
    model, first = write(tmp_path, TINY), str(tmp_path / "first.snet")
    assert run_main(capsys, "train", model, "--epochs", "1", "--save", first)[0] == 0
    other = write(tmp_path, TINY.replace("sn.dense(x, 2,", "sn.dense(x, 2, name='out',"), name="other.py")
    code, _, err = run_main(capsys, "train", other, "--resume", first)
    assert (code, err) == (1, f"staticnet: error: {first}: the checkpoint was saved from another model: its graph has "
                              "8 nodes, this model's 8; node 1 is param 'dense1/W' (3, 2) float32 in the checkpoint, "
                              "param 'out/W' (3, 2) float32 here\n")


# ------------------------------------------------------------------ what a model file may set is documented

def test_every_model_file_key_and_the_data_shapes_are_documented(capsys):
    from staticnet.cli import build_parser
    from staticnet.model_file import MODEL_FILE_KEYS
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = capsys.readouterr().out
    readme = open(os.path.join(ROOT, "README.md")).read()
    for text in (help_text, readme):
        for key in MODEL_FILE_KEYS + ("build()", "(n, 784) float32", "(n, 28, 28, 1)", "one-hot (n, 10)", "(n,) int64"):
            assert key in text, key


def test_track_speed_records_the_speeds_and_widens_the_plot_by_their_panel(tmp_path, capsys):
    import matplotlib  # noqa: F401  (part of .[dev]: missing, this test fails, never skips)
    import struct

    import staticnet as sn
    model = write(tmp_path, TINY.replace("p = sn.dense(x, 2,", "p = sn.dense(sn.dense(x, 4), 2,"))
    widths = {}
    for flags in ([], ["--track-speed"]):
        plot, saved = str(tmp_path / f"curves{len(flags)}.png"), str(tmp_path / f"net{len(flags)}.snet")
        code, _, err = run_main(capsys, "train", model, "--epochs", "2", "--plot", plot, "--save", saved, *flags)
        assert code == 0, err
        with open(plot, "rb") as f:
            widths[bool(flags)] = struct.unpack(">I", f.read(24)[16:20])[0]  # the PNG header's width
        tracked = [k for k in sn.load(saved).history.history if k.startswith("learning_speed/")]
        assert tracked == (["learning_speed/dense1", "learning_speed/dense2"] if flags else [])
    assert (widths[False], widths[True]) == (1100, 1650)  # two panels of 5 inches at 110 dpi, then three
