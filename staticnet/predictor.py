"""A graph's outputs from its inputs with NumPy alone: the deployed form of a model (staticnet.inference and
an imported ONNX model's .predict run it; ONNX export writes the same graph)."""
from __future__ import annotations

import numpy as np

from .errors import DataError
from .graph import Tensor, as_list
from .feeds import batch_size_of, conform
from .interpreter import run


def inference_outputs(outputs) -> list[Tensor]:
    """The graph a deployed model computes, as in Model.predict: dropout is the identity (the book's form, a
    scaling by 1 - rate), a batch norm reads its moving statistics and is folded into the dense or conv layer
    before it, and identities such as x * 1 are dropped; the values are unchanged (to rounding)."""
    from .passes.fold_batch_norm import fold_batch_norm
    from .passes.simplify import simplify
    from .passes.strip_dropout import strip_dropout
    from .program import Program
    return list(simplify(fold_batch_norm(strip_dropout(Program(outputs=tuple(as_list(outputs)))))).outputs)


class Predictor:
    """Runs a graph's outputs from its inputs with the NumPy reference interpreter, in batches."""

    def __init__(self, inputs, outputs, single_output: bool = True, output_names=None):
        self.inputs = list(inputs)
        self.outputs = inference_outputs(outputs)
        self.single_output = single_output and len(self.outputs) == 1
        self.output_names = list(output_names) if output_names else None

    def __repr__(self):
        shown = ", ".join(f"{t.name} {t.shape}" for t in self.inputs)
        return f"<Predictor ({shown}) -> {len(self.outputs)} output(s), NumPy reference>"

    def _arrays(self, data) -> list[np.ndarray]:
        """Arrays for the inputs from a dict keyed by input name, a list in input order, or one array."""
        if isinstance(data, dict):
            missing = [t.name for t in self.inputs if t.name not in data]
            if missing:
                raise DataError(f"prediction inputs: no array for input {missing[0]!r} (the dict has {sorted(data)})")
            given = [data[t.name] for t in self.inputs]
        else:
            given = list(data) if isinstance(data, (list, tuple)) else [data]
            if len(given) != len(self.inputs):
                raise DataError(f"prediction inputs: expected arrays for {[t.name for t in self.inputs]}, "
                                f"got {len(given)}")
        return [conform(t, a, " in the prediction inputs") for t, a in zip(self.inputs, given)]

    def predict(self, data, batch_size: int = 1000):
        """The outputs for every row of `data` (one array, or a list, when there are several outputs)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"predict: batch_size must be a positive int, got {batch_size!r}")
        arrays = self._arrays(data)
        total = batch_size_of(self.inputs, arrays)
        batched = total is not None and all(t.shape[:1] == (None,) for t in self.inputs + self.outputs)
        if not batched:
            results = self._run(arrays)
        else:
            parts = [self._run([a[start:start + batch_size] for a in arrays]) for start in range(0, total, batch_size)]
            results = [np.concatenate(column) for column in zip(*parts)]
        return results[0] if self.single_output else results

    def _run(self, arrays):
        return run(self.outputs, {t.id: a for t, a in zip(self.inputs, arrays)})
