import inspect
import os
import re

import numpy as np
import pytest

import staticnet as sn

HERE = re.escape(os.path.relpath(__file__))


def spiral_model(optimizer=None, dropout=0.0, seed=0):
    sn.seed(seed)
    x = sn.input("x", (None, 2))
    y = sn.input("y", (None, 2))
    h = sn.dense(sn.dense(x, 32, activation="tanh"), 32, activation="tanh")
    h = sn.dropout(h, dropout)
    p = sn.dense(h, 2, activation="softmax")
    return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=optimizer or sn.Adam(lr=0.02))


def test_fit_learns_two_spirals_and_evaluate_agrees_with_predict():
    data = sn.data.two_spirals(400, seed=0)
    net = spiral_model(optimizer=sn.Adam(lr=0.01))
    hist = net.fit(data, epochs=200, batch_size=16, seed=1, verbose=0)
    assert len(hist) == 200 and hist["loss"][-1] < hist["loss"][0]
    scores = net.evaluate(data)
    assert scores["accuracy"] > 0.95
    p = net.predict({"x": data["x"]})
    assert np.mean(p.argmax(1) == data["y"].argmax(1)) == pytest.approx(scores["accuracy"])
    cross_entropy = -np.mean(np.sum(data["y"] * np.log(p), 1))
    assert scores["loss"] == pytest.approx(cross_entropy, rel=1e-4)


def test_fit_compiles_the_training_loop_before_it_times_any_rows(monkeypatch, capsys):
    sn.seed(0)
    x, y = sn.input("x", (None, 3)), sn.input("y", (None, 2))
    p = sn.dense(sn.dense(x, 7, activation="tanh"), 2, activation="softmax")  # a graph no other test compiles
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    generated = net.generated
    assert not generated.compiled("train_epoch")
    calls = []  # (rows asked for, whether the loop was compiled by then)

    class Spy:
        def __getattr__(self, name):
            return getattr(generated, name)

        def __call__(self, function, **groups):
            if function == "train_epoch":
                calls.append((groups["stop"] - groups["start"], generated.compiled("train_epoch")))
            return generated(function, **groups)

    monkeypatch.setattr(net, "generated", Spy())
    rng = np.random.default_rng(0)
    net.fit({"x": rng.normal(size=(40, 3)).astype(np.float32), "y": np.eye(2, dtype=np.float32)[rng.integers(0, 2, 40)]},
            epochs=1, batch_size=4, verbose=1)
    assert sum(rows for rows, _ in calls) == 40 and all(ready for rows, ready in calls if rows > 0)
    assert "training loop ready in" in capsys.readouterr().err  # the wait is explained


def test_fit_with_a_partial_last_batch_matches_the_reference_step_by_step():
    """A whole epoch in the compiled loop equals the same minibatches stepped with the NumPy executor."""
    data = sn.data.xor(23, seed=0)
    sn.seed(4)
    x, y = sn.input("x", (None, 2), dtype="float64"), sn.input("y", (None, 1), dtype="float64")
    p = sn.dense(sn.dense(x, 4, activation="tanh"), 1, activation="sigmoid")
    loss = sn.cross_entropy(p, y)
    params = sn.Graph(loss).params
    start = [w.value.copy() for w in params]
    net = sn.compile(loss, outputs=p, optimizer=sn.SGD(lr=0.5))
    net.fit(data, epochs=1, batch_size=5, shuffle=False, verbose=0)
    compiled = [w.value.copy() for w in params]
    for w, v in zip(params, start):
        w.value = v.copy()
    grads = sn.grad(loss, params)
    step = sn.function([x, y], loss, updates=[(w, w - 0.5 * g) for w, g in zip(params, grads)], backend="numpy")
    for s in range(0, 23, 5):
        step(data["x"][s:s + 5], data["y"][s:s + 5])
    for got, want in zip(compiled, params):
        np.testing.assert_allclose(got, want.value, rtol=1e-12)


def test_same_seed_same_result_and_params_are_writable():
    data = sn.data.two_spirals(200, seed=2)
    a, b = spiral_model(seed=3), spiral_model(seed=3)
    a.fit(data, epochs=3, batch_size=10, seed=5, verbose=0)
    b.fit(data, epochs=3, batch_size=10, seed=5, verbose=0)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    name = next(iter(a.params))
    a.params[name] = np.zeros_like(a.params[name])
    assert not a.params[name].any()
    with pytest.raises(ValueError, match="has shape"):
        a.params[name] = np.zeros(3)


def test_early_stopping_restores_the_best_weights():
    data = sn.data.two_spirals(300, seed=0)
    val = sn.data.two_spirals(300, seed=9)
    net = spiral_model(optimizer=sn.SGD(lr=5.0))  # a rate this high wanders: validation accuracy stalls
    hist = net.fit(data, epochs=40, batch_size=10, validation=val, early_stopping=3, seed=0, verbose=0)
    assert len(hist) == (hist.stopped_early_at or 40)  # where it stops follows the CPU's rounding: not pinned
    best = max(hist["val_accuracy"])
    assert net.evaluate(val)["accuracy"] == pytest.approx(best)


def test_checkpoint_and_resume_give_the_uninterrupted_result(tmp_path):
    data = sn.data.two_spirals(200, seed=1)
    full = spiral_model(seed=7, dropout=0.2)
    full.fit(data, epochs=4, batch_size=8, seed=11, verbose=0)
    part = spiral_model(seed=7, dropout=0.2)
    path = str(tmp_path / "ckpt.snet")
    part.fit(data, epochs=2, batch_size=8, seed=11, verbose=0, checkpoint=path)
    resumed = spiral_model(seed=99, dropout=0.2)  # different initial weights: the checkpoint must replace them
    resumed.fit(data, epochs=4, batch_size=8, verbose=0, resume=path)
    assert [e["epoch"] for e in resumed.history.epochs] == [1, 2, 3, 4]
    for name in full.params:
        np.testing.assert_array_equal(resumed.params[name], full.params[name])


def test_ctrl_c_stops_between_chunks_and_keeps_the_weights(monkeypatch):
    from staticnet import progress
    data = sn.data.two_spirals(400, seed=0)
    net = spiral_model()
    before = {k: v.copy() for k, v in net.params.items()}
    calls = []

    def interrupt(self, done, text):
        calls.append(done)
        if len(calls) == 2:  # after the second chunk, still in the first epoch: its first chunk is a fiftieth of it
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.Progress, "update", interrupt)
    hist = net.fit(data, epochs=5, batch_size=4, seed=0, verbose=1)
    assert hist.interrupted and len(hist) == 0
    assert any(not np.array_equal(before[k], net.params[k]) for k in before)


def checkpoint_saves_interrupted(monkeypatch, at_save: int, signals: int) -> None:
    """Send this process `signals` real SIGINTs (Ctrl-C) from inside the write of checkpoint save number
    `at_save`, while the file is being written."""
    import signal

    from staticnet import serialize
    durable, saves = serialize.write_durably, []

    def write_durably(path, write):
        saves.append(path)

        def write_with_ctrl_c(raw):
            write(raw)
            for _ in range(signals if len(saves) == at_save else 0):
                os.kill(os.getpid(), signal.SIGINT)
            raw.write(b"")  # a bytecode boundary inside the write, where Python runs the signal's handler
        durable(path, write_with_ctrl_c)
    monkeypatch.setattr(serialize, "write_durably", write_durably)


def fit_stopped_by_ctrl_c(net, data, **settings):
    """net.fit, which a Ctrl-C must stop, not escape from (that would end the test session)."""
    try:
        return net.fit(data, **settings)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped from fit")


def test_ctrl_c_during_the_checkpoint_save_finishes_the_save_then_stops_fit(tmp_path, monkeypatch):
    import signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as in a plain Python program
    data, path = sn.data.two_spirals(100, seed=0), str(tmp_path / "ckpt.snet")
    net = spiral_model()
    checkpoint_saves_interrupted(monkeypatch, at_save=2, signals=1)
    history = fit_stopped_by_ctrl_c(net, data, epochs=5, batch_size=10, seed=0, verbose=0, checkpoint=path)
    assert history.interrupted and net.epochs_done == 2 and [e["epoch"] for e in history.epochs] == [1, 2]
    saved = sn.load(path)
    assert saved.epochs_done == 2
    for name in net.params:
        np.testing.assert_array_equal(saved.params[name], net.params[name])
    assert os.listdir(tmp_path) == ["ckpt.snet"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_abandons_the_checkpoint_save_keeping_the_last_one(tmp_path, monkeypatch):
    data, path = sn.data.two_spirals(100, seed=0), str(tmp_path / "ckpt.snet")
    net = spiral_model()
    checkpoint_saves_interrupted(monkeypatch, at_save=2, signals=2)
    history = fit_stopped_by_ctrl_c(net, data, epochs=5, batch_size=10, seed=0, verbose=0, checkpoint=path)
    assert history.interrupted and net.epochs_done == 2
    assert sn.load(path).epochs_done == 1  # the save of epoch 2 was abandoned whole
    assert os.listdir(tmp_path) == ["ckpt.snet"]


def test_ctrl_c_during_validation_stops_fit_as_during_training(monkeypatch):
    data = sn.data.two_spirals(100, seed=0)
    net = spiral_model()
    evaluate = sn.Model._evaluate_arrays
    calls = []

    def interrupted_on_the_second(self, arrays, batch_size=1000):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(self, arrays, batch_size)
    monkeypatch.setattr(sn.Model, "_evaluate_arrays", interrupted_on_the_second)
    history = fit_stopped_by_ctrl_c(net, data, epochs=5, batch_size=10, validation=data, seed=0, verbose=0)
    assert history.interrupted and [e["epoch"] for e in history.epochs] == [1] and net.epochs_done == 1


def test_fit_called_from_a_callback_is_refused(tmp_path):
    data = sn.data.two_spirals(100, seed=0)
    net = spiral_model()

    class FitAgain(sn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.fit(data, epochs=1, verbose=0)

    with pytest.raises(RuntimeError, match=rf"^fit at {HERE}:\d+: this model's fit is already running \(fit was "
                                           r"called from one of its callbacks"):
        net.fit(data, epochs=3, batch_size=10, verbose=0, callbacks=[FitAgain()])
    assert [e["epoch"] for e in net.history.epochs] == [1]
    net.fit(data, epochs=1, batch_size=10, verbose=0)  # the refusal leaves the model free to train again
    assert [e["epoch"] for e in net.history.epochs] == [1, 2]


def test_dropout_scales_kept_units_in_training_only():
    x = sn.input("x", (None, 1000))
    w = sn.param("w", value=np.ones(1000, np.float32))
    out = sn.dropout(x * w, 0.25)
    y = sn.input("y", (None,))
    net = sn.compile(sn.mse(sn.sum(out, 1) / 1000.0, y), outputs=out, optimizer=sn.SGD(lr=1e-9), metrics=[])
    assert np.array_equal(net.predict(np.ones((2, 1000), np.float32)), np.ones((2, 1000)))
    mask = sn.function([x], out, training=True)(np.ones((50, 1000), np.float32))
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.75)}
    assert abs((mask == 0).mean() - 0.25) < 0.01


def test_bad_data_is_named():
    net = spiral_model()
    with pytest.raises(sn.DataError, match="no array for input 'y'"):
        net.fit({"x": np.zeros((4, 2))}, epochs=1, verbose=0)
    with pytest.raises(sn.DataError, match=r"input 'x' in the training data expects shape \(None, 2\), got \(4, 3\)"):
        net.fit({"x": np.zeros((4, 3)), "y": np.zeros((4, 2))}, epochs=1, verbose=0)
    with pytest.raises(sn.DataError, match="different numbers of rows"):
        net.fit({"x": np.zeros((4, 2)), "y": np.zeros((5, 2))}, epochs=1, verbose=0)


def test_perceptron_update_is_the_textbook_rule_step_by_step():
    data = sn.data.linearly_separable(60, margin=0.05, seed=2)
    x, y = sn.input("x", (None, 2)), sn.input("y", (None,))
    w = sn.param("w", value=np.zeros(2, np.float32))
    b = sn.param("b", value=np.zeros((), np.float32))
    score = x @ w + b
    net = sn.compile(sn.perceptron_loss(score, y), outputs=sn.step(score), optimizer=sn.SGD(lr=0.7))
    ref_w, ref_b = np.zeros(2), 0.0
    for _ in range(29):
        net.fit(data, epochs=1, batch_size=1, shuffle=False, verbose=0)  # one more epoch per call
        for xi, yi in zip(data["x"].astype(np.float64), data["y"]):
            if yi * (xi @ ref_w + ref_b) <= 0:  # misclassified (or on the boundary): w <- w + eta y x
                ref_w, ref_b = ref_w + 0.7 * yi * xi, ref_b + 0.7 * yi
        np.testing.assert_allclose(w.value, ref_w, rtol=1e-5, atol=1e-5)
        assert float(b.value) == pytest.approx(ref_b, abs=1e-5)
        if net.evaluate(data)["accuracy"] == 1.0:
            break
    assert net.evaluate(data)["accuracy"] == 1.0


def test_compile_names_what_it_got_where_a_loss_outputs_or_an_optimizer_belongs():
    x, y = sn.input("x", (None, 2)), sn.input("y", (None, 2))
    p = sn.dense(x, 2, activation="softmax")
    loss = sn.cross_entropy(p, y)
    mistakes = [
        (lambda: sn.compile(loss, outputs="p"), r"outputs must be a tensor or a list of tensors, got 'p' \(str\)"),
        (lambda: sn.compile(loss, outputs=p, optimizer="sgd"),
         r"optimizer must be an optimizer object, got 'sgd' \(str\): write optimizer=sn.SGD\(lr=...\)"),
        (lambda: sn.compile(loss, outputs=p, optimizer=0.1),
         r"optimizer must be an optimizer object, got 0.1: pass one of sn.SGD\(lr=...\), sn.AdaGrad\(\), .*sn.AdamW\(\)"),
        (lambda: sn.compile(p, outputs=p), r"loss must be a scalar tensor, got a tensor of shape \(None, 2\)"),
        (lambda: sn.compile(5.0, outputs=p), r"loss must be a scalar tensor, got 5.0"),
    ]
    for build, message in mistakes:
        with pytest.raises(sn.GraphError, match=f"^compile at {HERE}:{build.__code__.co_firstlineno}: {message}$"):
            build()


def some_rows(n=40, seed=0):
    data = sn.data.two_spirals(n, seed=seed)
    return {"x": data["x"], "y": data["y"]}


def weights_of(net):
    return {name: value.copy() for name, value in net.params.items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def spirals_net():
    return spiral_model()


BAD_COUNTS = [
    (lambda net, d: net.fit(d, batch_size=-3, verbose=0), "fit", r"batch_size must be a positive int, got -3"),
    (lambda net, d: net.fit(d, batch_size=0, verbose=0), "fit", r"batch_size must be a positive int, got 0"),
    (lambda net, d: net.fit(d, batch_size=0.5, verbose=0), "fit", r"batch_size must be a positive int, got 0.5"),
    (lambda net, d: net.fit(d, batch_size="10", verbose=0), "fit", r"batch_size must be a positive int, got '10' \(str\)"),
    (lambda net, d: net.fit(d, batch_size=None, verbose=0), "fit",
     r"batch_size must be a positive int, got None \(NoneType\)"),
    (lambda net, d: net.fit(d, batch_size=True, verbose=0), "fit", r"batch_size must be a positive int, got True \(bool\)"),
    (lambda net, d: net.fit(d, epochs=2.5, verbose=0), "fit", r"epochs must be an int >= 0, got 2.5"),
    (lambda net, d: net.fit(d, epochs=-1, verbose=0), "fit", r"epochs must be an int >= 0, got -1"),
    (lambda net, d: net.fit(d, seed="abc", verbose=0), "fit", r"seed must be an int >= 0, got 'abc' \(str\)"),
    (lambda net, d: net.fit(d, seed=-5, verbose=0), "fit", r"seed must be an int >= 0, got -5"),
    (lambda net, d: net.fit(d, initial_epoch=-1, verbose=0), "fit", r"initial_epoch must be an int >= 0, got -1"),
    (lambda net, d: net.evaluate(d, batch_size=-3), "evaluate", r"batch_size must be a positive int, got -3"),
    (lambda net, d: net.evaluate(d, batch_size=0), "evaluate", r"batch_size must be a positive int, got 0"),
    (lambda net, d: net.predict(d["x"], batch_size=-3), "predict", r"batch_size must be a positive int, got -3"),
    (lambda net, d: net.predict(d["x"], batch_size=0.5), "predict", r"batch_size must be a positive int, got 0.5"),
]


@pytest.mark.parametrize("call,function,message", BAD_COUNTS, ids=[m for _, _, m in BAD_COUNTS])
def test_fit_evaluate_and_predict_name_a_bad_count_and_its_value(spirals_net, call, function, message):
    before = weights_of(spirals_net)
    with pytest.raises(ValueError, match=f"^{function} at {HERE}:{call.__code__.co_firstlineno}: {message}$"):
        call(spirals_net, some_rows())
    assert_same_weights(weights_of(spirals_net), before)


def test_numpy_integers_are_valid_counts(spirals_net):
    data = some_rows()
    spirals_net.fit(data, epochs=np.int64(1), batch_size=np.int32(8), seed=np.int64(3), verbose=0)
    assert spirals_net.evaluate(data, batch_size=np.int64(16))["loss"] > 0
    assert spirals_net.predict(data["x"], batch_size=np.int64(7)).shape == (40, 2)


def test_fit_twice_trains_more_epochs_as_one_longer_fit_does():
    data = sn.data.two_spirals(100, seed=1)
    twice, once = spiral_model(seed=3, dropout=0.2), spiral_model(seed=3, dropout=0.2)
    twice.fit(data, epochs=2, batch_size=10, seed=5, verbose=0)
    hist = twice.fit(data, epochs=2, batch_size=10, verbose=0)  # two more, with the seed of the first call
    once.fit(data, epochs=4, batch_size=10, seed=5, verbose=0)
    assert [e["epoch"] for e in hist.epochs] == [1, 2, 3, 4] and twice.epochs_done == 4
    assert_same_weights(weights_of(twice), weights_of(once))


def test_initial_epoch_makes_epochs_the_final_epoch_as_in_keras():
    data = sn.data.two_spirals(100, seed=1)
    stepwise, once = spiral_model(seed=3), spiral_model(seed=3)
    stepwise.fit(data, epochs=2, batch_size=10, seed=5, verbose=0)
    stepwise.fit(data, epochs=4, initial_epoch=2, batch_size=10, verbose=0)  # epochs 3 and 4
    once.fit(data, epochs=4, batch_size=10, seed=5, verbose=0)
    assert [e["epoch"] for e in stepwise.history.epochs] == [1, 2, 3, 4]
    assert_same_weights(weights_of(stepwise), weights_of(once))
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(ValueError, match=f"^fit at {HERE}:{line}: epochs=3 is the final epoch with initial_epoch="):
        stepwise.fit(data, epochs=3, initial_epoch=4, verbose=0)


def test_sn_seed_alone_fixes_the_shuffle_and_the_dropout():
    data = sn.data.two_spirals(100, seed=1)
    runs = []
    for _ in range(2):
        net = spiral_model(seed=3, dropout=0.3)  # sn.seed(3), then the model
        net.fit(data, epochs=2, batch_size=10, verbose=0)  # no seed given
        runs.append(weights_of(net))
    assert_same_weights(runs[0], runs[1])


def test_a_checkpoint_that_cannot_be_written_is_refused_before_training(spirals_net, tmp_path):
    data = some_rows()
    before = weights_of(spirals_net)
    missing = str(tmp_path / "no" / "such" / "ckpt.snet")
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(ValueError, match=f"^fit at {HERE}:{line}: checkpoint='{re.escape(missing)}': the directory "):
        spirals_net.fit(data, checkpoint=missing, verbose=0)
    with pytest.raises(ValueError, match=f"checkpoint='{re.escape(str(tmp_path))}': is a directory; name a file in it"):
        spirals_net.fit(data, checkpoint=str(tmp_path), verbose=0)
    with pytest.raises(ValueError, match="checkpoint='': is empty; name a file$"):
        spirals_net.fit(data, checkpoint="", verbose=0)
    with pytest.raises(ValueError, match=r"checkpoint='/sys/ckpt.snet': cannot write in the directory /sys \("):
        spirals_net.fit(data, checkpoint="/sys/ckpt.snet", verbose=0)
    assert_same_weights(weights_of(spirals_net), before)


def test_a_diverged_epoch_does_not_overwrite_the_last_finite_checkpoint(tmp_path, capsys):
    data = sn.data.two_spirals(60, seed=1)
    net = spiral_model()
    path = str(tmp_path / "ckpt.snet")
    net.fit(data, epochs=1, batch_size=10, seed=0, verbose=0, checkpoint=path)
    good = weights_of(net)
    net.params["dense1/W"] = np.full_like(good["dense1/W"], np.nan)  # a NaN weight stays NaN through any update
    net.fit(data, epochs=2, batch_size=10, verbose=0, checkpoint=path, check_data=False, nan_guard=False)
    assert net.epochs_done == 3 and np.isnan(net.params["dense1/W"]).all()
    assert_same_weights(weights_of(sn.load(path)), good)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: epoch 2 left weights that are not finite; the checkpoint "
                                                   f"{path} keeps the last finite ones")


@pytest.mark.parametrize("name, message", [
    ("dense1/w", r"the model has no parameter 'dense1/w'; did you mean 'dense1/W'( or '[^']+')*\?"),
    ("A/Wx", r"the model has no parameter 'A/Wx'; the parameters are 'dense1/W', 'dense1/b', 'dense2/W', 'dense2/b', "
             r"'dense3/W', 'dense3/b'"),
])
def test_a_parameter_name_that_is_not_there_is_named_with_the_names_that_are(spirals_net, name, message):
    before = weights_of(spirals_net)
    for access in (lambda: spirals_net.params[name], lambda: spirals_net.params.__setitem__(name, np.zeros(2))):
        with pytest.raises(KeyError) as raised:
            access()
        assert re.fullmatch(message, str(raised.value)), str(raised.value)
    assert_same_weights(before, weights_of(spirals_net))


def test_fit_compiles_every_loop_its_epochs_run_before_the_first_step(monkeypatch, capsys):
    """The validation data is evaluated 1000 rows at a time, where a product is large enough to be cut among the
    threads; training's 4-row batches are not: the parts that cut it, and the evaluation loop itself, are
    compiled before the first step, so that the first epoch's time holds no compilation."""
    from staticnet.codegen import kernel_layer
    from staticnet.codegen.parallel import products_split
    sn.seed(0)
    x, y = sn.input("x", (None, 300)), sn.input("y", (None, 3))
    p = sn.dense(sn.dense(x, 11, activation="tanh"), 3, activation="softmax")  # a graph no other test compiles
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    assert products_split(net.steps["eval"].plan, 1000) and not products_split(net.steps["train"].plan, 4)
    monkeypatch.setattr(kernel_layer, "_addresses", {})  # as in a fresh process: every kernel is loaded anew
    loaded, training_started = [], []
    load = kernel_layer.load

    def recording_load(kernel, report=None):
        if kernel.symbol not in kernel_layer._addresses:
            loaded.append((kernel.stem, bool(training_started)))
        return load(kernel, report)
    monkeypatch.setattr(kernel_layer, "load", recording_load)
    train_rows = net._train_rows

    def recording_train_rows(*args):
        training_started.append(net.generated.compiled("eval_epoch"))
        return train_rows(*args)
    monkeypatch.setattr(net, "_train_rows", recording_train_rows)
    rng = np.random.default_rng(0)

    def rows(n):
        labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
        return {"x": rng.normal(size=(n, 300)).astype(np.float32), "y": labels}
    net.fit(rows(40), epochs=2, batch_size=4, validation=rows(1500), verbose=1)
    assert training_started and all(training_started)  # the evaluation loop was compiled before the first step
    assert ("run_parts", False) in loaded  # the parts were loaded, before training ...
    assert [stem for stem, after in loaded if after] == []  # ... and nothing was loaded once it had started
    assert "training and evaluation loops ready in" in capsys.readouterr().err
    net.fit(rows(40), epochs=1, batch_size=8, validation=rows(300), verbose=1)
    assert "ready in" not in capsys.readouterr().err  # other batch sizes, nothing left to compile: nothing said


def test_params_is_a_mutable_mapping_whose_assignment_keeps_its_checks(spirals_net):
    from collections.abc import MutableMapping
    params = spirals_net.params
    assert isinstance(params, MutableMapping)
    assert len(params) == 6 and "dense1/W" in params and "nothing" not in params
    assert params.get("nothing") is None and params.get("dense1/b") is spirals_net.params["dense1/b"]
    assert [v.shape for v in params.values()] == [t.shape for t in spirals_net.trainable]
    assert dict(params.items()).keys() == set(params.keys())
    before = params["dense3/b"].copy()
    params.update({"dense3/b": before + 1})
    np.testing.assert_array_equal(params["dense3/b"], before + 1)
    params["dense3/b"] = before
    with pytest.raises(ValueError, match=r"parameter 'dense3/b' has shape \(2,\), got an array of shape \(3,\)"):
        params["dense3/b"] = np.zeros(3)
    with pytest.raises(TypeError, match=r"parameter 'dense3/b' cannot be deleted"):
        del params["dense3/b"]


def test_repr_names_the_inputs_outputs_parameter_count_and_optimizer():
    net = spiral_model(optimizer=sn.SGD(lr=0.5, momentum=0.9))
    count = 2 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2
    assert repr(net) == (f"<Model inputs: x (None, 2), y (None, 2); outputs: softmax (None, 2); {count:,} parameters; "
                         "optimizer SGD(lr=0.5, momentum=0.9, nesterov=False)>")
