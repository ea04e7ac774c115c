"""Plots people would rather see than read (matplotlib is an optional extra: pip install 'staticnet[plot]').

Each function returns a matplotlib Figure, so that a notebook cell ending in one shows it, and saves it as
well when given a path (the format from its extension: .png, .svg, .pdf).  The figures are made with pyplot
on whatever backend is in use (in a notebook, the inline one, whose display of a returned Figure needs it) and
at once taken out of pyplot's list of open figures: a notebook shows each once, and a script leaks none.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import ArgumentError, MissingDependency

NOT_CURVES = ("epoch", "lr", "seconds", "threads")  # per-epoch records that are not scores to plot


def require_matplotlib() -> None:
    """MissingDependency naming the extra where matplotlib is missing (checked by `staticnet train --plot` before
    training, not after it)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependency("plotting needs matplotlib: pip install 'staticnet[plot]'") from None


def _pyplot():
    """pyplot on the Agg backend, for the figures written straight to files (the search's plots, the examples)."""
    require_matplotlib()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure(width: float, height: float):
    require_matplotlib()
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(width, height))
    plt.close(fig)
    return fig


def _saved(fig, path):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=110)
    return fig


def _as_dict(history) -> dict[str, list]:
    """Keras's dict of lists, from a History or the dict itself (hist.history); the epochs are its positions."""
    records = history.history if hasattr(history, "history") else history
    if not isinstance(records, dict) or not all(isinstance(v, (list, tuple)) for v in records.values()):
        raise TypeError(f"plot.history takes a History or its .history dict of lists, got {type(history).__name__}")
    return dict(records)


def speed_panel(history) -> tuple[str, dict[str, list]] | None:
    """The title and the curves (layer -> speed per epoch) of the speed-of-learning panel, where fit tracked it
    (track=["learning_speed"]), else None: the hidden layers, every tracked layer but the last (the output
    layer), as in the book's figures; a network with one layer shows that one."""
    from .learning_speed import HISTORY_PREFIX
    tracked = {k[len(HISTORY_PREFIX):]: v for k, v in _as_dict(history).items() if k.startswith(HISTORY_PREFIX)}
    if len(tracked) > 1:
        hidden = dict(list(tracked.items())[:-1])
        return f"speed of learning: {len(hidden)} hidden layer{'s' if len(hidden) > 1 else ''}", hidden
    return ("speed of learning", tracked) if tracked else None


def _score_panels(records: dict) -> dict[str, dict[str, list]]:
    """Score name -> {"training": values, "validation": values}: the loss first, then each metric, training and
    validation on one panel; a score recorded on the validation data alone (precision, mse) is its own panel."""
    from .learning_speed import HISTORY_PREFIX
    panels: dict[str, dict[str, list]] = {"loss": {}}
    for key, values in records.items():
        if key in NOT_CURVES or key.startswith(HISTORY_PREFIX):
            continue
        if not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            continue  # a callback's strings or Nones
        score = key.removeprefix("val_")
        panels.setdefault(score, {})["validation" if key.startswith("val_") else "training"] = values
    return {score: curves for score, curves in panels.items() if curves}


def history(hist, path=None):
    """The training curves: a panel for the loss and one for each metric (training and validation), and the
    speed of learning of the hidden layers on a log scale where fit tracked it.  `hist`: what fit returned,
    or its Keras dict hist.history.  Saved to `path` when given; returns the Figure."""
    records = _as_dict(hist)
    panels = _score_panels(records)
    speeds = speed_panel(records)
    count = len(panels) + (1 if speeds else 0)
    fig = _figure(5 * count, 4)
    axes = fig.subplots(1, count, squeeze=False)[0]
    length = max((len(v) for v in records.values()), default=0)
    epochs = list(range(1, length + 1))
    marker = "o" if length <= 50 else None  # markers would hide a long run's curve
    for ax, (score, curves) in zip(axes, panels.items()):
        for label, values in curves.items():
            ax.plot(epochs[:len(values)], [np.nan if v is None else v for v in values], marker=marker, label=label)
        ax.set(title=score, xlabel="epoch")
    if speeds:
        title, curves = speeds
        for layer, values in curves.items():
            axes[-1].plot(epochs[:len(values)], [np.nan if v is None else v for v in values], label=layer)
        axes[-1].set(title=title, xlabel="epoch", ylabel="||mean of dC/db||", yscale="log")
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend()
    fig.tight_layout()
    return _saved(fig, path)


def confusion_matrix(counts, path=None, labels=None):
    """A confusion matrix (net.confusion_matrix(data): rows the true classes, columns the predicted ones) as
    a heat map with each count written in its cell.  `labels`: the classes' names (default 0, 1, ...).  Saved
    to `path` when given; returns the Figure."""
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ArgumentError(f"plot.confusion_matrix takes a square array of counts, got shape {counts.shape}")
    classes = len(counts)
    labels = [str(i) for i in range(classes)] if labels is None else [str(label) for label in labels]
    if len(labels) != classes:
        raise ArgumentError(f"plot.confusion_matrix: {len(labels)} labels for {classes} classes")
    side = 2 + 0.5 * classes
    fig = _figure(side + 1, side)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set(xticks=range(classes), yticks=range(classes), xticklabels=labels, yticklabels=labels,
           xlabel="predicted class", ylabel="true class", title="confusion matrix")
    middle = counts.max() / 2 if counts.size else 0
    for i in range(classes):
        for j in range(classes):
            ax.text(j, i, f"{counts[i, j]:,}", ha="center", va="center",
                    color="white" if counts[i, j] > middle else "black", fontsize=8)
    fig.tight_layout()
    return _saved(fig, path)
