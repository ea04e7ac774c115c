"""TensorBoard's event files, written with the `tensorboard` package's own writer (an optional extra:
pip install 'staticnet[tensorboard]'), which needs no TensorFlow.

One EventFiles per run directory: scalars and histograms of NumPy arrays, each at a step.  Its events reach
the file when `flush` is called (after every epoch), so a run killed mid-way keeps the epochs it finished.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .errors import MissingDependency

HISTOGRAM_BINS = 30


def require_tensorboard():
    try:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise MissingDependency("sn.callbacks.TensorBoard needs the tensorboard package: "
                                "pip install 'staticnet[tensorboard]'") from None
    return EventFileWriter


class EventFiles:
    """The event file of one run directory (made if missing)."""

    def __init__(self, directory: str):
        os.makedirs(directory, exist_ok=True)
        self.writer = require_tensorboard()(directory)

    def _add(self, step: int, value) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        summary = summary_pb2.Summary(value=[value])
        self.writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2
        self._add(step, summary_pb2.Summary.Value(tag=tag, simple_value=float(value)))

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        """The values' distribution in HISTOGRAM_BINS equal bins between their least and greatest (the
        non-finite ones left out, as NumPy's histogram cannot place them)."""
        from tensorboard.compat.proto import summary_pb2
        flat = np.asarray(values, np.float64).reshape(-1)
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            return
        counts, edges = np.histogram(flat, bins=HISTOGRAM_BINS)
        proto = summary_pb2.HistogramProto(min=float(flat.min()), max=float(flat.max()), num=float(flat.size),
                                           sum=float(flat.sum()), sum_squares=float(np.dot(flat, flat)),
                                           bucket_limit=[float(e) for e in edges[1:]],
                                           bucket=[float(c) for c in counts])
        self._add(step, summary_pb2.Summary.Value(tag=tag, histo=proto))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
