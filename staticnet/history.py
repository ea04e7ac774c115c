"""What fit records: one dict per epoch, read as Keras's history too."""
from __future__ import annotations

import html

from .errors import NumericalError


class History:
    """Per-epoch records: loss, accuracy, val_loss, val_accuracy, val_mse, val_mae, lr, seconds."""

    def __init__(self, epochs=None):
        self.epochs: list[dict] = list(epochs or [])
        self.interrupted = False
        self.stopped_early_at: int | None = None  # the last epoch trained, when a callback stopped training
        self.best_epoch: int | None = None  # with early stopping: the epoch whose weights the model keeps
        self.numerical_error: NumericalError | None = None  # what the NaN guard stopped the last fit with

    def __getitem__(self, key):
        return [e.get(key) for e in self.epochs]

    @property
    def history(self) -> dict[str, list]:
        """Keras's form: each score's list over the epochs ({"loss": [...], "val_loss": [...], ...});
        `epochs` keeps the records themselves, numbers included."""
        keys = dict.fromkeys(k for e in self.epochs for k in e if k != "epoch")
        return {k: self[k] for k in keys}

    def __len__(self):
        return len(self.epochs)

    def _repr_html_(self):
        """How a notebook shows the history: a table, one row per epoch, and how the last fit ended."""
        keys = list(dict.fromkeys(k for e in self.epochs for k in e))
        cell = (lambda v: f"{v:.4f}" if isinstance(v, float) else html.escape("" if v is None else str(v)))
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
        rows = "".join("<tr>" + "".join(f"<td>{cell(e.get(k))}</td>" for k in keys) + "</tr>" for e in self.epochs)
        notes = [text for flag, text in ((self.interrupted, "interrupted"),
                                         (self.stopped_early_at, f"stopped early after epoch {self.stopped_early_at}"),
                                         (self.best_epoch, f"weights of epoch {self.best_epoch} kept")) if flag]
        caption = f"<caption>{html.escape('; '.join(notes))}</caption>" if notes else ""
        return f"<table>{caption}<tr>{head}</tr>{rows}</table>"

    def __repr__(self):
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4f}" for k, v in last.items() if isinstance(v, float))
        return f"<History {len(self.epochs)} epochs; last: {shown}>"
