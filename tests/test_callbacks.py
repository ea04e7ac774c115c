"""fit's callbacks: the hooks and their order, stopping, History.history, and the callbacks staticnet ships."""
import csv
import inspect
import os
import re

import numpy as np
import pytest

import staticnet as sn
from staticnet.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint,
                                 ReduceLROnPlateau)
from tests.test_early_stopping import ON_VAL_LOSS, approaching
from tests.test_model import assert_same_weights, some_rows, spiral_model, weights_of
from tests.test_optim import linear_model, regression_rows

HERE = re.escape(os.path.relpath(__file__))


class Recorder(Callback):
    """Every hook call, with a copy of the weights at each epoch's end."""

    def __init__(self, stop_after_epoch=None):
        self.calls, self.weights, self.logs, self.stop_after_epoch = [], {}, {}, stop_after_epoch

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch))
        self.logs[epoch] = dict(logs)
        self.weights[epoch] = weights_of(self.model)
        if epoch == self.stop_after_epoch:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


def test_hooks_run_in_order_between_epochs_and_a_callback_can_stop_training():
    data, val = some_rows(60), some_rows(60, seed=9)
    net = spiral_model()
    recorder = Recorder(stop_after_epoch=2)
    hist = net.fit(data, epochs=10, batch_size=10, validation=val, verbose=0, callbacks=[recorder])
    assert recorder.calls == ["train_begin", ("epoch_begin", 0), ("epoch_end", 0), ("epoch_begin", 1),
                              ("epoch_end", 1), ("epoch_begin", 2), ("epoch_end", 2), "train_end"]
    assert len(hist) == 3 and hist.stopped_early_at == 3 and net.epochs_done == 3
    assert_same_weights(weights_of(net), recorder.weights[2])
    assert set(recorder.logs[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    # one rule for epoch numbers: the hook's argument counts from 0 (Keras) and logs carry no other number;
    # the records count from 1, as the epoch lines do
    assert all("epoch" not in logs for logs in recorder.logs.values())
    assert [e["epoch"] for e in hist.epochs] == [1, 2, 3]


def test_history_gives_a_keras_dict_of_lists():
    net = spiral_model()
    recorder = Recorder()
    hist = net.fit(some_rows(60), epochs=3, batch_size=10, validation=some_rows(60, seed=9), verbose=0,
                   callbacks=[recorder])
    assert list(hist.history) == ["loss", "lr", "accuracy", "val_loss", "val_accuracy", "seconds"]
    for key, values in hist.history.items():
        assert values == [recorder.logs[e][key] for e in range(3)], key


def test_csv_logger_writes_a_row_per_epoch_and_appends_when_asked(tmp_path):
    path = tmp_path / "log.csv"
    net = spiral_model()
    recorder = Recorder()
    net.fit(some_rows(60), epochs=2, batch_size=10, verbose=0, callbacks=[CSVLogger(path), recorder])
    net.fit(some_rows(60), epochs=1, batch_size=10, verbose=0, callbacks=[CSVLogger(path, append=True), recorder])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["epoch", "loss", "lr", "accuracy", "seconds"]
    assert set(rows[0]) == {"epoch"} | {k for k, v in net.history.epochs[0].items() if v is not None}
    assert all(any(row[i] for row in rows[1:]) for i in range(len(rows[0])))  # no column without values
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3]
    for row, epoch in zip(rows[1:], range(3)):
        assert float(row[1]) == recorder.logs[epoch]["loss"] and float(row[2]) == recorder.logs[epoch]["lr"]
    net.fit(some_rows(60), epochs=1, batch_size=10, verbose=0, callbacks=[CSVLogger(path)])  # starts the file anew
    with open(path, newline="") as f:
        assert [r[0] for r in csv.reader(f)] == ["epoch", "4"]


def test_early_stopping_as_a_callback_stops_and_restores_as_fit_early_stopping_does(capsys):
    by_argument, data, val = approaching(best_epoch=8)  # val_loss falls for 8 epochs, then rises
    by_argument.fit(data, epochs=40, batch_size=10, validation=val, early_stopping={"patience": 3, **ON_VAL_LOSS},
                    verbose=0)
    net = approaching(best_epoch=8)[0]
    recorder = Recorder()
    hist = net.fit(data, epochs=40, batch_size=10, validation=val, verbose=1,
                   callbacks=[recorder, EarlyStopping(patience=3, **ON_VAL_LOSS)])
    assert (hist.stopped_early_at, hist.best_epoch) == (11, 8)
    assert not np.array_equal(recorder.weights[10]["w"], recorder.weights[7]["w"])
    assert_same_weights(weights_of(net), recorder.weights[7])  # epoch 8's weights, restored
    assert_same_weights(weights_of(net), weights_of(by_argument))
    assert "early stopping: val_loss did not improve for 3 epochs after epoch 8" in capsys.readouterr().err


def test_model_checkpoint_saves_the_best_epoch_only_when_asked(tmp_path):
    net, data, val = approaching(best_epoch=5)
    recorder = Recorder()
    best = str(tmp_path / "best.snet")
    each = str(tmp_path / "epoch-{epoch:02d}.snet")
    net.fit(data, epochs=8, batch_size=10, validation=val, verbose=0,
            callbacks=[recorder, ModelCheckpoint(best, monitor="val_loss", save_best_only=True), ModelCheckpoint(each)])
    val_losses = [recorder.logs[e]["val_loss"] for e in range(8)]
    assert int(np.argmin(val_losses)) == 4  # epoch 5, as constructed: the file must hold an earlier epoch than the last
    assert_same_weights(weights_of(sn.load(best)), recorder.weights[4])
    assert sorted(os.listdir(tmp_path)) == ["best.snet"] + [f"epoch-{e:02d}.snet" for e in range(1, 9)]
    assert_same_weights(weights_of(sn.load(str(tmp_path / "epoch-03.snet"))), recorder.weights[2])


def test_learning_rate_scheduler_sets_each_epochs_rate_as_an_optimizer_schedule_does(monkeypatch):
    monkeypatch.setenv("STATICNET_NUM_THREADS", "1")  # bit-exact runs
    data = some_rows(60)
    scheduled = spiral_model(optimizer=sn.SGD(lr=0.4, schedule=sn.exponential_decay(0.5)))
    scheduled.fit(data, epochs=4, batch_size=10, seed=3, verbose=0)
    net = spiral_model(optimizer=sn.SGD(lr=0.4))
    hist = net.fit(data, epochs=4, batch_size=10, seed=3, verbose=0,
                   callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)])  # compounds
    assert hist["lr"] == [float(np.float32(0.4 * 0.5**e)) for e in range(4)]
    assert_same_weights(weights_of(net), weights_of(scheduled))


def test_callback_settings_are_checked_before_training(spirals_net, tmp_path):
    data, val = some_rows(), some_rows(seed=9)
    before = weights_of(spirals_net)
    kept = tmp_path / "kept.snet"
    kept.write_bytes(b"a checkpoint to resume from")
    mistakes = [
        (lambda: spirals_net.fit(data, validation=val, verbose=0, callbacks=[EarlyStopping(2, monitor="val_acc")]),
         r"fit", r"EarlyStopping cannot monitor 'val_acc'; did you mean 'val_accuracy'\? the epochs record loss, "
         r"accuracy, val_loss, val_accuracy"),
        (lambda: spirals_net.fit(data, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "m.snet", save_best_only=True)]),
         r"fit", r"ModelCheckpoint monitors val_accuracy, a validation score: pass validation=\.\.\. \(or monitor one "
                 r"of loss, accuracy\)"),
        (lambda: spirals_net.fit(data, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "{val_los}.snet")]),
         r"fit", r"ModelCheckpoint path '.*\{val_los\}.snet' cannot be filled in \(KeyError: 'val_los'\); it may name "
                 r"\{epoch\} and the scores the epochs record: loss, accuracy"),
        (lambda: spirals_net.fit(data, validation=val, verbose=0, early_stopping=2, callbacks=[EarlyStopping(3)]),
         r"fit", r"give one early stopping: early_stopping= or one EarlyStopping in callbacks=, not 2"),
        (lambda: spirals_net.fit(data, verbose=0, callbacks=[print]),
         r"fit", r"callbacks must be sn.callbacks.Callback objects \(subclass it\), got <built-in function print> \(builtin_function_or_method\)"),
        (lambda: spirals_net.fit(data, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: -lr)]),
         r"fit", r"LearningRateScheduler: schedule\(0, 0.02\) returned -0.02; a learning rate is a finite "
                 r"number > 0"),
        (lambda: LearningRateScheduler(lambda epoch: 0.1),
         r"LearningRateScheduler", r"schedule must be a function of \(epoch, lr\), got <function .*"),
        (lambda: EarlyStopping(patience=0), r"EarlyStopping", r"patience must be a positive int, got 0"),
        (lambda: CSVLogger(tmp_path / "no" / "log.csv"), r"CSVLogger", r"path='.*log.csv': the directory .* does not exist"),
        (lambda: CSVLogger(""), r"CSVLogger", r"path='': is empty; name a file"),
        (lambda: CSVLogger("/sys/log.csv"), r"CSVLogger", r"path='/sys/log.csv': cannot write in the directory /sys \(.*\)"),
        (lambda: spirals_net.fit(data, verbose=0, checkpoint=str(tmp_path / "m.snet"),
                                 callbacks=[CSVLogger(tmp_path / "m.snet")]),
         r"fit", r"CSVLogger path='.*m.snet': is the same file as a ModelCheckpoint path .*m.snet; name another file"),
        (lambda: spirals_net.fit(data, verbose=0, resume=str(kept), callbacks=[CSVLogger(kept)]),
         r"fit", r"CSVLogger path='.*kept.snet': is the same file as resume .*kept.snet; name another file"),
        (lambda: ModelCheckpoint(""), r"ModelCheckpoint", r"path='': is empty; name a file"),
        (lambda: ModelCheckpoint(str(tmp_path)), r"ModelCheckpoint", r"path='.*': is a directory; name a file in it"),
    ]
    for call, function, message in mistakes:
        with pytest.raises(ValueError, match=f"^{function} at {HERE}:{call.__code__.co_firstlineno}: {message}$"):
            call()
    assert_same_weights(weights_of(spirals_net), before)
    assert kept.read_bytes() == b"a checkpoint to resume from" and not (tmp_path / "m.snet").exists()


@pytest.fixture(scope="module")
def spirals_net():
    return spiral_model()


class Logs(Callback):
    """Puts `values` into every epoch's logs, as a user's callback computing its own scores would."""

    def __init__(self, **values):
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs.update(self.values)


def test_numpy_scalars_a_callback_logs_become_python_numbers_and_the_model_saves(tmp_path):
    net = spiral_model()
    logger = Logs(norm=np.float32(1.5), count=np.int64(3), flag=np.bool_(True), mean=np.array(0.25), name=np.str_("a"))
    later = Recorder()  # the callbacks after it see the numbers too
    hist = net.fit(some_rows(40), epochs=2, batch_size=10, verbose=0, callbacks=[logger, later],
                   checkpoint=tmp_path / "ckpt.snet")
    expected = {"norm": 1.5, "count": 3, "flag": True, "mean": 0.25, "name": "a"}
    for key, value in expected.items():
        assert hist[key] == [value, value] and all(type(v) is type(value) for v in hist[key]), key
        assert later.logs[1][key] == value and type(later.logs[1][key]) is type(value)
    net.save(tmp_path / "model.snet")
    for path in ("ckpt.snet", "model.snet"):
        assert {k: v for k, v in sn.load(tmp_path / path).history.epochs[-1].items() if k in expected} == expected


@pytest.mark.parametrize("key, value, shown", [
    ("grads", np.array([1.0, 2.0]), r"array\(\[1\., 2\.\]\)"),
    ("seen", {1, 2}, r"\{1, 2\} \(set\)"),
    ("norms", [1.0, 2.0], r"\[1\.0, 2\.0\] \(list\)"),
    ("z", np.complex64(1j), r"1j \(complex\)"),
    (3, 1.0, "1.0"),
])
def test_a_value_no_record_can_hold_is_refused_naming_the_key_and_the_callback(tmp_path, key, value, shown):
    net = spiral_model()
    line = inspect.currentframe().f_lineno + 3
    put = rf"the callback Bad put logs\[{re.escape(repr(key))}\] = {shown} into the record of epoch 1"
    with pytest.raises(ValueError, match=rf"^fit at {HERE}:{line}: {put}: a record holds numbers, strings and None"):
        net.fit(some_rows(40), epochs=3, batch_size=10, verbose=0, callbacks=[Logs(ok=1.0), Bad(key, value)],
                checkpoint=tmp_path / "ckpt.snet")
    assert net.epochs_done == 1 and net.history["ok"] == [1.0]
    net.save(tmp_path / "model.snet")  # the record without the refused value, as the checkpoint holds it
    assert sn.load(tmp_path / "model.snet").history.epochs == net.history.epochs


class Bad(Callback):
    def __init__(self, key, value):
        self.key, self.value = key, value

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.value


def test_tensorboard_writes_the_scalars_and_histograms_that_tensorboard_reads_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, SCALARS, EventAccumulator
    from staticnet.callbacks import TensorBoard
    net = spiral_model()
    hist = net.fit(some_rows(60), epochs=4, batch_size=10, validation=some_rows(30, seed=9), verbose=0,
                   callbacks=[TensorBoard(tmp_path / "logs", histogram_freq=2)], track=["learning_speed"],
                   track_data=some_rows(20))

    def read(run):
        events = EventAccumulator(str(tmp_path / "logs" / run), size_guidance={SCALARS: 0, HISTOGRAMS: 0})
        events.Reload()
        return events

    train, validation = read("train"), read("validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_lr", "learning_speed/dense1",
                                            "learning_speed/dense2", "learning_speed/dense3"}
    assert set(validation.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy"}
    for events, prefix in ((train, ""), (validation, "val_")):
        for tag in ("epoch_loss", "epoch_accuracy"):
            scalars = events.Scalars(tag)
            assert [s.step for s in scalars] == [1, 2, 3, 4]  # the epochs, numbered as the records number them
            np.testing.assert_allclose([s.value for s in scalars], hist[prefix + tag.removeprefix("epoch_")],
                                       rtol=1e-6)  # stored as float32
    assert [s.value for s in train.Scalars("epoch_lr")] == pytest.approx(hist["lr"])
    assert set(train.Tags()["histograms"]) == set(net.params)
    (at_2, at_4) = train.Histograms("dense3/b")
    assert (at_2.step, at_4.step) == (2, 4)
    final = net.params["dense3/b"].astype(np.float64)
    assert at_4.histogram_value.num == final.size and at_4.histogram_value.max == pytest.approx(final.max())
    assert at_4.histogram_value.sum == pytest.approx(final.sum(), rel=1e-6)


def test_a_fit_ended_by_an_error_still_closes_the_tensorboard_writers(tmp_path):
    """on_train_end does not run when an error ends fit; close() does, so the writers' files and threads are
    not left open (and what was written is read back)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from staticnet.callbacks import TensorBoard

    class Failing(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("a callback's own failure")
    board = TensorBoard(tmp_path / "logs")
    with pytest.raises(RuntimeError, match="a callback's own failure"):
        spiral_model().fit(some_rows(40), epochs=4, batch_size=10, verbose=0, callbacks=[board, Failing()])
    assert board.files == {}  # closed
    events = EventAccumulator(str(tmp_path / "logs" / "train"))
    events.Reload()
    assert [s.step for s in events.Scalars("epoch_loss")] == [1, 2]


def test_tensorboard_arguments_are_checked_before_training(tmp_path):
    from staticnet.callbacks import TensorBoard
    with pytest.raises(ValueError, match=r"histogram_freq must be an int >= 0, got -1"):
        TensorBoard(tmp_path, histogram_freq=-1)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"log_dir=.*file' is a file; name a directory"):
        TensorBoard(tmp_path / "file")
    net = spiral_model()
    with pytest.raises(ValueError, match=r"TensorBoard log_dir=.*: the directory .*missing does not exist"):
        net.fit(some_rows(20), verbose=0, callbacks=[TensorBoard(tmp_path / "missing" / "logs")])
    assert net.epochs_done == 0


# ---------------------------------------------------------------- ReduceLROnPlateau

class Scores(Callback):
    """Puts a given value of `monitor` into each epoch's logs, ahead of the callbacks after it: a constructed
    sequence for ReduceLROnPlateau to watch."""

    def __init__(self, values, monitor="val_loss"):
        self.values, self.monitor = values, monitor

    def on_epoch_end(self, epoch, logs=None):
        logs[self.monitor] = self.values[epoch]


def plateau_rates(values, optimizer=None, monitor="val_loss", **settings):
    """The rate of each epoch of a fit whose `monitor` takes `values`, under ReduceLROnPlateau(**settings)."""
    X, Y = regression_rows()
    net = linear_model(optimizer or sn.SGD(lr=0.1))
    hist = net.fit(X, Y, epochs=len(values), batch_size=5, validation_data=(X, Y), verbose=0,
                   callbacks=[Scores(values, monitor), ReduceLROnPlateau(monitor=monitor, **settings)])
    return hist.history["lr"]


# Each expected sequence is worked out by hand from Keras's rules (keras/callbacks/reduce_lr_on_plateau.py), epoch
# by epoch in the comments (e: value -> what happens); a reduction changes the rate from the next epoch.
PLATEAU_CASES = [
    ("patience and cooldown", [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9],
     dict(factor=0.5, patience=2, cooldown=1),
     # e0 best; e1 best; e2 wait 1; e3 wait 2: reduce, cooldown 1; e4 cooldown ends, not better, wait 1; e5 best;
     # e6 wait 1; e7 wait 2: reduce; e8 cooldown ends, wait 1; e9 wait 2: reduce (seen from e10)
     [0.1] * 4 + [0.05] * 4 + [0.025] * 2),
    ("min_delta", [1.0, 0.97, 0.9, 0.88, 0.8], dict(factor=0.5, patience=1, min_delta=0.05),
     # e1 0.97 is not below 1.0 - 0.05: reduce; e2 best; e3 0.88 is not below 0.85: reduce; e4 best
     [0.1, 0.1, 0.05, 0.05, 0.025]),
    ("min_lr", [1.0] * 5, dict(factor=0.1, patience=1, min_lr=0.003),
     # e1 reduce to 0.01; e2 reduce to max(0.001, 0.003); e3, e4 at min_lr: no reduction
     [0.1, 0.1, 0.01, 0.003, 0.003]),
    ("mode max", [0.1, 0.2, 0.2, 0.3], dict(factor=0.5, patience=1, mode="max"),
     # e1 better (higher); e2 not: reduce; e3 better
     [0.1, 0.1, 0.1, 0.05]),
    ("mode auto on a loss", [0.1, 0.2, 0.2, 0.3], dict(factor=0.5, patience=1),
     # lower is better: e1, e2, e3 each not better: reduce after each
     [0.1, 0.1, 0.05, 0.025]),
    ("patience 0", [1.0, 2.0, 0.5], dict(factor=0.5, patience=0),
     # Keras reduces once wait >= patience: e0 best, e1 wait 1 >= 0: reduce; e2 best
     [0.1, 0.1, 0.05]),
]


@pytest.mark.parametrize("name,values,settings,expected", PLATEAU_CASES, ids=[c[0] for c in PLATEAU_CASES])
def test_reduce_lr_on_plateau_follows_keras_rules(name, values, settings, expected):
    np.testing.assert_allclose(plateau_rates(values, **settings), expected, rtol=1e-6)


def test_reduce_lr_on_plateau_scales_a_per_step_schedule():
    """Four steps an epoch under a 4-step warm-up: each epoch's last step is at the full rate, which the
    reductions scale."""
    rates = plateau_rates([1.0] * 4, sn.SGD(lr=0.1, schedule=sn.warmup(4)), factor=0.5, patience=1)
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05, 0.025], rtol=1e-6)


def test_reduce_lr_on_plateau_resumes_from_a_checkpoint(tmp_path):
    """Cut after epoch 4, between a reduction and the end of its cooldown: the resumed run reduces at the same
    epochs as the whole one, and trains the same weights bit for bit."""
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9]
    X, Y = regression_rows()

    def fit(net, **kwargs):
        return net.fit(X, Y, batch_size=5, validation_data=(X, Y), seed=2, verbose=0, **kwargs,
                       callbacks=[Scores(values), ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1)])
    whole = linear_model(sn.SGD(lr=0.1))
    fit(whole, epochs=10)
    fit(linear_model(sn.SGD(lr=0.1)), epochs=4, checkpoint=tmp_path / "run.snet")
    resumed = linear_model(sn.SGD(lr=0.1))
    fit(resumed, epochs=10, resume=tmp_path / "run.snet")
    assert resumed.history["lr"] == whole.history["lr"]
    np.testing.assert_allclose(whole.history["lr"], [0.1] * 4 + [0.05] * 4 + [0.025] * 2, rtol=1e-6)
    assert_same_weights(weights_of(resumed), weights_of(whole))
    # a ModelCheckpoint listed before the plateau still saves after it has counted the epoch
    listed_first = linear_model(sn.SGD(lr=0.1))
    listed_first.fit(X, Y, epochs=4, batch_size=5, validation_data=(X, Y), seed=2, verbose=0,
                     callbacks=[ModelCheckpoint(tmp_path / "first.snet"), Scores(values),
                                ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1)])
    again = linear_model(sn.SGD(lr=0.1))
    fit(again, epochs=10, resume=tmp_path / "first.snet")
    assert again.history["lr"] == whole.history["lr"]
    assert_same_weights(weights_of(again), weights_of(whole))


def test_reduce_lr_on_plateau_settings_are_checked(tmp_path):
    X, Y = regression_rows()
    net = linear_model(sn.SGD(lr=0.1))
    scheduled = linear_model(sn.SGD(lr=0.1, schedule=sn.cosine_decay(100)))
    mistakes = [
        (lambda: ReduceLROnPlateau(factor=1.0), r"ReduceLROnPlateau", r"factor must be a number in \(0, 1\), got 1.0"),
        (lambda: ReduceLROnPlateau(patience=-1), r"ReduceLROnPlateau", r"patience must be an int >= 0, got -1"),
        (lambda: ReduceLROnPlateau(min_lr=-0.1), r"ReduceLROnPlateau",
         r"min_lr must be a finite number >= 0, got -0.1"),
        (lambda: ReduceLROnPlateau(mode="mn"), r"ReduceLROnPlateau",
         r"mode must be one of 'auto', 'min', 'max'; did you mean 'min'\? got 'mn' \(str\)"),
        (lambda: net.fit(X, Y, verbose=0, callbacks=[ReduceLROnPlateau()]),
         r"fit", r"ReduceLROnPlateau monitors val_loss, a validation score: pass validation=\.\.\. \(or monitor one of "
                 r"loss\)"),
        (lambda: net.fit(X, Y, verbose=0, callbacks=[ReduceLROnPlateau(monitor="los")]),
         r"fit", r"ReduceLROnPlateau cannot monitor 'los'; did you mean 'loss'\? the epochs record loss"),
        (lambda: net.fit(X, Y, verbose=0, callbacks=[ReduceLROnPlateau("loss"), ReduceLROnPlateau("loss")]),
         r"fit", r"give one ReduceLROnPlateau, not 2: a checkpoint keeps the state of one"),
        (lambda: net.fit(X, Y, verbose=0, callbacks=[ReduceLROnPlateau("loss"),
                                                     LearningRateScheduler(lambda e, lr: lr)]),
         r"fit", r"give one of LearningRateScheduler and ReduceLROnPlateau: the scheduler sets each epoch's rate "
                 r"outright, undoing the reductions"),
        (lambda: scheduled.fit(X, Y, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: lr)]),
         r"fit", r"LearningRateScheduler sets each epoch's rate from the last one's, and the optimizer's schedule "
                 r"sn.cosine_decay\(total_steps=100, final=0.0\) changes the rate at every step: give one of the two"),
    ]
    for call, function, message in mistakes:
        with pytest.raises(ValueError, match=f"^{function} at {HERE}:{call.__code__.co_firstlineno}: {message}$"):
            call()
    assert net.epochs_done == 0 and scheduled.epochs_done == 0


@pytest.mark.parametrize("field,value,expected", [
    ("scale", 2.0, "a number in (0, 1], got a number (2.0)"),
    ("wait", -1, "an integer >= 0, got an integer (-1)"),
    ("best", "low", "a finite number or null, got a string ('low')"),
])
def test_a_corrupted_plateau_state_in_a_checkpoint_is_refused_naming_the_field(tmp_path, field, value, expected):
    from tests.test_serialize import set_field, with_manifest
    X, Y = regression_rows()
    path = tmp_path / "run.snet"
    linear_model(sn.SGD(lr=0.1)).fit(X, Y, epochs=1, validation_data=(X, Y), verbose=0, checkpoint=path,
                                     callbacks=[ReduceLROnPlateau()])
    path.write_bytes(with_manifest(path.read_bytes(), set_field(f"reduce_lr_on_plateau.{field}")(value)))
    with pytest.raises(sn.DataError, match=re.escape(f"{path}: field reduce_lr_on_plateau.{field} must be {expected}")):
        linear_model(sn.SGD(lr=0.1)).fit(X, Y, epochs=2, validation_data=(X, Y), verbose=0, resume=path,
                                         callbacks=[ReduceLROnPlateau()])
