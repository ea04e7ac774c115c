"""sn.plot: the training curves of a History (or its Keras dict) and a confusion matrix, as Figures."""
import sys

import numpy as np
import pytest

import staticnet as sn
from staticnet.plot import MissingDependency

PNG = b"\x89PNG\r\n\x1a\n"


def history():
    return sn.History([{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7, "lr": 0.1,
                        "val_precision": 0.65, "seconds": 1.0},
                       {"epoch": 2, "loss": 0.3, "accuracy": 0.9, "val_loss": 0.4, "val_accuracy": 0.85, "lr": 0.1,
                        "val_precision": 0.8, "seconds": 1.0}])


def test_without_matplotlib_the_message_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependency, match=r"plotting needs matplotlib: pip install 'staticnet\[plot\]'"):
        sn.plot.history(history(), str(tmp_path / "c.png"))


@pytest.mark.parametrize("given", [history, lambda: history().history], ids=["History", "hist.history"])
def test_history_draws_each_score_training_and_validation(given, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is an optional extra")
    path = tmp_path / "curves.png"
    fig = sn.plot.history(given(), path=path)
    assert path.read_bytes()[:8] == PNG
    panels = {ax.get_title(): {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
              for ax in fig.axes}
    assert panels == {"loss": {"training": [0.5, 0.3], "validation": [0.6, 0.4]},
                      "accuracy": {"training": [0.8, 0.9], "validation": [0.7, 0.85]},
                      "precision": {"validation": [0.65, 0.8]}}
    assert all(list(line.get_xdata()) == [1, 2] for ax in fig.axes for line in ax.get_lines())


def test_history_without_a_path_writes_nothing_and_leaves_no_figure_open(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="matplotlib is an optional extra")
    monkeypatch.chdir(tmp_path)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    open_before = plt.get_fignums()
    assert isinstance(sn.plot.history(history()), Figure) and list(tmp_path.iterdir()) == []
    assert plt.get_fignums() == open_before


def test_confusion_matrix_writes_every_count_in_its_cell(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is an optional extra")
    counts = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    path = tmp_path / "cm.png"
    fig = sn.plot.confusion_matrix(counts, path, labels=["a", "b", "c"])
    assert path.read_bytes()[:8] == PNG
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(i, j): str(counts[i, j]) for i in range(3) for j in range(3)}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"square array of counts, got shape \(2, 3\)"):
        sn.plot.confusion_matrix(np.zeros((2, 3)))
