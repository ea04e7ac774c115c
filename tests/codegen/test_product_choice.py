import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import staticnet as sn
from staticnet.codegen import product_choice
from staticnet.codegen.parallel import product_calls
from staticnet.codegen.product_choice import parse_shape, shape_text
from staticnet.errors import DataError
from staticnet.kernels import choice


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty compile cache of this test's own, its store read afresh, and the table emptied after."""
    monkeypatch.setenv("STATICNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(product_choice.ENVIRONMENT, raising=False)
    monkeypatch.setattr(product_choice, "_stored", None)
    yield tmp_path / "cache"
    choice.install({}, choice.BY_RULE)


def mlp(optimizer=None, hidden=100):
    sn.seed(0)
    x, y = sn.input("x", (None, 784)), sn.input("y", (None, 10))
    p = sn.dense(sn.dense(x, hidden, activation="sigmoid"), 10, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=optimizer or sn.SGD(lr=0.1))


def test_the_products_of_an_sgd_step_as_the_kernels_see_them():
    """784-100-10 with SGD, written out by hand: forward x @ W1 and h @ W2, the input gradient d2 @ W2.T, and
    the two weight updates fused into BLAS-style W += x.T @ d (beta kept)."""
    plan = mlp().steps["train"].plan
    assert product_calls(plan, 10) == {(10, 100, 784, False, False, True), (10, 10, 100, False, False, True),
                                       (10, 100, 10, False, True, True), (784, 100, 10, True, False, False),
                                       (100, 10, 10, True, False, False)}
    # at 1024 rows: x @ W1 (80.3M multiply-adds: 6 chunks, and 6 more per 96M) cut by rows, 1024 into chunks of
    # 170 or 171, and W1's update (as large) by rows of W1, 784 into 130 or 131; the others run whole
    calls = product_calls(plan, 1024)
    assert {(170, 100, 784, False, False, True), (171, 100, 784, False, False, True),
            (130, 100, 1024, True, False, False), (131, 100, 1024, True, False, False)} <= calls
    assert (1024, 10, 100, False, False, True) in calls and not any(c[:3] == (1024, 100, 784) for c in calls)


def test_products_inside_a_batch_segment_run_on_tiles_of_rows():
    sn.seed(0)
    x, y = sn.input("x", (None, 12, 12, 1)), sn.input("y", (None, 10))
    p = sn.dense(sn.flatten(sn.max_pool2d(sn.conv2d(x, 20, 5, activation="relu"), 2)), 10, activation="softmax")
    plan = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1)).steps["train"].plan
    assert plan.segments
    calls = product_calls(plan, 20)  # tiles of 8 images and the 4 left over: 64 output positions each
    assert (8 * 64, 20, 25, False, False, True) in calls and (4 * 64, 20, 25, False, False, True) in calls
    assert not any(c[0] == 20 * 64 for c in calls)


def test_shape_text_round_trips_and_rejects_what_is_not_a_shape():
    shape = (784, 100, 10, True, False, False)
    assert shape_text(shape) == "784x100x10 TN +" and parse_shape(shape_text(shape)) == shape
    for text in ("", "1x2 NN =", "0x1x1 NN =", "1x2x3 NX =", "1x2x3 NN ?", "1x2x3  NN =", "axbxc NN ="):
        assert parse_shape(text) is None


def test_measure_picks_a_candidate_that_fits_and_blas_when_none_else_does():
    assert product_choice.measure((10, 4, 100, False, False, True))[0] == choice.BLAS  # 4 columns: BLAS only
    best, seconds = product_choice.measure((10, 100, 784, False, False, True))
    axpy_forms = {choice.AXPY} | ({choice.WIDE_AXPY} if choice.HAS_WIDE else set())  # wide only with AVX-512
    assert best in {choice.BLAS} | axpy_forms and set(seconds) == {choice.BLAS} | axpy_forms
    assert all(0 < s < 1 for s in seconds.values())
    best, seconds = product_choice.measure((10, 100, 10, False, True, True))
    assert set(seconds) == {choice.BLAS, choice.DOT}


def test_a_microkernel_must_beat_blas_by_the_margin(monkeypatch):
    """Timings within MARGIN of BLAS's keep BLAS; a clear win takes the microkernel."""
    for microkernel_share, expected in ((1 - product_choice.MARGIN / 2, choice.BLAS), (0.5, choice.AXPY)):
        per_call = {choice.BLAS: 1e-4, choice.AXPY: 1e-4 * microkernel_share, choice.WIDE_AXPY: 2e-4}
        now = {"t": 0.0}

        def fake_time_choice(code, calls, *args):  # a clock that advances by the candidate's time per call
            now["t"] += per_call[code] * calls

        monkeypatch.setattr(product_choice.time, "perf_counter", lambda: now["t"])
        monkeypatch.setattr(choice, "time_choice", fake_time_choice)
        assert product_choice.measure((10, 100, 784, False, False, True))[0] == expected


def test_a_microkernel_that_won_only_while_blas_was_slowed_is_not_chosen(monkeypatch):
    """BLAS slowed twofold for its first ROUNDS + 1 samples (the calibration and the rounds of all candidates): the
    microkernel, 5% slower than BLAS, wins those rounds, and loses the head-to-head confirmation."""
    per_call = {choice.BLAS: 1e-4, choice.AXPY: 1.05e-4, choice.WIDE_AXPY: 2e-4}
    now, samples = {"t": 0.0}, {code: 0 for code in per_call}

    def fake_time_choice(code, calls, *args):
        samples[code] += 1
        busy = 2.0 if code == choice.BLAS and samples[code] <= product_choice.ROUNDS + 1 else 1.0
        now["t"] += per_call[code] * busy * calls

    monkeypatch.setattr(product_choice.time, "perf_counter", lambda: now["t"])
    monkeypatch.setattr(choice, "time_choice", fake_time_choice)
    best, seconds = product_choice.measure((10, 100, 784, False, False, True))
    assert seconds[choice.AXPY] < seconds[choice.BLAS]  # the rounds of all candidates were misled
    assert best == choice.BLAS and samples[choice.BLAS] == 2 * product_choice.ROUNDS + 1


def test_choices_are_timed_once_per_machine_and_kept_in_the_cache(cache, monkeypatch):
    net = mlp()
    net.warm_up(10, loops=("train",))
    stores = [f for f in os.listdir(cache) if f.startswith("product-choices-")]
    assert len(stores) == 1
    content = json.loads((cache / stores[0]).read_text())
    assert content["machine"] == product_choice.machine()
    assert set(content["choices"]) == {shape_text(s) for s in product_calls(net.steps["train"].plan, 10)}
    assert net.product_choices.texts == content["choices"]
    # the table holds them: a compiled product of one of these shapes runs on the stored routine
    for text, name in content["choices"].items():
        m, n, k, trans_a, trans_b, beta_zero = parse_shape(text)
        assert choice.chosen(trans_a, trans_b, m, n, k, beta_zero) == choice.NAMES.index(name)
    monkeypatch.setattr(product_choice, "measure", lambda shape: pytest.fail(f"timed {shape} again"))
    mlp(hidden=100).warm_up(10, loops=("train",))  # a second model of the same shapes times nothing


def test_a_model_puts_its_choices_back_after_something_else_filled_the_table(cache):
    net = mlp()
    net.warm_up(10, loops=("train",))
    choice.install({}, choice.ALL_BLAS)  # another model's, or a test's
    net.warm_up(10, loops=("train",))
    for text, name in net.product_choices.texts.items():
        m, n, k, trans_a, trans_b, beta_zero = parse_shape(text)
        assert choice.chosen(trans_a, trans_b, m, n, k, beta_zero) == choice.NAMES.index(name)


SECOND_PROCESS = textwrap.dedent("""
    import staticnet as sn
    from staticnet.codegen import product_choice
    timed = []
    measure = product_choice.measure
    product_choice.measure = lambda shape: timed.append(shape) or measure(shape)
    x, y = sn.input("x", (None, 30)), sn.input("y", (None, 10))
    p = sn.dense(sn.dense(x, 40, activation="relu"), 10, activation="softmax")
    sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam()).warm_up(16, loops=("train",))
    print(len(timed))
""")


def test_a_second_process_on_the_machine_times_nothing(cache):
    env = {**os.environ, "STATICNET_CACHE": str(cache)}
    counts = [int(subprocess.run([sys.executable, "-c", SECOND_PROCESS], env=env, capture_output=True, text=True,
                                 check=True).stdout.split()[-1]) for _ in range(2)]
    assert counts[0] > 0 and counts[1] == 0


def test_an_unreadable_or_foreign_store_is_timed_again(cache):
    path = product_choice.store_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for text in ("not json", json.dumps([1]), json.dumps({"version": 1, "choices": {"1x2x3 NN =": "fastest",
                                                                                    "nonsense": "blas"}})):
        with open(path, "w") as f:
            f.write(text)
        assert product_choice.read_store(path) == {}


@pytest.mark.parametrize("policy,expected", [("blas", choice.ALL_BLAS), ("micro", choice.ALL_MICRO)])
def test_the_environment_puts_every_product_on_one_kind_of_routine(cache, monkeypatch, policy, expected):
    monkeypatch.setenv(product_choice.ENVIRONMENT, policy)
    monkeypatch.setattr(product_choice, "measure", lambda shape: pytest.fail("timed under an override"))
    net = mlp()
    rng = np.random.default_rng(0)
    x = rng.random((40, 784), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 40)]
    net.fit({"x": x, "y": y}, epochs=1, batch_size=10, verbose=0, seed=0)
    assert choice.table[choice.POLICY] == expected and not choice.table[:choice.POLICY].any()
    reference = sn.function([net.inputs[0]], net.outputs, backend="numpy")
    np.testing.assert_allclose(net.predict(x), reference(x)[0], rtol=1e-4, atol=1e-6)


def test_a_bad_override_is_named(monkeypatch):
    monkeypatch.setenv(product_choice.ENVIRONMENT, "fastest")
    with pytest.raises(ValueError, match="STATICNET_KERNEL_CHOICE must be one of auto, blas, micro, got 'fastest'"):
        product_choice.policy()


def test_a_model_file_keeps_its_choices_and_a_loaded_model_runs_on_them(cache, tmp_path):
    net = mlp()
    net.warm_up(10, loops=("train",))
    recorded = dict(net.product_choices.texts)
    path = str(tmp_path / "m.snet")
    net.save(path)
    # this machine's store now says otherwise for every shape; the loaded model keeps what it ran on
    store = product_choice.store_path()
    content = json.loads(open(store).read())
    flipped = {text: ("blas" if name != "blas" else ("dot" if "NT" in text else "axpy"))
               for text, name in content["choices"].items()}
    with open(store, "w") as f:
        json.dump({**content, "choices": flipped}, f)
    product_choice._stored = None
    loaded = sn.load(path)
    assert loaded.product_choices.texts == recorded
    loaded.warm_up(10, loops=("train",))
    for text, name in recorded.items():
        m, n, k, trans_a, trans_b, beta_zero = parse_shape(text)
        assert choice.chosen(trans_a, trans_b, m, n, k, beta_zero) == choice.NAMES.index(name)


def test_a_model_file_with_bad_choices_is_refused_naming_the_field(cache, tmp_path):
    import zipfile
    net = mlp()
    path, bad = str(tmp_path / "m.snet"), str(tmp_path / "bad.snet")
    net.save(path)
    for choices, message in (({"10x100x784": "blas"}, "not a product shape"),
                             ({"10x100x784 NN =": "fastest"}, "must be one of blas, axpy, dot"),
                             ([1], "product_choices must be an object")):
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(bad, "w") as target:
            for item in source.namelist():
                data = source.read(item)
                if item == "staticnet.json":
                    manifest = json.loads(data)
                    manifest["product_choices"] = choices
                    data = json.dumps(manifest)
                target.writestr(item, data)
        with pytest.raises(DataError, match=message):
            sn.load(bad)


def test_a_resumed_run_repeats_an_uninterrupted_one_when_the_machine_would_choose_otherwise(cache, tmp_path):
    """Two epochs straight, against one epoch, a checkpoint, this machine's choices all flipped to another
    routine, and the second epoch resumed from the checkpoint: the same weights, bit for bit."""
    rng = np.random.default_rng(0)
    data = {"x": rng.random((40, 784), np.float32), "y": np.eye(10, dtype=np.float32)[rng.integers(0, 10, 40)]}
    straight = mlp(sn.Adam(lr=0.01))
    straight.fit(data, epochs=2, batch_size=10, seed=3, verbose=0)
    path = str(tmp_path / "checkpoint.snet")
    first = mlp(sn.Adam(lr=0.01))
    first.fit(data, epochs=1, batch_size=10, seed=3, verbose=0, checkpoint=path)
    store = product_choice.store_path()
    content = json.loads(open(store).read())
    flipped = {text: ("blas" if name != "blas" else ("dot" if " NT " in text else "axpy"))
               for text, name in content["choices"].items()}
    with open(store, "w") as f:
        json.dump({**content, "choices": flipped}, f)
    product_choice._stored = None
    resumed = mlp(sn.Adam(lr=0.01))
    resumed.fit(data, epochs=2, batch_size=10, seed=3, verbose=0, resume=path)
    for ours, theirs in zip(resumed.trainable, straight.trainable):
        np.testing.assert_array_equal(ours.value, theirs.value)
