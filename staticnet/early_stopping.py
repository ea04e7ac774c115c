"""Early stopping: watch one score per epoch, keep the best epoch's weights, stop when patience runs out.

Its whole state (the best score, its epoch and weights, the epochs waited since) goes into every
checkpoint, so a run resumed from one stops at the same epoch and restores the same weights as the
run that was never interrupted.
"""
from __future__ import annotations

from . import checks

LOWER_IS_BETTER = ("loss", "mse", "mae")  # monitors are these or accuracy, maybe prefixed by val_


def _refuse(message):
    checks.refuse("fit", message, ValueError)


class EarlyStopping:
    def __init__(self, monitor: str, patience: int, min_delta: float = 0.0):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best_score: float | None = None  # the monitored value, negated where lower is better
        self.best_epoch: int | None = None
        self.best_weights: dict | None = None  # leaf name -> array
        self.waited = 0  # epochs since the best one

    @classmethod
    def from_spec(cls, spec, monitors, default_monitor):
        """From fit's `early_stopping` (a patience, or a dict of patience, monitor, min_delta), checked against
        the scores the epochs will record (`monitors`); None when not asked for."""
        if spec is None or spec is False:
            return None
        if not isinstance(spec, dict):
            spec = {"patience": spec}
        unknown = sorted(set(spec) - {"patience", "monitor", "min_delta"})
        if unknown:
            _refuse(f"early_stopping has no setting {unknown[0]!r}; it takes patience, monitor, min_delta")
        monitor = spec.get("monitor", default_monitor)
        if monitor not in monitors:
            if isinstance(monitor, str) and monitor.startswith("val_") and monitor[4:] in monitors:
                _refuse(f"early_stopping monitors {monitor}, a validation score: pass validation=... "
                       f"(or monitor one of {', '.join(monitors)})")
            _refuse(f"early_stopping cannot monitor {monitor!r}; the epochs record {', '.join(monitors)}")
        if "patience" not in spec:
            _refuse("early_stopping needs a patience (epochs without improvement)")
        patience = checks.count("fit", "early_stopping patience", spec["patience"], error=ValueError)
        min_delta = checks.real("fit", "early_stopping min_delta", spec.get("min_delta", 0.0), checks.NON_NEGATIVE,
                                error=ValueError)
        return cls(monitor, patience, min_delta)

    def update(self, record: dict, epoch: int, snapshot) -> None:
        """Take this epoch's record; `snapshot()` gives the weights to keep when the epoch is the best so far."""
        score = record[self.monitor]
        if self.monitor.removeprefix("val_") in LOWER_IS_BETTER:
            score = -score
        if self.best_score is None or score > self.best_score + self.min_delta:
            self.best_score, self.best_epoch, self.best_weights, self.waited = score, epoch, snapshot(), 0
        else:
            self.waited += 1

    @property
    def exhausted(self) -> bool:
        return self.waited >= self.patience

    @property
    def best_value(self) -> float:
        """The best monitored value as the records show it."""
        return -self.best_score if self.monitor.removeprefix("val_") in LOWER_IS_BETTER else self.best_score

    def state(self) -> dict:
        """What a checkpoint keeps (the weights apart, as arrays)."""
        return {"monitor": self.monitor, "best_score": self.best_score, "best_epoch": self.best_epoch,
                "waited": self.waited}

    def resume_from(self, state: dict, weights: dict) -> None:
        """Continue from a checkpoint's state, if it watched the same score (otherwise start afresh)."""
        if state["monitor"] == self.monitor:
            self.best_score, self.best_epoch, self.waited = state["best_score"], state["best_epoch"], state["waited"]
            self.best_weights = weights

    def report(self, last_epoch: int, interrupted: bool) -> str | None:
        """What happened, for the user; None when the weights kept are simply the last epoch's."""
        best = f"the weights of epoch {self.best_epoch} ({self.monitor} {self.best_value:.4f})"
        if self.exhausted:
            return (f"early stopping: {self.monitor} did not improve for {self.waited} epochs after epoch "
                    f"{self.best_epoch}; stopped after epoch {last_epoch} and restored {best}")
        if interrupted:
            return f"early stopping: training was interrupted; restored {best}, the best"
        if self.best_epoch != last_epoch:
            return (f"early stopping: did not stop early (epochs up to {last_epoch} trained); restored {best}, the "
                    f"best, instead of epoch {last_epoch}'s")
        return None
