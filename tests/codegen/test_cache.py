"""The compile cache: keyed by what the code computes, shared between models, never trusted blindly."""
import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import staticnet as sn
from staticnet.codegen import cache

MODEL_FILE = textwrap.dedent("""
    import staticnet as sn

    def build(hidden=7):
        x, y = sn.input("x", (None, 5)), sn.input("y", (None, 3))
        p = sn.dense(sn.dense(x, hidden, activation="tanh"), 3, activation="softmax")
        return {"loss": sn.cross_entropy(p, y), "outputs": p, "optimizer": sn.SGD(lr=0.1)}
""")

# Builds the model file given on the command line, compiles its training loop, trains one epoch on fixed data
# and prints what was compiled and what was found compiled.
PROBE = textwrap.dedent("""
    import json, runpy, sys
    import numpy as np
    import staticnet as sn
    sn.seed(0)
    spec = runpy.run_path(sys.argv[1])["build"]()
    net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])
    seconds, cached = net.warm_up(4, ("train",))
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(12, 5)).astype(np.float32), "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]}
    net.fit(data, epochs=1, batch_size=4, seed=0, verbose=0)
    print(json.dumps({"module_found": net.from_cache, "driver_cached": cached,
                      "kernels_compiled": net.generated.report.compiled, "loss": net.history["loss"][0],
                      "weights": sum(float(np.abs(w).sum()) for _, w in net.params.items())}))
""")


def probe(model_path, cache_dir, cwd, **environment):
    env = dict(os.environ, STATICNET_CACHE=str(cache_dir), **environment)
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-c", PROBE, str(model_path)], capture_output=True, text=True, env=env,
                            cwd=str(cwd))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_a_moved_renamed_and_commented_model_file_loads_everything_from_the_cache(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "model.py"
    first.write_text(MODEL_FILE)
    cold, _ = probe(first, tmp_path / "cache", tmp_path / "a")
    assert not cold["module_found"] and not cold["driver_cached"] and cold["kernels_compiled"]
    moved = tmp_path / "b" / "renamed_model.py"
    moved.write_text("# a comment added on top\n\n\n" + MODEL_FILE.replace("\n    def build", "\n    # and here\n\n    def build"))
    warm, err = probe(moved, tmp_path / "cache", tmp_path)  # another directory, another working directory
    assert warm["module_found"] and warm["driver_cached"] and warm["kernels_compiled"] == []
    assert warm["loss"] == cold["loss"] and warm["weights"] == cold["weights"]
    assert "warning" not in err


def test_models_that_differ_only_in_layer_sizes_share_every_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICNET_CACHE", str(tmp_path))
    namespace = {}
    exec(MODEL_FILE, namespace)
    nets = []
    for hidden in (7, 37):
        sn.seed(0)
        spec = namespace["build"](hidden)
        net = sn.compile(spec["loss"], outputs=spec["outputs"], optimizer=spec["optimizer"])
        net.warm_up(4)
        nets.append((net, spec))
        if hidden == 7:
            entries = cache.entries(str(tmp_path))
    assert cache.entries(str(tmp_path)) == entries  # not one new kernel, not even a new driver
    net, spec = nets[1]
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    inputs = [t for t in sn.Graph(spec["outputs"]).inputs]
    reference = sn.function(inputs, spec["outputs"], backend="numpy")(x)
    np.testing.assert_allclose(net.predict({"x": x}), reference, rtol=1e-5, atol=1e-6)


def corrupt_model_entry(cache_dir):
    [path] = glob.glob(os.path.join(cache_dir, "staticnet_model_*.py"))
    with open(path, "a") as f:
        f.write("\n# edited by hand\n")
    return [path]


def truncate_a_kernel(cache_dir):
    path = sorted(glob.glob(os.path.join(cache_dir, "staticnet_loop_*.py")))[0]
    with open(path, "r+") as f:
        f.truncate(os.path.getsize(path) // 2)
    return [path]


def swap_two_kernels(cache_dir):
    """Each file holds the other's code: foreign content under a valid name."""
    a, b = sorted(glob.glob(os.path.join(cache_dir, "staticnet_loop_*.py")))[:2]
    text_a, text_b = open(a).read(), open(b).read()
    open(a, "w").write(text_b)
    open(b, "w").write(text_a)
    return [a, b]


def garbage_compiled_code(cache_dir):
    """Numba's index and data files of every entry replaced by random bytes."""
    rng = np.random.default_rng(0)
    paths = set()
    for path in glob.glob(os.path.join(cache_dir, "__pycache__", "*.nb[ic]")):
        with open(path, "wb") as f:
            f.write(rng.bytes(64))
        paths.add(os.path.join(cache_dir, os.path.basename(path).split(".")[0] + ".py"))
    return sorted(paths)


def empty_files(cache_dir):
    path = sorted(glob.glob(os.path.join(cache_dir, "staticnet_reduce_*.py")) +
                  glob.glob(os.path.join(cache_dir, "staticnet_gather_*.py")))[0]
    open(path, "w").close()
    return [path]


@pytest.mark.parametrize("damage", [corrupt_model_entry, truncate_a_kernel, swap_two_kernels, garbage_compiled_code,
                                    empty_files])
def test_a_damaged_entry_is_recompiled_with_one_warning_naming_it(tmp_path, damage):
    model = tmp_path / "model.py"
    model.write_text(MODEL_FILE)
    clean, _ = probe(model, tmp_path / "cache", tmp_path)
    damaged = damage(str(tmp_path / "cache"))
    again, err = probe(model, tmp_path / "cache", tmp_path)
    warnings = [line for line in err.splitlines() if line.startswith("staticnet: warning:")]
    assert len(warnings) == len(damaged) and all(any(p in w for w in warnings) for p in damaged), err
    assert "Traceback" not in err
    assert (again["loss"], again["weights"]) == (clean["loss"], clean["weights"])
    third, err = probe(model, tmp_path / "cache", tmp_path)  # repaired: quiet again, and found compiled
    assert "warning" not in err and third["kernels_compiled"] == []


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_a_cache_that_cannot_be_used_falls_back_to_one_reused_directory_with_one_warning(tmp_path, where):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    configured = blocker if where == "a file" else blocker / "cache"
    model = tmp_path / "model.py"
    model.write_text(MODEL_FILE)
    temporary = tmp_path / "tmp"  # $TMPDIR, where the fallback goes
    temporary.mkdir()
    for run in range(2):
        result, err = probe(model, configured, tmp_path, TMPDIR=str(temporary))
        warnings = [line for line in err.splitlines() if line.startswith("staticnet: warning:")]
        assert len(warnings) == 1 and str(configured) in warnings[0] and "Traceback" not in err
        assert np.isfinite(result["loss"])
        assert result["module_found"] == (run == 1)  # the second run finds the first's fallback
    assert blocker.read_text() == "not a directory"
    assert [name.startswith("staticnet-cache-") for name in os.listdir(temporary)] == [True]


@contextlib.contextmanager
def read_only(*directories):
    """Directories this process cannot write: by their mode, or for root (whom modes do not stop) by the
    immutable attribute."""
    root = os.geteuid() == 0
    for directory in directories:
        if root:
            subprocess.run(["chattr", "+i", directory], check=True)
        else:
            os.chmod(directory, 0o555)
    try:
        yield
    finally:
        for directory in directories:
            if root:
                subprocess.run(["chattr", "-i", directory], check=True)
            else:
                os.chmod(directory, 0o755)


def test_a_read_only_cache_holding_the_model_is_read_and_new_entries_go_to_one_reused_fallback(tmp_path):
    model = tmp_path / "model.py"
    model.write_text(MODEL_FILE)
    shared = tmp_path / "cache"
    filled, _ = probe(model, shared, tmp_path)
    assert not filled["module_found"] and filled["kernels_compiled"]
    temporary = tmp_path / "tmp"  # $TMPDIR, where the fallback goes
    temporary.mkdir()
    before = sorted(os.listdir(shared))
    with read_only(shared, shared / "__pycache__"):
        for run in range(2):
            result, err = probe(model, shared, tmp_path, TMPDIR=str(temporary))
            warnings = [line for line in err.splitlines() if line.startswith("staticnet: warning:")]
            assert len(warnings) == 1 and str(shared) in warnings[0], err
            assert result["module_found"] and result["driver_cached"] and result["kernels_compiled"] == []
            assert (result["loss"], result["weights"]) == (filled["loss"], filled["weights"])
            assert len(os.listdir(temporary)) == 1  # one fallback, reused by the second run
    assert sorted(os.listdir(shared)) == before


def test_clear_removes_every_entry_and_its_compiled_code(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICNET_CACHE", str(tmp_path))
    x = sn.input("x", (None, 3))
    sn.function([x], sn.tanh(x) * 2.0)(np.ones((2, 3), np.float32))
    count = len(cache.entries())
    assert count >= 2 and cache.size_bytes() > 0  # a driver and its kernel
    assert cache.clear() == count
    assert cache.entries() == [] and glob.glob(str(tmp_path / "__pycache__" / "*")) == []
    shutil.rmtree(tmp_path)


# Empties the cache given on the command line again and again, as fast as it can, until the file named second
# exists; prints how many times.
CLEAR_REPEATEDLY = textwrap.dedent("""
    import os, sys
    from staticnet.codegen import cache
    clears = 0
    while not os.path.exists(sys.argv[2]):
        cache.clear(sys.argv[1])
        clears += 1
    print(clears)
""")


def test_clearing_the_cache_while_other_processes_compile_breaks_none_of_them(tmp_path):
    directory, stop = tmp_path / "cache", tmp_path / "stop"
    directory.mkdir()
    clearing = subprocess.Popen([sys.executable, "-c", CLEAR_REPEATEDLY, str(directory), str(stop)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for hidden in (5, 6, 8):  # each a new driver, and kernels written again after each clear
            model = tmp_path / f"model{hidden}.py"
            model.write_text(MODEL_FILE.replace("hidden=7", f"hidden={hidden}"))
            result, err = probe(model, directory, tmp_path)  # asserts the process succeeded
            assert np.isfinite(result["loss"]) and "Traceback" not in err
    finally:
        stop.touch()
        out, err = clearing.communicate(timeout=120)
    assert clearing.returncode == 0, err
    assert int(out) > 0
