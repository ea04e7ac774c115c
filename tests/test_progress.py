"""The progress bar: it fits the terminal, shows ETA and rate, and leaves one line per epoch."""
import io
import sys

import pytest

from staticnet.progress import wrapped
from tests.test_model import some_rows, spiral_model


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(scope="module")
def ready_net():
    net = spiral_model()
    net.fit(some_rows(40), epochs=1, batch_size=10, validation=some_rows(40, seed=9), verbose=0)  # compiled now
    return net


def shown_lines(output: str) -> list[str]:
    """Every line a terminal would show at some moment: each redraw after a carriage return, each line."""
    return [part for line in output.split("\n") for part in line.split("\r")]


def fit_on(stream, monkeypatch, net, columns=None):
    if columns:
        monkeypatch.setenv("COLUMNS", str(columns))
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr("staticnet.threads.SHORTEST_CHUNK", 0.0)  # a bar per fiftieth of these quick epochs
    hist = net.fit(some_rows(2000), epochs=2, batch_size=10, validation=some_rows(200, seed=9), verbose=1)
    monkeypatch.undo()
    return stream.getvalue(), hist


@pytest.mark.parametrize("columns", [60, 80])
def test_no_line_of_the_bar_or_the_epochs_exceeds_the_terminal(ready_net, monkeypatch, columns):
    output, hist = fit_on(FakeTerminal(), monkeypatch, ready_net, columns)
    lines = shown_lines(output)
    assert max(len(line) for line in lines) < columns
    bars = [line for line in lines if "%|" in line]
    assert len(bars) > 10 and any("ETA" in line for line in bars)
    if columns == 80:
        assert any("ex/s" in line and "loss" in line for line in bars)  # the rate and the scores fit at 80
    final = [line.split("\r")[-1] for line in output.split("\n") if line]  # what stays once each bar is cleared
    epochs = [line for line in final if not line.startswith("  ")]
    last = ready_net.epochs_done
    assert [line.split("  ")[0] for line in epochs] == [f"epoch {last - 1}/{last}", f"epoch {last}/{last}"]
    for record, line in zip(hist.epochs[-2:], epochs):
        assert f"loss {record['loss']:.4f}  acc {record['accuracy']:.4f}" in line
    if columns == 80:  # the default settings: one line per epoch, under 80 columns
        assert len(final) == 2 and all(f"val_acc {r['val_accuracy']:.4f}" in line
                                       for r, line in zip(hist.epochs[-2:], final))


def test_off_a_terminal_only_the_epoch_lines_are_written(ready_net, monkeypatch):
    output, hist = fit_on(io.StringIO(), monkeypatch, ready_net)
    assert "\r" not in output and "%|" not in output
    lines = output.splitlines()
    assert len(lines) == 2 and all(len(line) < 80 for line in lines)
    last = ready_net.epochs_done
    assert [line.split("  ")[0] for line in lines] == [f"epoch {last - 1}/{last}", f"epoch {last}/{last}"]


def test_an_epoch_line_too_long_for_the_width_goes_on_indented_lines_and_optional_fields_only_where_they_fit():
    fields = ["loss 0.1234", "acc 0.9876", "val_loss 0.2345", "val_acc 0.9765", "0.35 s"]
    assert wrapped("epoch 3/30", fields, ["2 threads"], 120) == [
        "epoch 3/30  loss 0.1234  acc 0.9876  val_loss 0.2345  val_acc 0.9765  0.35 s  2 threads"]
    assert wrapped("epoch 3/30", fields, ["2 threads"], 79) == [
        "epoch 3/30  loss 0.1234  acc 0.9876  val_loss 0.2345  val_acc 0.9765  0.35 s"]
    assert wrapped("epoch 3/30", fields, ["2 threads"], 40) == [
        "epoch 3/30  loss 0.1234  acc 0.9876", "  val_loss 0.2345  val_acc 0.9765", "  0.35 s  2 threads"]
