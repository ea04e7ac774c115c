"""Plots people would rather see than read (matplotlib is an optional extra)."""
from __future__ import annotations

import numpy as np

from .errors import MissingDependency


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("plotting needs matplotlib: pip install 'staticnet[plot]'") from None
    return plt


def speed_panel(history) -> tuple[str, dict[str, list]] | None:
    """The title and the curves (layer -> speed per epoch) of the speed-of-learning panel, where fit tracked it
    (track=["learning_speed"]), else None: the hidden layers, every tracked layer but the last (the output
    layer), as in the book's figures; a network with one layer shows that one."""
    from .learning_speed import HISTORY_PREFIX
    tracked = {k[len(HISTORY_PREFIX):]: v for k, v in history.history.items() if k.startswith(HISTORY_PREFIX)}
    if len(tracked) > 1:
        hidden = dict(list(tracked.items())[:-1])
        return f"speed of learning: {len(hidden)} hidden layer{'s' if len(hidden) > 1 else ''}", hidden
    return ("speed of learning", tracked) if tracked else None


def curves_figure(history):
    """The figure training_curves writes: loss and accuracy, and the speed-of-learning panel on a log scale
    where fit tracked it."""
    plt = _pyplot()
    epochs = history["epoch"]
    panel = speed_panel(history)
    marker = "o" if len(epochs) <= 50 else None  # markers would hide a long run's curve
    fig, axes = plt.subplots(1, 3 if panel else 2, figsize=(15 if panel else 10, 4))
    left, right = axes[:2]
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        if any(v is not None for v in history[key]):
            left.plot(epochs, history[key], marker=marker, label=label)
    for key, label in (("accuracy", "training"), ("val_accuracy", "validation")):
        if any(v is not None for v in history[key]):
            right.plot(epochs, history[key], marker=marker, label=label)
    left.set(title="loss", xlabel="epoch")
    right.set(title="accuracy", xlabel="epoch")
    if panel:
        title, curves = panel
        for layer, values in curves.items():
            axes[2].plot(epochs, [np.nan if v is None else v for v in values], label=layer)
        axes[2].set(title=title, xlabel="epoch", ylabel="||mean of dC/db||", yscale="log")
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def training_curves(history, path: str) -> None:
    """curves_figure(history) as a PNG."""
    fig = curves_figure(history)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
