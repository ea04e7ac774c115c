import math
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import staticnet as sn
from staticnet.codegen.parallel import PARALLEL_ROWS
from staticnet.threads import (FIRST_PROBE, LONGEST_WAIT, LONGEST_WAIT_CALLS, PROBE_SHARE, SHORTEST_CHUNK,
                               ThreadChooser, chooser_for)

MODELS = textwrap.dedent("""
    import sys
    import numpy as np, numba, staticnet as sn
    from staticnet.codegen.parallel import PARALLEL_ROWS, products_split
    from staticnet.kernels.shuffle import SPLIT_VALUES

    kind, saved = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    sn.seed(1)
    if kind == "dense":  # the issue's Adam MLP, on fewer rows
        rows, batch, shape = 2560, 256, (784,)
        x, y = sn.input("x", (None, 784)), sn.input("y", (None, 10))
        p = sn.dense(sn.dense(x, 100, activation="relu", name="h"), 10, activation="softmax", name="o")
    elif kind == "conv":
        rows, batch, shape = 640, 64, (28, 28, 1)
        x, y = sn.input("x", (None, 28, 28, 1)), sn.input("y", (None, 10))
        h = sn.flatten(sn.max_pool2d(sn.conv2d(x, 8, 3, activation="sigmoid", name="c"), 2))
        p = sn.dense(sn.dense(h, 100, activation="sigmoid", name="h"), 10, activation="softmax", name="o")
    elif kind == "recurrent":
        rows, batch, shape = 640, 64, (20, 16)
        x, y = sn.input("x", (None, 20, 16)), sn.input("y", (None, 10))
        h = sn.flatten(sn.rnn(x, 64, return_sequences=True, name="r"))
        p = sn.dense(sn.dense(h, 100, activation="tanh", name="h"), 10, activation="softmax", name="o")
    else:  # the LSTM's kernels share runs of examples among the threads themselves
        rows, batch, shape = 640, 64, (20, 16)
        x, y = sn.input("x", (None, 20, 16)), sn.input("y", (None, 10))
        p = sn.dense(sn.lstm(x, 64, name="l"), 10, activation="softmax", name="o")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.001))
    plan = net.steps["train"].plan
    if kind == "lstm":
        from staticnet.kernels.lstm import row_parts
        assert row_parts(batch) > 1, "the batch is not cut into runs of examples"
    else:
        assert products_split(plan, batch), "no product of the step is large enough to be split"
    assert kind != "conv" or (plan.segments and batch >= PARALLEL_ROWS), "no batch segment shared among threads"
    assert kind != "dense" or batch * 784 >= SPLIT_VALUES, "the batch's rows are not gathered by the threads"
    data = {"x": rng.random((rows, *shape), np.float32), "y": np.eye(10, dtype=np.float32)[rng.integers(0, 10, rows)]}
    net.fit(data, epochs=1, batch_size=batch, seed=1, verbose=0)
    np.savez(saved, threads=numba.get_num_threads(), **{k.replace("/", "_"): v for k, v in net.params.items()})
""")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The compile cache the processes share: the environment's, or one for this module's processes."""
    return os.environ.get("STATICNET_CACHE") or str(tmp_path_factory.mktemp("cache"))


def run(threads, tmp_path, cache, kind="dense"):
    """Train `kind` in a fresh process on `threads` threads (Numba's pool holds 3, more than the cores here)."""
    # the allocator gives freed pages back at once (a Dask nanny sets this too), so that compiled code reading
    # memory it has freed crashes here rather than passing unseen; a crash prints where it happened
    env = dict(os.environ, STATICNET_NUM_THREADS=str(threads), NUMBA_NUM_THREADS="3", STATICNET_CACHE=cache,
               MALLOC_TRIM_THRESHOLD_="65536", PYTHONFAULTHANDLER="1")
    saved = tmp_path / f"{kind}-{threads}.npz"
    return subprocess.run([sys.executable, "-c", MODELS, kind, str(saved)], capture_output=True, text=True,
                          env=env), saved


@pytest.mark.parametrize("kind", ["dense", "conv", "recurrent", "lstm"])
def test_one_two_and_three_threads_train_the_same_bits(kind, tmp_path, cache):
    """The README's promise: the thread setting does not change the results.  Each model's step has products
    large enough to be cut into parts (the conv model's also a batch segment, the dense model's gather of the
    batch's rows too), or a kernel that cuts its batch itself (the LSTM's): while the cut followed the thread
    setting (before issue 28), 1, 2 and 3 threads trained weights that differed in the last bits."""
    weights = {}
    for threads in (1, 2, 3):
        result, saved = run(threads, tmp_path, cache, kind)
        assert result.returncode == 0, result.stderr
        with np.load(saved) as arrays:
            weights[threads] = dict(arrays)
        assert weights[threads].pop("threads") == threads
    assert weights[1].keys() == weights[2].keys() == weights[3].keys()
    for name, one in weights[1].items():
        assert one.dtype == np.float32 and np.isfinite(one).all()
        for threads in (2, 3):
            np.testing.assert_array_equal(weights[threads][name], one, err_msg=f"{name} on {threads} threads")


def test_a_bad_thread_count_is_named(tmp_path, cache):
    result, _ = run("many", tmp_path, cache)
    assert result.returncode != 0 and "STATICNET_NUM_THREADS must be a positive integer, got 'many'" in result.stderr


def run_chooser(chooser, seconds_per_row, chunks, rows=100):
    """Feed the chooser `chunks` chunks timed by the table; the counts it ran, in order."""
    ran = []
    for _ in range(chunks):
        count = chooser.choose()
        chooser.record(count, seconds_per_row[count] * rows, rows)
        ran.append(count)
    return ran


def test_the_chooser_runs_the_faster_count_and_follows_a_change():
    chooser = ThreadChooser(2)
    ran = run_chooser(chooser, {2: 1.0, 1: 1.2}, 200)
    assert ran[:4] == [2, 2, 1, 1]  # each count timed twice first
    assert ran[4:].count(2) >= 0.95 * len(ran[4:])  # the other is probed ever more rarely
    ran = run_chooser(chooser, {2: 1.9, 1: 1.4}, 100)  # the machine changed: one thread is faster now
    assert ran.index(1) <= LONGEST_WAIT + 1
    assert ran[-50:].count(1) >= 45


def test_a_count_that_lost_by_far_is_timed_again_later_than_a_close_one():
    far, close = ThreadChooser(2), ThreadChooser(2)
    ran_far = run_chooser(far, {2: 1.0, 1: 2.0}, 60)
    ran_close = run_chooser(close, {2: 1.0, 1: 1.04}, 60)
    assert ran_far[:4] == [2, 2, 1, 2] and ran_close[:4] == [2, 2, 1, 1]  # a clear loss is timed once
    # the first verdict is checked once, FIRST_PROBE chunks on, however clear; then the wait follows the loss
    far_probe, close_probe = 3 + ran_far[3:].index(1), 4 + ran_close[4:].index(1)
    assert far_probe - 3 == FIRST_PROBE and close_probe - 4 == FIRST_PROBE
    assert ran_far[far_probe + 1:].index(1) == LONGEST_WAIT and ran_close[close_probe + 1:].index(1) == 2 * FIRST_PROBE
    assert ran_far.count(1) == 3  # in 60 chunks: the first timing, the check, one probe


def test_one_slow_probe_does_not_switch():
    chooser = ThreadChooser(2)
    run_chooser(chooser, {2: 1.0, 1: 1.4}, 20)
    assert chooser.choose() == 2
    chooser.record(1, 10.0, 10)  # timed on one thread, much slower: stays on two
    assert chooser.current == 2 and chooser.wait > FIRST_PROBE


def test_the_count_not_in_use_is_timed_on_a_share_of_a_chunk():
    chooser = ThreadChooser(2)
    assert (chooser.steps(2, 12, 10), chooser.steps(1, 12, 10), chooser.steps(1, 2, 10)) == (12, 12 // PROBE_SHARE, 1)
    run_chooser(chooser, {2: 1.9, 1: 1.0}, 10)  # one thread is faster: it runs the chunks now
    assert chooser.current == 1 and (chooser.steps(1, 12, 10), chooser.steps(2, 12, 10)) == (12, 12 // PROBE_SHARE)


def test_once_timed_a_chunk_of_quick_steps_lasts_the_shortest_chunk():
    """Steps of 1 ms at 100 rows each (10 us a row): a chunk of 2 steps would return to Python every 2 ms, so it
    grows to SHORTEST_CHUNK; the probe of the other count stays a share of it; slow steps keep chunk_steps."""
    chooser = ThreadChooser(2)
    run_chooser(chooser, {2: 1e-5, 1: 2e-5}, 6)
    assert chooser.current == 2
    grown = math.ceil(SHORTEST_CHUNK / 1e-3)
    assert (chooser.steps(2, 2, 100), chooser.steps(1, 2, 100)) == (grown, grown // PROBE_SHARE)
    assert chooser.steps(2, 2, 100_000) == 2  # a second a step: already longer than the shortest chunk


def test_the_chooser_is_off_when_the_count_is_fixed(monkeypatch):
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 2)
    monkeypatch.delenv("STATICNET_NUM_THREADS", raising=False)
    chooser = chooser_for(("model", 10))
    assert chooser is not None and chooser is chooser_for(("model", 10)) and chooser is not chooser_for(("model", 11))
    monkeypatch.setenv("STATICNET_NUM_THREADS", "2")
    assert chooser_for(("model", 10)) is None
    monkeypatch.setenv("STATICNET_NUM_THREADS", "1")
    assert chooser_for(("model", 10)) is None


def small_conv_net(rows):
    """A small CNN whose steps at batch PARALLEL_ROWS split rows among the threads (so the chooser times counts),
    and `rows` rows of data for it."""
    sn.seed(0)
    x, y = sn.input("x", (None, 8, 8, 1)), sn.input("y", (None, 3))
    p = sn.dense(sn.flatten(sn.max_pool2d(sn.conv2d(x, 4, 3, activation="relu"), 2)), 3, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    rng = np.random.default_rng(0)
    return net, {"x": rng.random((rows, 8, 8, 1), np.float32),
                 "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, rows)]}



@pytest.mark.parametrize("shortest, chunks", [(0.0, 50), (1e9, 2)])
def test_on_a_fixed_count_a_chunk_grows_to_the_shortest_chunk_after_the_first(monkeypatch, shortest, chunks):
    """With the count fixed (no chooser) and a progress bar, an epoch of 450 steps starts with a fiftieth of it
    (9 steps); the chunks after it last SHORTEST_CHUNK at the first one's speed: never shorter than a fiftieth,
    and with a shortest chunk longer than any epoch, the whole rest in one."""
    monkeypatch.setenv("STATICNET_NUM_THREADS", "1")
    monkeypatch.setattr("staticnet.threads.SHORTEST_CHUNK", shortest)
    from staticnet.model import Model
    runs, train_rows = [], Model._train_rows

    def logged_rows(self, arrays, order, epoch_seed, start, stop, batch_size, count):
        runs.append((start, stop))
        return train_rows(self, arrays, order, epoch_seed, start, stop, batch_size, count)
    monkeypatch.setattr(Model, "_train_rows", logged_rows)
    net, data = small_conv_net(450)
    net.fit(data, epochs=1, batch_size=1, seed=0, verbose=1)
    assert runs[0] == (0, 9) and len(runs) == chunks and runs[-1][1] == 450

@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="choosing between thread counts needs two cores")
def test_fit_times_both_counts_and_gives_the_thread_count_back(monkeypatch, capsys):
    monkeypatch.delenv("STATICNET_NUM_THREADS", raising=False)
    net, data = small_conv_net(400)
    before = numba.get_num_threads()
    history = net.fit(data, epochs=2, batch_size=PARALLEL_ROWS, seed=0, verbose=1)
    assert numba.get_num_threads() == before
    chooser = chooser_for((net.generated.path, PARALLEL_ROWS))
    assert all(len(times) >= 2 for times in chooser.recent.values())  # both counts were timed
    assert all(record["threads"] in chooser.options for record in history.epochs)
    assert history["loss"][-1] < history["loss"][0]
    shown = capsys.readouterr().err
    assert all(f" s  {record['threads']} thread" in shown for record in history.epochs)  # on each epoch's line


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="choosing between thread counts needs two cores")
def test_the_first_step_on_several_threads_runs_untimed(monkeypatch):
    """Waking threads is not their speed: every chunk the chooser times on several threads follows a step run
    on the same count in the same epoch, and that step (WARM_UP_STEPS) is a chunk of its own, never timed; one
    thread, with none to wake, is timed from its first step."""
    monkeypatch.delenv("STATICNET_NUM_THREADS", raising=False)
    from staticnet.model import Model
    from staticnet.threads import WARM_UP_STEPS
    runs, timed = [], []
    train_rows, record = Model._train_rows, ThreadChooser.record

    def logged_rows(self, arrays, order, epoch_seed, start, stop, batch_size, count):
        runs.append((start, stop, count))
        return train_rows(self, arrays, order, epoch_seed, start, stop, batch_size, count)

    def logged_record(self, option, seconds, rows):
        timed.append((len(runs) - 1, option, rows))
        return record(self, option, seconds, rows)
    monkeypatch.setattr(Model, "_train_rows", logged_rows)
    monkeypatch.setattr(ThreadChooser, "record", logged_record)
    monkeypatch.setattr("staticnet.threads._choosers", {})  # a new chooser: not one another test left settled
    net, data = small_conv_net(900)
    net.fit(data, epochs=2, batch_size=PARALLEL_ROWS, seed=0, verbose=0)
    assert {option for _, option, _ in timed} == {1, numba.config.NUMBA_NUM_THREADS}  # both counts were timed
    untimed = set(range(len(runs))) - {run for run, _, _ in timed}
    for run, option, rows in timed:
        start, stop, count = runs[run]
        assert count == option and stop - start == rows
        if count > 1:
            before = runs[run - 1]
            assert run > 0 and before[2] == count and before[1] == start, "timed right after another count"
    assert any(runs[run - 1][2] > 1 for run, option, _ in timed if option == 1 and run > 0)  # a probe of one thread
    for run in untimed:
        start, stop, count = runs[run]
        assert stop - start <= WARM_UP_STEPS * PARALLEL_ROWS and count > 1
        assert start == 0 or runs[run - 1][2] != count


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads to compare with one")
def test_results_do_not_depend_on_how_many_threads_run_them(monkeypatch):
    """Work is cut by the shapes alone, never by how many threads run it: the thread chooser switching counts
    within a process, or a run resumed on another count, gives the same bits.  A batch of 128 cuts
    the products among the threads; the convolution's rows run in tiles shared among them."""
    monkeypatch.delenv("STATICNET_NUM_THREADS", raising=False)
    monkeypatch.setattr("staticnet.model.threads.chooser_for", lambda key: None)
    rng = np.random.default_rng(0)
    images = rng.random((300, 12, 12, 1), np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 300)]
    results = []
    for count in (1, 2):
        sn.seed(0)
        x, y = sn.input("x", (None, 12, 12, 1)), sn.input("y", (None, 10))
        h = sn.flatten(sn.max_pool2d(sn.conv2d(x, 8, 3, activation="sigmoid", name="c"), 2))
        p = sn.dense(sn.dense(h, 600, activation="relu", name="h"), 10, activation="softmax", name="o")
        net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.01))
        previous = numba.get_num_threads()
        numba.set_num_threads(count)
        try:
            net.fit({"x": images, "y": labels}, epochs=2, batch_size=128, seed=1, verbose=0)
        finally:
            numba.set_num_threads(previous)
        results.append({name: w.copy() for name, w in net.params.items()})
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)


def test_a_chooser_of_calls_waits_longer_before_probing_a_count_that_lost_by_far():
    calls = ThreadChooser(2, longest_wait=LONGEST_WAIT_CALLS)
    ran = run_chooser(calls, {2: 1.0, 1: 40.0}, 2000)  # a split step while the other core is busy
    check = 3 + ran[3:].index(1)  # the first verdict checked once, as in fit
    assert ran[:4] == [2, 2, 1, 2] and check - 3 == FIRST_PROBE and ran[check + 1:].index(1) == LONGEST_WAIT_CALLS


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="choosing between thread counts needs two cores")
def test_a_function_chooses_its_thread_count_call_by_call_as_fit_does(monkeypatch):
    """sn.function's products large enough to be cut among the threads run on the count its chooser finds
    faster; the cut, and so every bit of the result, is the same on either count."""
    monkeypatch.delenv("STATICNET_NUM_THREADS", raising=False)
    rng = np.random.default_rng(0)
    x = sn.input("x", (None, 784))
    w = sn.param("w", value=rng.normal(0, 0.03, (784, 400)).astype(np.float32))
    fn = sn.function([x], sn.sigmoid(x @ w))
    xs = rng.random((16, 784), np.float32)  # 16 x 784 x 400 multiply-adds: the product is cut in two
    results = [fn(xs) for _ in range(6)]
    chooser = chooser_for((fn.generated.path, 16), LONGEST_WAIT_CALLS)
    assert chooser is not None and all(len(times) >= 1 for times in chooser.recent.values())  # both were timed
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
    expected = 1 / (1 + np.exp(-(xs.astype(np.float64) @ w.value)))
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)
    step = fn.bind(xs.astype(np.float64))  # conformed to a float32 copy once, which the step's arguments read
    clobbers = [np.full((16, 784), np.nan, np.float32) for _ in range(8)]  # would take over memory freed under it
    from staticnet.kernels import blas
    before = blas.set_threads_local(3)
    for _ in range(4):
        step()
    assert blas.set_threads_local(before) == 3  # a bound step gives BLAS its thread count back, as a call does
    np.testing.assert_array_equal(fn.workspace.array(fn.program.outputs[0], 16), results[0])
    assert all(np.isnan(c).all() for c in clobbers)
    assert fn._chooser(1) is None  # a batch of one row gives the threads no work


def test_a_function_with_the_thread_count_fixed_has_no_chooser(monkeypatch):
    monkeypatch.setenv("STATICNET_NUM_THREADS", "1")
    x = sn.input("x", (None, 784))
    fn = sn.function([x], sn.dense(x, 400))
    assert fn._chooser(16) is None
