"""What a search found: every trial's record, the best one, the table and the plot."""
from __future__ import annotations

import csv
import io
import json
import os

from ..callbacks import Monitor
from .store import finite_or_none, write_file, write_json

FINISHED = "ok"


def shown_value(value) -> str:
    """A parameter value in a table cell or a live line: floats short (0.1, 3, 1e-05), the rest as written."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def first_line(text: str | None, width: int | None = None) -> str:
    line = text.splitlines()[0] if text else ""
    return line if width is None or len(line) <= width else line[:width - 3] + "..."


class SearchResult:
    """The records of a search's trials (each the dict its JSON file holds), in the space's order.

    best: the finished trial with the best monitored value (ties: the earlier trial), as {"trial", "params",
    <monitor>, "epoch", "seed", "model"}, or None when no trial finished; for successive halving, only a
    trial that finished the last rung (`last_rung` epochs) can be best: one the first rung left behind,
    trained fewer epochs, is no answer to the search.  trained: the trials this run trained (the others were
    in the directory already)."""

    def __init__(self, directory: str, names: list[str], records: list[dict], trained: list[str],
                 last_rung: int | None = None):
        self.directory, self.names, self.records, self.trained = directory, names, records, trained
        self.last_rung = last_rung
        finished = [r for r in records if r["status"] == FINISHED]
        self.monitor = finished[0]["monitor"] if finished else None

    def _score(self, record) -> float:
        return Monitor(record["monitor"]).score({record["monitor"]: record["best_value"]})

    def ranked(self) -> list[dict]:
        """Finished trials best first, then the failed and killed ones in the space's order."""
        finished = [r for r in self.records if r["status"] == FINISHED]
        finished.sort(key=lambda r: (-self._score(r), r["index"]))
        return finished + [r for r in self.records if r["status"] != FINISHED]

    def _contends(self, record) -> bool:
        return record["status"] == FINISHED and (self.last_rung is None
                                                 or (record.get("epochs_target") or 0) >= self.last_rung)

    @property
    def best(self) -> dict | None:
        top = next((r for r in self.ranked() if self._contends(r)), None)
        if top is None:
            return None
        return {"trial": top["trial"], "params": top["params"], top["monitor"]: top["best_value"],
                "epoch": top["best_epoch"], "seed": top["seed"], "model": os.path.join(self.directory, top["model"])}

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        best = self.best
        shown = (f"best {best['trial']} {best['params']} {self.monitor} {best[self.monitor]:.4f}" if best
                 else self.why_no_best())
        return f"<SearchResult {len(self.records)} trials in {self.directory}: {shown}>"

    def why_no_best(self) -> str:
        """Why `best` is None, for a message."""
        if self.last_rung is not None and any(r["status"] == FINISHED for r in self.records):
            return f"no trial finished the last rung ({self.last_rung} epochs)"
        return "no trial finished"

    # ------------------------------------------------------------ tables
    def _columns(self) -> list[str]:
        return (["trial"] + self.names + ["seed", self.monitor or "score", "epoch", "epochs", "seconds",
                                          "compile s", "worker", "status"])

    def _row(self, record: dict, width: int | None) -> list:
        status = record["status"]
        if status == FINISHED and record.get("stopped_early"):
            status = "stopped early"
        elif status != FINISHED:
            status = f"{status}: {first_line(record.get('error'), width)}"
        return ([record["trial"]] + [record["params"][n] for n in self.names]
                + [record["seed"], record.get("best_value"), record.get("best_epoch"), record.get("epochs"),
                   record.get("seconds"), record.get("compile_seconds"), record.get("worker"), status])

    def table(self, format: str = "markdown") -> str:
        """Every trial, best first: "markdown" (as printed), "csv", or "json" (the full records, histories
        included)."""
        if format == "json":
            return json.dumps(finite_or_none(self.ranked()), indent=1) + "\n"
        if format == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(self._columns())
            for record in self.ranked():
                writer.writerow(["" if v is None else v for v in self._row(record, None)])
            return out.getvalue()
        if format != "markdown":
            raise ValueError(f"table format must be 'markdown', 'csv' or 'json', got {format!r}")
        formats = {"seconds": "{:.1f}", "compile s": "{:.2f}", self.monitor or "score": "{:.4f}"}

        def cell(column, value):
            if value is None:
                return ""
            return formats[column].format(value) if column in formats else shown_value(value)
        columns = self._columns()
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
        for record in self.ranked():
            lines.append("| " + " | ".join(cell(c, v) for c, v in zip(columns, self._row(record, 60))) + " |")
        return "\n".join(lines) + "\n"

    def write_tables(self) -> None:
        """results.md, results.csv and results.json in the search directory."""
        for extension, format in (("md", "markdown"), ("csv", "csv")):
            write_file(os.path.join(self.directory, f"results.{extension}"), self.table(format).encode())
        write_json(os.path.join(self.directory, "results.json"), self.ranked())

    # ------------------------------------------------------------ the plot
    def figure(self):
        """The matplotlib figure plot() saves: a heat map of the monitored value over a grid of two varying
        parameters, otherwise one panel per varying parameter with every finished trial's value."""
        from ..plot import _pyplot
        plt = _pyplot()
        finished = [r for r in self.records if r["status"] == FINISHED]
        varying = [n for n in self.names if len({json.dumps(r["params"][n]) for r in self.records}) > 1]
        failed = len(self.records) - len(finished)
        note = f" ({failed} failed)" if failed else ""
        if len(varying) == 2 and self._is_grid(varying):
            return self._heat_map(plt, varying, note)
        shown = varying or self.names[:1]
        fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6), squeeze=False)
        for ax, name in zip(axes[0], shown):
            values = list(dict.fromkeys(json.dumps(r["params"][name]) for r in self.records))
            numeric = all(isinstance(json.loads(v), (int, float)) and not isinstance(json.loads(v), bool)
                          for v in values)
            if numeric and len(values) > 6:  # drawn at random: a real axis, logarithmic over a wide positive range
                xs = [r["params"][name] for r in finished]
                ax.scatter(xs, [r["best_value"] for r in finished], s=18)
                low, high = min(json.loads(v) for v in values), max(json.loads(v) for v in values)
                if low > 0 and high / low >= 20:
                    ax.set_xscale("log")
            else:  # a few values: one column each, in the space's order
                position = {v: i for i, v in enumerate(values)}
                ax.scatter([position[json.dumps(r["params"][name])] for r in finished],
                           [r["best_value"] for r in finished], s=18)
                ax.set_xticks(range(len(values)), [shown_value(json.loads(v)) for v in values])
            ax.set(xlabel=name, ylabel=self.monitor or "score", title=f"{self.monitor or 'score'} against {name}{note}")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig

    def _is_grid(self, varying) -> bool:
        combos = {tuple(json.dumps(r["params"][n]) for n in varying) for r in self.records}
        sizes = [len({json.dumps(r["params"][n]) for r in self.records}) for n in varying]
        return len(combos) == sizes[0] * sizes[1] == len(self.records)

    def _heat_map(self, plt, varying, note):
        import numpy as np
        rows, cols = ([json.loads(v) for v in dict.fromkeys(json.dumps(r["params"][n]) for r in self.records)]
                      for n in varying)
        values = np.full((len(rows), len(cols)), np.nan)
        for r in self.records:
            if r["status"] == FINISHED:
                values[rows.index(r["params"][varying[0]]), cols.index(r["params"][varying[1]])] = r["best_value"]
        fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 2.5, 0.9 * len(rows) + 1.8))
        image = ax.imshow(values, cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax, label=self.monitor or "score")
        ax.set_xticks(range(len(cols)), [shown_value(v) for v in cols])
        ax.set_yticks(range(len(rows)), [shown_value(v) for v in rows])
        ax.set(xlabel=varying[1], ylabel=varying[0], title=f"{self.monitor or 'score'}{note}")
        middle = float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else 0.0
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, "failed" if np.isnan(value) else f"{value:.4f}", ha="center", va="center",
                    color="white" if np.isnan(value) or value < middle else "black", fontsize=9)
        fig.tight_layout()
        return fig

    def plot(self, path: str) -> None:
        """Save figure() as a PNG (needs matplotlib: pip install 'staticnet[plot]')."""
        from ..plot import _pyplot
        fig = self.figure()
        fig.savefig(path, dpi=110)
        _pyplot().close(fig)
