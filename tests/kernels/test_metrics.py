import numpy as np

from staticnet.kernels import metrics as K


def test_correct_counts_match_numpy():
    rng = np.random.default_rng(0)
    pred = rng.random((50, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 50)
    labels[:20] = pred[:20].argmax(1)
    expected = int(np.sum(pred.argmax(1) == labels))
    assert K.correct_index(pred, labels) == expected
    assert K.correct_one_hot(pred, np.eye(10, dtype=np.float32)[labels]) == expected
    p, t = rng.random(30), rng.choice([-1.0, 1.0], 30)
    assert K.correct_binary(p, t) == int(np.sum((p > 0.5) == (t > 0.5)))
