"""The progress of each epoch on stderr: a tqdm bar redrawn between compiled chunks, then one line.

On a terminal the bar fits the terminal's width, read again at every redraw (a resized window is
followed), and shows the share done, the time left and the rate in examples per second, then the loss so
far where there is room; when the epoch ends the bar is cleared and the epoch's line printed in its place.
In a Jupyter notebook (an IPython kernel, whose streams are no terminal) the bar is tqdm's notebook widget
where ipywidgets is installed, else the same text bar, which the notebook redraws in place at each carriage
return; either way one line per epoch is kept.  Anywhere else (a file, a pipe, a captured stream) nothing but
the epoch lines is written.  No line is
longer than the width less one column (a line filling the last column makes some terminals wrap), so at
the default width of 80 every line is under 80 columns; an epoch line too long for a narrow terminal
goes on indented lines below.

tqdm is a dependency, not an option: the bar then behaves alike on every install and is tested as it
runs, and tqdm brings no dependencies of its own.
"""
from __future__ import annotations

import os
import sys

from tqdm import tqdm

DEFAULT_COLUMNS = 80
MIN_BAR = 10  # columns: narrower than this, the bar gives up its other fields first
SEPARATOR = "  "


def terminal_columns(stream) -> int:
    """$COLUMNS if set (as shutil reads it), else the width of the stream's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_COLUMNS
    except (AttributeError, OSError, ValueError):
        return DEFAULT_COLUMNS


def wrapped(head: str, fields, optional, width: int) -> list[str]:
    """`head` then the fields, SEPARATOR between, in lines of at most `width` (those after the first
    indented); the optional fields only where they fit on the last line."""
    lines = [head]
    for field in fields:
        if len(lines[-1]) + len(SEPARATOR) + len(field) > width:
            lines.append(SEPARATOR + field)
        else:
            lines[-1] += SEPARATOR + field
    for field in optional:
        if len(lines[-1]) + len(SEPARATOR) + len(field) <= width:
            lines[-1] += SEPARATOR + field
    return [line[:width] for line in lines]


class _EpochBar(tqdm):
    """Redrawn at every update: fit updates it once per chunk (a fiftieth of an epoch), so even an epoch
    of a fifth of a second shows its bar moving; no monitor thread."""
    monitor_interval = 0


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython imported by ipykernel, not a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def notebook_widgets() -> bool:
    """Whether tqdm's notebook widget can be shown (it needs ipywidgets)."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class Progress:
    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        notebook = not terminal and in_notebook()
        self.live = enabled and (terminal or notebook)
        self.widget = self.live and notebook and notebook_widgets()  # else a text bar, redrawn in place
        self.label, self.bar = "", None

    def width(self) -> int:
        return terminal_columns(self.stream) - 1

    def start(self, label: str, total: int):
        self.label = label
        if self.widget:
            from tqdm.notebook import tqdm as widget_bar
            self.bar = widget_bar(total=max(total, 1), desc=label, leave=False, unit=" ex", unit_scale=True,
                                  mininterval=0, miniters=1)
        elif self.live:
            self.bar = _EpochBar(total=max(total, 1), file=self.stream, leave=False, unit=" ex", unit_scale=True,
                                 ncols=self.width(), bar_format=self._format(()), mininterval=0, miniters=1)

    def _format(self, fields) -> str:
        return SEPARATOR.join([f"{self.label} {{percentage:3.0f}}%|{{bar}}|", *fields])

    def update(self, done: int, text: str):
        """`done` examples of the epoch trained; `text` the scores so far (shown where they fit)."""
        if self.bar is None:
            return
        if self.widget:  # the widget lays out its own fields
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(done - self.bar.n)
            return
        width = self.width()
        stats = self.bar.format_dict
        ladder = (["ETA {remaining}", "{rate_fmt}", text], ["ETA {remaining}", "{rate_fmt}"], ["ETA {remaining}"], [])
        for fields in ladder:
            without_bar = self._format(fields).replace("{bar}", "")
            shown = tqdm.format_meter(**{**stats, "n": done, "bar_format": without_bar, "ncols": None})
            if len(shown) + MIN_BAR <= width:
                break
        self.bar.bar_format, self.bar.ncols = self._format(fields), width
        self.bar.update(done - self.bar.n)

    def finish(self, fields, optional=()):
        """End the epoch's display with one line: the label, then `fields` (and `optional` ones where
        they fit in the width)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stream.write("\n".join(wrapped(self.label, fields, optional, self.width())) + "\n")
        self.stream.flush()
