"""Plots people would rather see than read (matplotlib is an optional extra)."""
from __future__ import annotations

from .errors import MissingDependency


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("plotting needs matplotlib: pip install 'staticnet[plot]'") from None
    return plt


def training_curves(history, path: str) -> None:
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    plt = _pyplot()
    epochs = history["epoch"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        if any(v is not None for v in history[key]):
            left.plot(epochs, history[key], marker="o", label=label)
    for key, label in (("accuracy", "training"), ("val_accuracy", "validation")):
        if any(v is not None for v in history[key]):
            right.plot(epochs, history[key], marker="o", label=label)
    left.set(title="loss", xlabel="epoch")
    right.set(title="accuracy", xlabel="epoch")
    from matplotlib.ticker import MaxNLocator
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
