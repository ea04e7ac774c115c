import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np, numba, staticnet as sn
    rng = np.random.default_rng(0)
    data = {"x": rng.random((64, 8, 8, 1), np.float32), "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]}
    sn.seed(0)
    x, y = sn.input("x", (None, 8, 8, 1)), sn.input("y", (None, 3))
    h = sn.max_pool2d(sn.conv2d(x, 4, 3, activation="relu", name="c"), 2)
    p = sn.dense(sn.dropout(sn.flatten(h), 0.2), 3, activation="softmax", name="d")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.01))
    net.fit(data, epochs=2, batch_size=16, seed=3, verbose=0)
    print(numba.get_num_threads(), float(np.sum(net.params["c/W"])), float(np.sum(net.params["d/W"])))
""")


def run(threads, tmp_path):
    env = dict(os.environ, STATICNET_NUM_THREADS=str(threads), STATICNET_CACHE=str(tmp_path))
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)


def test_single_thread_gives_the_same_result_as_all_threads(tmp_path):
    one, two = run(1, tmp_path), run(2, tmp_path)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    threads_one, *weights_one = one.stdout.split()
    threads_two, *weights_two = two.stdout.split()
    assert threads_one == "1" and int(threads_two) >= 1
    assert weights_one == weights_two


def test_a_bad_thread_count_is_named(tmp_path):
    result = run("many", tmp_path)
    assert result.returncode != 0 and "STATICNET_NUM_THREADS must be a positive integer, got 'many'" in result.stderr
