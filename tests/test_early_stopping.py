"""Early stopping in fit: what it watches, what it says, and that a resumed run stops as an uninterrupted one."""
import math
import os
import re

import numpy as np
import pytest

import staticnet as sn
from tests.test_model import assert_same_weights, some_rows, spiral_model, weights_of

HERE = re.escape(os.path.relpath(__file__))


@pytest.fixture(scope="module")
def spirals_net():
    return spiral_model()


def trained_weight(epochs, start=0.0):
    """The weight of approaching()'s model after `epochs` epochs, in float64: w <- w + lr (1 - sigmoid(w))."""
    w = start
    for _ in range(epochs):
        w += 1.0 - 1.0 / (1.0 + math.exp(-w))
    return w


def approaching(best_epoch, start=0.0):
    """(model, training data, validation data) whose val_loss falls for `best_epoch` epochs and rises after,
    whatever the machine's rounding.  One weight w, from `start`, learns the label 1 of rows that are all x = 1
    through a sigmoid: a batch of 10 rows is one SGD step an epoch (lr 1), w <- w + 1 - sigmoid(w).  The
    validation rows' label is sigmoid(w) after best_epoch epochs (trained_weight), where their cross-entropy is
    lowest.  Around it neighbouring epochs' val_loss differ by more than 5e-4, far above float32 rounding, so the
    best epoch cannot move, as it does in a seeded run of a real network, which follows its CPU's rounding."""
    x, y = sn.input("x", (None, 1)), sn.input("y", (None, 1))
    w = sn.param("w", value=np.full((1, 1), start, np.float32))
    p = sn.sigmoid(sn.matmul(x, w))
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=1.0))
    ones, label = np.ones((10, 1), np.float32), 1.0 / (1.0 + math.exp(-trained_weight(best_epoch, start)))
    return net, {"x": ones, "y": ones}, {"x": ones, "y": np.full((10, 1), label, np.float32)}


ON_VAL_LOSS = {"monitor": "val_loss"}  # the constructed curve is val_loss's (its accuracy never changes)


def test_the_early_stopping_message_says_what_happened(capsys):
    stopped, data, val = approaching(best_epoch=8)
    hist = stopped.fit(data, epochs=40, batch_size=10, validation=val, early_stopping={"patience": 3, **ON_VAL_LOSS},
                       verbose=1)
    assert (hist.stopped_early_at, hist.best_epoch) == (11, 8)
    assert ("early stopping: val_loss did not improve for 3 epochs after epoch 8; stopped after epoch 11 and "
            f"restored the weights of epoch 8 (val_loss {hist['val_loss'][7]:.4f})") in capsys.readouterr().err
    assert float(stopped.params["w"][0, 0]) == pytest.approx(trained_weight(8), rel=1e-5)  # epoch 8's, not 11's
    patient, data, val = approaching(best_epoch=8)  # the same run, with patience to spare
    hist = patient.fit(data, epochs=11, batch_size=10, validation=val, early_stopping={"patience": 10, **ON_VAL_LOSS},
                       verbose=1)
    assert (hist.stopped_early_at, hist.best_epoch) == (None, 8)
    assert (f"early stopping: did not stop early (epochs up to 11 trained); restored the weights of epoch 8 "
            f"(val_loss {hist['val_loss'][7]:.4f}), the best, instead of epoch 11's") in capsys.readouterr().err
    assert_same_weights(weights_of(patient), weights_of(stopped))
    steady, data, val = approaching(best_epoch=5)
    hist = steady.fit(data, epochs=3, batch_size=10, validation=val, verbose=1,
                      early_stopping={"patience": 5, **ON_VAL_LOSS})
    assert hist["val_loss"] == sorted(hist["val_loss"], reverse=True)  # each epoch the best so far
    assert hist.stopped_early_at is None and hist.best_epoch == 3
    assert "early stopping" not in capsys.readouterr().err  # nothing stopped, nothing restored


def test_a_classifier_stops_on_val_accuracy_by_default(capsys):
    """Where the model reports accuracy, early stopping watches val_accuracy; the epoch it stops at follows this
    machine's rounding, so the run is checked against its own record."""
    data, val = sn.data.two_spirals(300, seed=0), sn.data.two_spirals(300, seed=9)
    net = spiral_model(optimizer=sn.SGD(lr=2.0))
    hist = net.fit(data, epochs=40, batch_size=10, validation=val, early_stopping=3, seed=0, verbose=1)
    scores = hist["val_accuracy"]
    best = scores.index(max(scores)) + 1  # the first epoch with the best score
    assert hist.best_epoch == best
    assert hist.stopped_early_at in (None, best + 3) and len(hist) == (hist.stopped_early_at or 40)
    if best != len(hist):  # weights restored from an earlier epoch: the message names it and its score
        assert f"restored the weights of epoch {best} (val_accuracy {scores[best - 1]:.4f})" in capsys.readouterr().err


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


def test_resume_with_early_stopping_stops_and_restores_as_the_uninterrupted_run(tmp_path):
    settings = dict(batch_size=10, early_stopping={"patience": 3, **ON_VAL_LOSS}, verbose=0)
    whole, data, val = approaching(best_epoch=8)
    whole.fit(data, epochs=40, validation=val, **settings)
    assert (whole.history.best_epoch, whole.history.stopped_early_at) == (8, 11)  # the cut below falls between
    path = str(tmp_path / "ckpt.snet")
    approaching(best_epoch=8)[0].fit(data, epochs=9, validation=val, checkpoint=path, **settings)
    resumed = approaching(best_epoch=8, start=0.5)[0]  # other weights: the checkpoint's replace them
    resumed.fit(data, epochs=40, validation=val, resume=path, checkpoint=path, **settings)
    assert resumed.history.stopped_early_at == whole.history.stopped_early_at
    assert resumed.history.best_epoch == whole.history.best_epoch
    assert_same_weights(weights_of(resumed), weights_of(whole))
    finished = approaching(best_epoch=8, start=0.25)[0]  # from the checkpoint of the epoch that stopped
    finished.fit(data, epochs=40, validation=val, resume=path, **settings)
    assert len(finished.history) == finished.history.stopped_early_at == whole.history.stopped_early_at
    assert_same_weights(weights_of(finished), weights_of(whole))
