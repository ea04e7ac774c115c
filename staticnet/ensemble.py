"""Ensembles of trained classifiers: `sn.ensemble(models_or_paths, vote="plurality" | "mean")`.

The book's last result (chapter 6) is a plurality vote of five networks trained alike from different seeds.
Each member is a compiled Model (or a .snet file, loaded as one) with one output of class scores, (batch,
classes); every member takes the same inputs (names, shapes, dtypes) and gives the same number of classes.

- vote="plurality": each member votes for its highest-scoring class; the class with most votes wins, and a
  tie goes to the tied class that was voted for first in the members' order, as the book's
  `Counter(votes).most_common(1)` picks it (Counter remembers the order in which it first saw each class, and
  most_common sorts stably).  predict gives the class indices.
- vote="mean": the members' outputs averaged (probabilities, for softmax outputs); predict gives the means,
  and the class is the first of the highest mean.  It exports to ONNX as one graph (export_onnx); a plurality
  vote does not (ONNX has no stable vote by first sight), and asking for its export is refused saying so.

Nothing here compiles anything: members predict with their own compiled loops.
"""
from __future__ import annotations

import os

import numpy as np

from . import checks, keras_data
from .checks import shown
from .errors import ArgumentError

VOTES = ("plurality", "mean")


def plurality_vote(votes: np.ndarray, classes: int) -> np.ndarray:
    """The winning class of each row of `votes` (members, rows) of class indices: the most votes, a tie going
    to the tied class voted for first in the members' order (as Counter.most_common does)."""
    rows = np.arange(votes.shape[1])
    counts = np.zeros((votes.shape[1], classes), np.int64)
    for vote in votes:
        counts[rows, vote] += 1
    most = counts.max(axis=1)
    winner = np.full(votes.shape[1], -1, np.int64)
    for vote in votes:  # in the members' order: the first vote for a class with the most votes decides
        undecided = (winner < 0) & (counts[rows, vote] == most)
        winner[undecided] = vote[undecided]
    return winner


def _member(given, position):
    """(a compiled Model, how messages name it, its file or None) from a Model or the path of a .snet file."""
    from .model import Model, load
    if isinstance(given, Model):
        return given, f"model {position}", None
    if isinstance(given, (str, os.PathLike)):
        path = os.fspath(given)
        return load(path), f"model {position} ({path})", path
    checks.refuse("ensemble", f"each member must be a compiled model (sn.compile, sn.load) or the path of a "
                              f".snet file; member {position} is {shown(given)}", TypeError)


def _signature(t) -> str:
    shape = ", ".join("None" if d is None else str(d) for d in t.shape)
    return f"({shape}{',' if len(t.shape) == 1 else ''}) {t.dtype}"


def _check_alike(models, names):
    """Every member takes the first member's inputs and gives its number of classes, or an ArgumentError naming
    the two members and what differs."""
    first, first_name = models[0], names[0]
    for model, name in zip(models, names):
        if not model.single_output or model.outputs[0].ndim != 2 or model.outputs[0].shape[1] < 2:
            shapes = ", ".join(_signature(t) for t in model.outputs)
            checks.refuse("ensemble", f"{name} outputs {shapes}; an ensemble votes over one output of class "
                                      "scores, (batch, classes) with at least 2 classes", ArgumentError)
    expected = {t.name: t for t in first.features}
    for model, name in zip(models[1:], names[1:]):
        given = {t.name: t for t in model.features}
        if sorted(given) != sorted(expected):
            checks.refuse("ensemble", f"{name} takes the inputs {sorted(given)}, {first_name} {sorted(expected)}: "
                                      "members must take the same inputs", ArgumentError)
        for key, t in given.items():
            if t.shape != expected[key].shape or t.dtype != expected[key].dtype:
                checks.refuse("ensemble", f"{name} takes input {key!r} of shape {_signature(t)}, {first_name} "
                                          f"{_signature(expected[key])}: members must take the same inputs",
                              ArgumentError)
        if model.outputs[0].shape != first.outputs[0].shape:
            checks.refuse("ensemble", f"{name} gives {model.outputs[0].shape[1]} classes, {first_name} "
                                      f"{first.outputs[0].shape[1]}: members must give the same classes", ArgumentError)


class Ensemble:
    """Trained classifiers voting; made by sn.ensemble (see this module's docstring for the votes)."""

    def __init__(self, models, vote: str = "plurality"):
        if vote not in VOTES:
            checks.refuse("ensemble", f"vote must be 'plurality' or 'mean', got {shown(vote)}", ArgumentError)
        if isinstance(models, (str, os.PathLike)) or not isinstance(models, (list, tuple)) or not models:
            checks.refuse("ensemble", f"give a non-empty list of models or .snet paths, got {shown(models)}",
                          TypeError)
        members = [_member(given, position) for position, given in enumerate(models, start=1)]
        self.models = [model for model, _, _ in members]
        self.names = [name for _, name, _ in members]
        self.paths = [path for _, _, path in members]  # the files members were loaded from (None: given as models)
        self.vote = vote
        _check_alike(self.models, self.names)
        self.classes = self.models[0].outputs[0].shape[1]

    def __len__(self):
        return len(self.models)

    def _outputs(self, inputs, batch_size) -> list[np.ndarray]:
        return [model.predict(inputs, batch_size=batch_size) for model in self.models]

    def _decide(self, outputs) -> tuple[np.ndarray, np.ndarray | None]:
        """(each row's class, the mean output for vote="mean", else None)."""
        if self.vote == "plurality":
            votes = np.stack([np.argmax(output, axis=1) for output in outputs])
            return plurality_vote(votes, self.classes), None
        # summed in float64: the mean of identical outputs is exactly each of them
        mean = (np.sum(outputs, axis=0, dtype=np.float64) / len(outputs)).astype(outputs[0].dtype)
        return np.argmax(mean, axis=1), mean

    def predict(self, x, *, batch_size: int = 1000) -> np.ndarray:
        """For vote="plurality", each row's winning class (int64, (n,)); for vote="mean", the members' mean
        output ((n, classes), the outputs' dtype).  `x`: as Model.predict takes it."""
        classes, mean = self._decide(self._outputs(x, batch_size))
        return classes if mean is None else mean

    def evaluate(self, x=None, y=None, *, batch_size: int = 1000) -> dict:
        """{"accuracy": the fraction of rows whose decided class is the label's, "errors": how many are not}
        over every row of the data (a dict keyed by input name, (x, y), or x and y as arrays, as
        Model.evaluate takes it; the label one-hot or class indices)."""
        first = self.models[0]
        batch_size = checks.count("evaluate", "batch_size", batch_size, error=ArgumentError)
        if not first.labels:
            checks.refuse("evaluate", "the members have no label input to compare with", ArgumentError)
        data = keras_data.as_feeds(first, x, y, "evaluate", "evaluation data")
        arrays = first._data(data, first.inputs, "evaluation data")
        features = {t.name: a for t, a in zip(first.inputs, arrays) if t in first.features}
        label = arrays[first.inputs.index(first.labels[0])]
        truth = label if label.ndim == 1 else np.argmax(label, axis=1)
        classes, _ = self._decide(self._outputs(features, batch_size))
        errors = int(np.count_nonzero(classes != truth))
        return {"accuracy": 1.0 - errors / len(truth), "errors": errors}

    def export_onnx(self, path: str, opset: int | None = None) -> None:
        """Write the mean ensemble as one ONNX model: every member's prediction graph (its initializers and
        values named `model<i>/...`) from the shared inputs, and their outputs summed and divided by the
        number of members, as `output`.  A plurality vote is refused: it has no ONNX form."""
        if self.vote != "mean":
            checks.refuse("export_onnx", "a plurality vote has no ONNX form (ONNX cannot break ties by the "
                                         "members' order); export the ensemble with vote='mean', whose output "
                                         "is the members' mean probabilities", ArgumentError)
        checks.output_file("export_onnx", "path", path)
        for source, name in zip(self.paths, self.names):
            if source is not None and os.path.abspath(source) == os.path.abspath(path):
                checks.refuse("export_onnx", f"{os.fspath(path)!r} is the file of {name}: an export never "
                                             "overwrites its own input", ArgumentError)
        from .durable import write_durably
        data = self.to_onnx(opset).SerializeToString()
        write_durably(os.fspath(path), lambda raw: raw.write(data))

    def to_onnx(self, opset: int | None = None):
        """The ONNX ModelProto export_onnx writes (checked with onnx.checker)."""
        from .onnx_export import to_model
        from .onnx_support import require_onnx
        onnx = require_onnx("ONNX export")
        first = self.models[0]
        shared = {t.name for t in first.features}
        nodes, initializers, member_outputs, protos = [], [], [], []
        for position, model in enumerate(self.models, start=1):
            proto = to_model(model.outputs, inputs=model.features, opset=opset, output_names=["output"])
            protos.append(proto)
            prefix = f"model{position}/"

            def renamed(name, prefix=prefix):
                return name if name in shared or not name else prefix + name
            for node in proto.graph.node:
                node.input[:] = [renamed(n) for n in node.input]
                node.output[:] = [renamed(n) for n in node.output]
                node.name = prefix + node.name if node.name else ""
                nodes.append(node)
            for tensor in proto.graph.initializer:
                tensor.name = renamed(tensor.name)
                initializers.append(tensor)
            member_outputs.append(renamed(proto.graph.output[0].name))
        dtype = protos[0].graph.output[0].type.tensor_type.elem_type
        count = onnx.helper.make_tensor("ensemble/members", dtype, (), [float(len(self.models))])
        nodes.append(onnx.helper.make_node("Sum", member_outputs, ["ensemble/sum"], name="ensemble/sum"))
        nodes.append(onnx.helper.make_node("Div", ["ensemble/sum", "ensemble/members"], ["output"],
                                           name="ensemble/mean"))
        graph = onnx.helper.make_graph(nodes, "staticnet_ensemble", list(protos[0].graph.input),
                                       list(protos[0].graph.output), initializer=initializers + [count])
        model = onnx.helper.make_model(graph, opset_imports=list(protos[0].opset_import),
                                       producer_name=protos[0].producer_name,
                                       producer_version=protos[0].producer_version, ir_version=protos[0].ir_version)
        onnx.checker.check_model(model, full_check=True)
        return model


def ensemble(models_or_paths, vote: str = "plurality") -> Ensemble:
    """An ensemble of trained classifiers (compiled Models or .snet paths) voting by `vote`: "plurality" (the
    book's: most votes, a tie to the class voted for first in the members' order) or "mean" (the averaged
    outputs); see staticnet/ensemble.py."""
    return Ensemble(models_or_paths, vote)
