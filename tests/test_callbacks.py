"""fit's callbacks: the hooks and their order, stopping, History.history, and the callbacks staticnet ships."""
import csv
import os
import re

import numpy as np
import pytest

import staticnet as sn
from staticnet.callbacks import Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint
from tests.test_early_stopping import ON_VAL_LOSS, approaching
from tests.test_model import assert_same_weights, some_rows, spiral_model, weights_of

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
    assert set(recorder.logs[0]) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}


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
    assert rows[0] == ["epoch", "loss", "accuracy", "lr", "seconds", "threads"]
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3]
    for row, epoch in zip(rows[1:], range(3)):
        assert float(row[1]) == recorder.logs[epoch]["loss"] and float(row[3]) == recorder.logs[epoch]["lr"]
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
    mistakes = [
        (lambda: spirals_net.fit(data, validation=val, verbose=0, callbacks=[EarlyStopping(2, monitor="val_acc")]),
         r"fit", r"EarlyStopping cannot monitor 'val_acc'; the epochs record loss, accuracy, val_loss, val_accuracy"),
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
    ]
    for call, function, message in mistakes:
        with pytest.raises(ValueError, match=f"^{function} at {HERE}:{call.__code__.co_firstlineno}: {message}$"):
            call()
    assert_same_weights(weights_of(spirals_net), before)


@pytest.fixture(scope="module")
def spirals_net():
    return spiral_model()
