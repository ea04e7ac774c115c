"""Model files: one zip holding `staticnet.json` (the graph, optimizer, history) and
`arrays/N.npy` (parameters, optimizer state, array constants).

No pickle anywhere: arrays are read with allow_pickle=False and the graph is plain
JSON, rebuilt through the ops' own builders so every shape rule runs again.
Files are written to a temporary name beside the target, then renamed over it.

staticnet.json:
  format: "staticnet-model", version: 1, staticnet: the writer's version
  nodes: [{op, inputs: [node indices], attrs, shape, dtype, name, loc, regularize, array}]
  loss: node index, outputs: [node indices], single_output: bool
  optimizer: {name, lr, schedule, ...hyperparameters}, metrics: [...]
  leaves: {leaf name: array index} for parameters and optimizer state
  history: [per-epoch records], epochs_done, seed
  early_stopping: null, or {monitor, best_score, best_epoch, waited, weights: {leaf name: array index}}
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import DataError
from .graph import Tensor, make_node, topological

FORMAT, VERSION = "staticnet-model", 1


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def _node_entry(n: Tensor, index: dict) -> dict:
    """A node as staticnet.json lists it (without its array)."""
    return {"op": n.op, "inputs": [index[t.id] for t in n.inputs], "attrs": _jsonable(n.attrs),
            "shape": list(n.shape), "dtype": n.dtype.name, "name": n.name, "loc": n.loc}


def save_model(model, path: str) -> None:
    """Write the model (graph, weights, optimizer state, history) atomically to `path`."""
    from . import __version__

    nodes = topological([model.loss] + model.outputs)
    index = {n.id: i for i, n in enumerate(nodes)}
    arrays, entries = [], []
    for n in nodes:
        entry = _node_entry(n, index)
        if n.op in ("param", "constant"):
            entry["array"] = len(arrays)
            entry["regularize"] = n.regularize
            arrays.append(n.value)
        entries.append(entry)
    leaves = {}
    for leaf in model.state:
        leaves[leaf.name] = len(arrays)
        arrays.append(leaf.value)
    manifest = {"format": FORMAT, "version": VERSION, "staticnet": __version__, "nodes": entries,
                "loss": index[model.loss.id], "outputs": [index[t.id] for t in model.outputs],
                "single_output": model.single_output, "optimizer": model.optimizer.config(),
                "metrics": list(model.metrics), "state": leaves, "history": model.history.epochs,
                "epochs_done": model.epochs_done, "seed": getattr(model, "seed", None)}
    manifest["early_stopping"] = _early_stopping_entry(model, arrays)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".snet")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("staticnet.json", json.dumps(manifest, indent=1))
            for i, arr in enumerate(arrays):
                buffer = io.BytesIO()
                np.save(buffer, np.asarray(arr, order="C"), allow_pickle=False)
                archive.writestr(f"arrays/{i}.npy", buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: str):
    """(manifest, arrays) of a model file, or a DataError naming the file and what is wrong."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise DataError(f"{path}: corrupted (member {bad} fails its CRC check)")
            try:
                manifest = json.loads(archive.read("staticnet.json"))
            except KeyError:
                raise DataError(f"{path}: not a staticnet model file (no staticnet.json inside)") from None
            if manifest.get("format") != FORMAT:
                raise DataError(f"{path}: not a staticnet model file (format {manifest.get('format')!r})")
            if manifest.get("version") != VERSION:
                raise DataError(f"{path}: model file version {manifest.get('version')} is not supported by this "
                                f"staticnet (it reads version {VERSION})")
            arrays = {}
            for name in archive.namelist():
                if name.startswith("arrays/"):
                    arrays[int(name[7:-4])] = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a staticnet model file, or truncated (not a readable zip archive)") from None
    except (ValueError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: corrupted ({e})") from None
    return manifest, arrays


def _rebuild(manifest, arrays, path):
    nodes = []
    try:
        for entry in manifest["nodes"]:
            shape = tuple(entry["shape"])
            if entry["op"] == "input":
                node = Tensor("input", (), {}, shape, entry["dtype"], entry["loc"], name=entry["name"])
            elif entry["op"] in ("param", "constant"):
                value = arrays[entry["array"]]
                if value.shape != shape:
                    raise DataError(f"{path}: array for {entry['name'] or entry['op']} has shape {value.shape}, "
                                    f"the graph says {shape}")
                node = Tensor(entry["op"], (), {}, shape, value.dtype, entry["loc"], value=value.copy(),
                              name=entry["name"], regularize=entry.get("regularize", False))
            else:
                attrs = {k: _tupled(v) for k, v in entry["attrs"].items()}
                node = make_node(entry["op"], [nodes[i] for i in entry["inputs"]], attrs, loc=entry["loc"])
            nodes.append(node)
    except (KeyError, IndexError, TypeError) as e:
        raise DataError(f"{path}: corrupted graph ({type(e).__name__}: {e})") from None
    return nodes


def load(path: str):
    """A model saved with `model.save(path)`, ready to predict or to train on."""
    from .model import Model
    from .optim import from_config

    manifest, arrays = _read(path)
    nodes = _rebuild(manifest, arrays, path)
    outputs = [nodes[i] for i in manifest["outputs"]]
    model = Model(nodes[manifest["loss"]], outputs[0] if manifest["single_output"] else outputs,
                  from_config(manifest["optimizer"]), manifest["metrics"])
    _restore_state(model, manifest, arrays, path)
    return model


def _restore_state(model, manifest, arrays, path):
    from .model import History
    state = {leaf.name: leaf for leaf in model.state}
    for name, i in manifest["state"].items():
        if name not in state or state[name].shape != arrays[i].shape:
            raise DataError(f"{path}: optimizer state {name!r} does not fit this model")
        state[name].value[...] = arrays[i]
    model.history = History(manifest.get("history", []))
    model.epochs_done = manifest.get("epochs_done", 0)
    model.seed = manifest.get("seed")


def restore_checkpoint(model, path: str):
    """Load weights, optimizer state and history from a checkpoint of this same model; returns the state of
    its early stopping, (state, best weights), or None."""
    manifest, arrays = _read(path)
    _check_same_training(model, manifest, path)
    saved = {e["name"]: arrays[e["array"]] for e in manifest["nodes"] if e["op"] == "param"}
    for leaf in model.trainable:
        if leaf.name not in saved:
            raise DataError(f"{path}: checkpoint has no parameter {leaf.name!r}; it was saved from another model")
        if saved[leaf.name].shape != leaf.shape:
            raise DataError(f"{path}: parameter {leaf.name!r} has shape {saved[leaf.name].shape} in the checkpoint, "
                            f"{leaf.shape} in this model")
        leaf.value[...] = saved[leaf.name]
    _restore_state(model, manifest, arrays, path)
    return _saved_early_stopping(manifest, arrays, path)


# ---------------------------------------------------------------- what resuming needs beyond the weights

def _graph_signature(entries) -> list[tuple]:
    """The structure of a listed graph: each node's op, operands, attributes, shape, dtype and name (its source
    line and values left out: a model built again from the same code has the same signature)."""
    return [(e["op"], list(e["inputs"]), e["attrs"], list(e["shape"]), e["dtype"], e["name"]) for e in entries]


def _node_text(signature: list, at: int) -> str:
    if at >= len(signature):
        return "absent"
    op, _, _, shape, dtype, name = signature[at]
    return f"{op}{f' {name!r}' if name else ''} {tuple(shape)} {dtype}"


def _optimizer_text(config: dict) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("name", "schedule"))
    return f"{config.get('name')}({settings})"


def _check_same_training(model, manifest, path) -> None:
    """A checkpoint continues the training of the model and optimizer that wrote it, and no other: anything
    else would mix weights or optimizer state from another run into this one."""
    try:
        theirs = _graph_signature(manifest["nodes"])
        their_optimizer, their_state = manifest["optimizer"], set(manifest["state"])
    except (KeyError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: corrupted checkpoint ({type(e).__name__}: {e})") from None
    nodes = topological([model.loss] + model.outputs)
    index = {n.id: i for i, n in enumerate(nodes)}
    ours = _graph_signature(_node_entry(n, index) for n in nodes)
    if theirs != ours:
        at = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
        raise DataError(f"{path}: the checkpoint was saved from another model: its graph has {len(theirs)} nodes, "
                        f"this model's {len(ours)}; node {at} is {_node_text(theirs, at)} in the checkpoint, "
                        f"{_node_text(ours, at)} here")
    our_optimizer, our_state = model.optimizer.config(), {leaf.name for leaf in model.state}
    if their_optimizer.get("name") != our_optimizer["name"] or their_state != our_state:
        raise DataError(f"{path}: the checkpoint was trained with {_optimizer_text(their_optimizer)}, this model "
                        f"uses {_optimizer_text(our_optimizer)}; resume with the optimizer that wrote it")


def _early_stopping_entry(model, arrays: list):
    """The state of the model's early stopping, its best epoch's weights appended to `arrays`; None without."""
    stopping = model.stopping
    if stopping is None or stopping.best_epoch is None:
        return None
    weights = {}
    for name, value in stopping.best_weights.items():
        weights[name] = len(arrays)
        arrays.append(value)
    return {**stopping.state(), "weights": weights}


def _saved_early_stopping(manifest, arrays, path):
    """(state, best weights) of the early stopping saved in a checkpoint, or None."""
    entry = manifest.get("early_stopping")
    if entry is None:
        return None
    try:
        state = {key: entry[key] for key in ("monitor", "best_score", "best_epoch", "waited")}
        weights = {name: arrays[i] for name, i in entry["weights"].items()}
    except (KeyError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: corrupted early-stopping state ({type(e).__name__}: {e})") from None
    return state, weights
