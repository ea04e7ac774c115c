"""Early stopping in fit: what it watches, what it says, and that a resumed run stops as an uninterrupted one."""
import os
import re

import pytest

import staticnet as sn
from tests.test_model import assert_same_weights, some_rows, spiral_model, weights_of

HERE = re.escape(os.path.relpath(__file__))


@pytest.fixture(scope="module")
def spirals_net():
    return spiral_model()


def test_the_early_stopping_message_says_what_happened(capsys):
    data = sn.data.two_spirals(300, seed=0)
    val = sn.data.two_spirals(300, seed=9)
    stopped = spiral_model(optimizer=sn.SGD(lr=2.0))
    hist = stopped.fit(data, epochs=40, batch_size=10, validation=val, early_stopping=3, seed=0, verbose=1)
    assert (hist.stopped_early_at, hist.best_epoch) == (11, 8)
    assert ("early stopping: val_accuracy did not improve for 3 epochs after epoch 8; stopped after epoch 11 and "
            f"restored the weights of epoch 8 (val_accuracy {hist['val_accuracy'][7]:.4f})") in capsys.readouterr().err
    patient = spiral_model(optimizer=sn.SGD(lr=2.0))  # the same run, with patience to spare
    hist = patient.fit(data, epochs=11, batch_size=10, validation=val, early_stopping=10, seed=0, verbose=1)
    assert (hist.stopped_early_at, hist.best_epoch) == (None, 8)
    assert (f"early stopping: did not stop early (epochs up to 11 trained); restored the weights of epoch 8 "
            f"(val_accuracy {hist['val_accuracy'][7]:.4f}), the best, instead of epoch 11's") in capsys.readouterr().err
    assert_same_weights(weights_of(patient), weights_of(stopped))
    steady = spiral_model(optimizer=sn.Adam(lr=0.005))
    hist = steady.fit(data, epochs=3, batch_size=10, validation=val, seed=0, verbose=1,
                      early_stopping={"patience": 5, "monitor": "val_loss"})
    assert hist["val_loss"] == sorted(hist["val_loss"], reverse=True)  # each epoch the best so far
    assert hist.stopped_early_at is None and hist.best_epoch == 3
    assert "early stopping" not in capsys.readouterr().err  # nothing stopped, nothing restored


def test_early_stopping_settings_are_checked_before_training(spirals_net):
    data, val = some_rows(), some_rows(seed=9)
    before = weights_of(spirals_net)
    mistakes = [
        (lambda: spirals_net.fit(data, validation=val, early_stopping={"monitor": "val_acc"}, verbose=0),
         r"early_stopping cannot monitor 'val_acc'; did you mean 'val_accuracy'\? the epochs record loss, "
         r"accuracy, val_loss, val_accuracy"),
        (lambda: spirals_net.fit(data, early_stopping=3, verbose=0),
         r"early_stopping monitors val_accuracy, a validation score: pass validation=\.\.\. \(or monitor one of loss, "
         r"accuracy\)"),
        (lambda: spirals_net.fit(data, validation=val, early_stopping={"patience": 3, "patiance": 4}, verbose=0),
         r"early_stopping has no setting 'patiance'; it takes patience, monitor, min_delta"),
        (lambda: spirals_net.fit(data, validation=val, early_stopping={"monitor": "val_loss"}, verbose=0),
         r"early_stopping needs a patience \(epochs without improvement\)"),
        (lambda: spirals_net.fit(data, validation=val, early_stopping=0, verbose=0),
         r"early_stopping patience must be a positive int, got 0"),
    ]
    for call, message in mistakes:
        with pytest.raises(ValueError, match=f"^fit at {HERE}:{call.__code__.co_firstlineno}: {message}$"):
            call()
    assert_same_weights(weights_of(spirals_net), before)


def test_resume_with_early_stopping_stops_and_restores_as_the_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICNET_NUM_THREADS", "1")  # a fixed thread count: bit-exact runs
    data, val = sn.data.two_spirals(300, seed=0), sn.data.two_spirals(300, seed=9)
    settings = dict(batch_size=10, validation=val, early_stopping=3, verbose=0)
    whole = spiral_model(optimizer=sn.SGD(lr=2.0))
    whole.fit(data, epochs=40, seed=0, **settings)
    assert whole.history.best_epoch < 9 < whole.history.stopped_early_at  # the cut below falls between the two
    path = str(tmp_path / "ckpt.snet")
    spiral_model(optimizer=sn.SGD(lr=2.0)).fit(data, epochs=9, seed=0, checkpoint=path, **settings)
    resumed = spiral_model(optimizer=sn.SGD(lr=2.0), seed=99)
    resumed.fit(data, epochs=40, resume=path, checkpoint=path, **settings)
    assert resumed.history.stopped_early_at == whole.history.stopped_early_at
    assert resumed.history.best_epoch == whole.history.best_epoch
    assert_same_weights(weights_of(resumed), weights_of(whole))
    finished = spiral_model(optimizer=sn.SGD(lr=2.0), seed=98)  # from the checkpoint of the epoch that stopped
    finished.fit(data, epochs=40, resume=path, **settings)
    assert len(finished.history) == finished.history.stopped_early_at == whole.history.stopped_early_at
    assert_same_weights(weights_of(finished), weights_of(whole))
