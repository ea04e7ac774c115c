import sys

import pytest

import staticnet as sn
from staticnet.plot import MissingDependency, training_curves


def history():
    return sn.History([{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7},
                       {"epoch": 2, "loss": 0.3, "accuracy": 0.9, "val_loss": 0.4, "val_accuracy": 0.85}])


def test_without_matplotlib_the_message_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependency, match=r"plotting needs matplotlib: pip install 'staticnet\[plot\]'"):
        training_curves(history(), str(tmp_path / "c.png"))


def test_training_curves_are_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is an optional extra")
    path = tmp_path / "c.png"
    training_curves(history(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
