"""Model files: one zip holding `staticnet.json` (the graph, optimizer, history) and
`arrays/N.npy` (parameters, optimizer state, array constants).

No pickle anywhere: arrays are read with allow_pickle=False and the graph is plain
JSON, rebuilt through the ops' own builders so every shape rule runs again.

Reading trusts nothing in the file: every field of the manifest is checked for its type
before use, and every array member's declared size and .npy header are checked against
the shape and dtype the graph gives it before a byte of its data is decompressed, so a
small file cannot make the reader inflate a huge member.  Names must follow the rule sn.input's and
sn.param's do (checks.NAME_RULE), locations be one printable line (locations.location_problem), and an
attribute's strings be words: a hostile file is refused before anything of it reaches generated code
(which renders every name and location through codegen/source_text.py besides).  Any failure is a
DataError naming the file and what is wrong with it (the field, for the manifest's).

Writing is crash-safe: the file is written to a temporary name beside the target
(`.tmp-HOST-PID-TOKEN-NAME`), fsynced, renamed over the target, and the directory is
fsynced.  Temporaries that a killed writer left behind are removed by the next save of
the same file, once their writer is known to be gone.

staticnet.json:
  format: "staticnet-model", version: 1, staticnet: the writer's version
  nodes: [{op, inputs: [node indices], attrs, shape, dtype, name, loc, regularize, trainable, array}]
  loss: node index, outputs: [node indices], single_output: bool
  optimizer: {name, lr, schedule: {kind, ...its numbers, a warm-up's then: a schedule}, ...hyperparameters},
  metrics: [...]
  state: {leaf name: array index} for the optimizer state
  history: [per-epoch records], epochs_done, seed
  early_stopping: null, or {monitor, best_score, best_epoch, waited, weights: {leaf name: array index}}
  reduce_lr_on_plateau: null, or {monitor, best, wait, cooldown_counter, scale}
  product_choices: {product shape ("10x100x784 NN ="): the routine it ran on, "blas", "axpy" or "dot"}
"""
from __future__ import annotations

import io
import json
import lzma
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from . import checks
from .codegen.product_choice import Recorded, parse_shape
from .durable import write_durably
from .errors import DataError, GraphError
from .graph import Tensor, make_node, topological
from .locations import location_problem

FORMAT, VERSION = "staticnet-model", 1
MANIFEST = "staticnet.json"
MAX_MANIFEST_BYTES = 64 * 2**20  # far above any real graph's JSON; a larger declared size is a corrupted file
LEAF_OPS = ("input", "param", "constant")
DTYPES = ("float32", "float64", "int32", "int64")
NPY_HEADER_LIMIT = 10_000 + 12  # NumPy's own limit on an .npy header (max_header_size), plus magic and length
MAX_JSON_NESTING = 32  # far above a real manifest's (a list in an attribute of a node of the list of nodes: 5)
ATTRIBUTE_WORD = re.compile(r"[A-Za-z0-9_]{0,64}")  # an attribute's string (an activation, a dtype) names a mode


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(v) for key, v in value.items()}
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
            "shape": list(n.shape), "dtype": n.dtype.name, "name": n.name, "loc": n.loc, "layer": n.layer}


# ---------------------------------------------------------------------------------------------- writing

def _contents(model):
    """(manifest, arrays) of a model: the JSON-ready description and the arrays it indexes."""
    from .version import __version__

    nodes = topological([model.loss] + model.outputs)
    index = {n.id: i for i, n in enumerate(nodes)}
    arrays, entries = [], []
    for n in nodes:
        entry = _node_entry(n, index)
        if n.op in ("param", "constant"):
            entry["array"] = len(arrays)
            entry["regularize"] = n.regularize
            if n.op == "param" and not n.trainable:
                entry["trainable"] = False
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
    manifest["product_choices"] = dict(sorted(model.product_choices.texts.items()))
    plateau = getattr(model, "lr_plateau", None)
    manifest["reduce_lr_on_plateau"] = plateau.state() if plateau is not None else None
    return manifest, arrays


def save_model(model, path: str) -> None:
    """Write the model (graph, weights, optimizer state, history) atomically and durably to `path`.

    Refuses to replace a model file holding finite weights with non-finite ones: a diverged
    run must not destroy the last good save."""
    checks.output_file("save", "path", path)
    manifest, arrays = _contents(model)
    _refuse_non_finite_over_finite(model, path)

    def write(raw):
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for i, arr in enumerate(arrays):
                buffer = io.BytesIO()
                np.save(buffer, np.asarray(arr, order="C"), allow_pickle=False)
                archive.writestr(f"arrays/{i}.npy", buffer.getvalue())

    write_durably(path, write)


def _first_non_finite(named_arrays):
    """The name of the first array holding NaN or Inf, or None."""
    for name, value in named_arrays:
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            return name
    return None


def _refuse_non_finite_over_finite(model, path):
    bad = _first_non_finite((t.name, t.value) for t in model.parameters)
    if bad is None or not os.path.exists(path):
        return
    try:
        with _ModelFile(path) as existing:
            if _first_non_finite(existing.parameters()) is not None:
                return
    except DataError:
        return  # not a readable model file: nothing good to protect
    raise DataError(f"{path}: not saved: parameter {bad!r} holds NaN or Inf, and this file holds finite weights "
                    "(the training diverged?); save to another path to keep both")




# ---------------------------------------------------------------------------------------------- reading

# What a damaged zip raises while it is opened or read: a bad CRC, a broken deflate stream, a stream that
# ends early, a zip version, compression method or flag that a flipped byte made up, and their relatives.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError,
               OSError, ValueError)

_JSON_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
               dict: "an object", type(None): "null"}


def _found(value) -> str:
    """What a JSON value is, for a message: its kind and (short) value."""
    shown = repr(value)
    return f"{_JSON_KINDS.get(type(value), type(value).__name__)} ({shown if len(shown) <= 40 else shown[:37] + '...'})"


_REQUIRED = object()  # the default of a field that must be present


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _ModelFile:
    """An open model file: its manifest, checked field by field, and its arrays, each read only after its
    declared size and header match the shape and dtype the graph (or the model) gives it."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        if not os.path.isfile(self.path):
            raise DataError(f"{self.path}: no such model file")
        try:
            self.archive = zipfile.ZipFile(self.path)
        except _ZIP_ERRORS as e:
            raise DataError(f"{self.path}: not a staticnet model file, or truncated or corrupted "
                            f"(not a readable zip archive: {e})") from None
        try:
            self.manifest = self._read_manifest()
            self._check_manifest(self.manifest)
        except BaseException:
            self.archive.close()
            raise
        return self

    def __exit__(self, *exc):
        self.archive.close()

    def fail(self, message: str) -> NoReturn:
        raise DataError(f"{self.path}: {message}")

    def _read_manifest(self) -> dict:
        try:
            info = self.archive.getinfo(MANIFEST)
        except KeyError:
            self.fail(f"not a staticnet model file (no {MANIFEST} inside)")
        if info.file_size > MAX_MANIFEST_BYTES:
            self.fail(f"corrupted ({MANIFEST} declares {info.file_size:,} bytes; a manifest is at most "
                      f"{MAX_MANIFEST_BYTES:,})")
        try:
            with self.archive.open(info) as member:
                text = member.read()
        except _ZIP_ERRORS as e:
            self.fail(f"corrupted (member {MANIFEST}: {type(e).__name__}: {e})")
        try:
            manifest = json.loads(text)
        except ValueError as e:
            self.fail(f"corrupted ({MANIFEST} is not valid JSON: {e})")
        except RecursionError:
            manifest = None
        if manifest is None or _nesting(manifest) > MAX_JSON_NESTING:
            self.fail(f"corrupted ({MANIFEST} nests lists and objects more than {MAX_JSON_NESTING} deep; a model's "
                      f"manifest nests {MAX_JSON_NESTING // 4} at most)")
        if not isinstance(manifest, dict):
            self.fail(f"not a staticnet model file ({MANIFEST} holds {_found(manifest)}, not an object)")
        return manifest

    # ------------------------------------------------------------ the manifest's structure and types
    def field(self, container: dict, key, where: str, check, expected: str, default=_REQUIRED):
        """container[key], required to satisfy `check`; a missing or wrong-typed field fails naming it."""
        if key not in container:
            if default is _REQUIRED:
                self.fail(f"field {where} is missing")
            return default
        value = container[key]
        if not check(value):
            self.fail(f"field {where} must be {expected}, got {_found(value)}")
        return value

    def index_list(self, container, key, where, below: int, what: str, nonempty=False):
        values = self.field(container, key, where, lambda v: isinstance(v, list) and (v or not nonempty),
                            "a non-empty list" if nonempty else "a list")
        for i, value in enumerate(values):
            if not _is_int(value) or not 0 <= value < below:
                self.fail(f"field {where}[{i}] must be {what}, got {_found(value)}")
        return values

    def _check_manifest(self, m: dict) -> None:
        fmt = self.field(m, "format", "format", lambda v: isinstance(v, str), "a string", default=None)
        if fmt != FORMAT:
            self.fail(f"not a staticnet model file (format {fmt!r})")
        version = self.field(m, "version", "version", _is_int, f"an integer (this staticnet reads version {VERSION})")
        if version != VERSION:
            self.fail(f"model file version {version} is not supported by this staticnet (it reads version {VERSION})")
        self.field(m, "staticnet", "staticnet", lambda v: isinstance(v, str), "a string (the writer's version)",
                   default=None)
        nodes = self.field(m, "nodes", "nodes", lambda v: isinstance(v, list) and v, "a non-empty list")
        for i, entry in enumerate(nodes):
            self._check_node(i, entry)
        count = len(nodes)
        self.field(m, "loss", "loss", lambda v: _is_int(v) and 0 <= v < count, f"a node index below {count}")
        self.index_list(m, "outputs", "outputs", count, f"a node index below {count}", nonempty=True)
        self.field(m, "single_output", "single_output", lambda v: isinstance(v, bool), "true or false")
        self._check_optimizer(self.field(m, "optimizer", "optimizer", lambda v: isinstance(v, dict), "an object"))
        metrics = self.field(m, "metrics", "metrics", lambda v: isinstance(v, list), "a list", default=[])
        for i, name in enumerate(metrics):
            if not isinstance(name, str):
                self.fail(f"field metrics[{i}] must be a string, got {_found(name)}")
        state = self.field(m, "state", "state", lambda v: isinstance(v, dict), "an object")
        for name, index in state.items():
            if checks.name_problem(name) is not None:
                self.fail(f"field state: the key {checks.name_problem(name)}")
            if not _is_int(index) or index < 0:
                self.fail(f"field state[{name!r}] must be an array index (an integer >= 0), got {_found(index)}")
        history = self.field(m, "history", "history", lambda v: isinstance(v, list), "a list", default=[])
        for i, record in enumerate(history):
            if not isinstance(record, dict):
                self.fail(f"field history[{i}] must be an object, got {_found(record)}")
            for key, value in record.items():
                if not (value is None or isinstance(value, (int, float, str))):
                    self.fail(f"field history[{i}].{key} must be a number, a string or null, got {_found(value)}")
        self.field(m, "epochs_done", "epochs_done", lambda v: _is_int(v) and v >= 0, "an integer >= 0", default=0)
        self.field(m, "seed", "seed", lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 or null",
                   default=None)

    def _check_node(self, i: int, entry) -> None:
        from .registry import registry
        where = f"nodes[{i}]"
        if not isinstance(entry, dict):
            self.fail(f"field {where} must be an object, got {_found(entry)}")
        op = self.field(entry, "op", f"{where}.op", lambda v: isinstance(v, str), "a string")
        if op not in LEAF_OPS and op not in registry:
            self.fail(f"field {where}.op names no op of this staticnet: {op!r}")
        self.index_list(entry, "inputs", f"{where}.inputs", i, f"the index of an earlier node (below {i})")
        attrs = self.field(entry, "attrs", f"{where}.attrs", lambda v: isinstance(v, dict), "an object")
        for key, value in attrs.items():
            if not _plain_attr(value):
                self.fail(f"field {where}.attrs.{_key(key)} must be a number, string, boolean, null or a "
                          f"list of them, got {_found(value)}")
            word = next((v for v in _strings(value) if not ATTRIBUTE_WORD.fullmatch(v)), None)
            if word is not None:
                self.fail(f"field {where}.attrs.{_key(key)} holds the string {checks.quoted(word)}; an "
                          f"attribute's strings are words (at most 64 of A-Z, a-z, 0-9 and _)")
        shape = self.field(entry, "shape", f"{where}.shape", lambda v: isinstance(v, list), "a list")
        for axis, size in enumerate(shape):
            if not (size is None and op not in ("param", "constant")) and not (_is_int(size) and size >= 0):
                self.fail(f"field {where}.shape[{axis}] must be a size (an integer >= 0"
                          f"{'' if op in ('param', 'constant') else ', or null for the batch'}), got {_found(size)}")
        dtype = self.field(entry, "dtype", f"{where}.dtype", lambda v: isinstance(v, str), "a string")
        if dtype not in DTYPES:
            self.fail(f"field {where}.dtype must be float32, float64, int32 or int64, got {dtype!r}")
        named = op in ("input", "param")
        name = self.field(entry, "name", f"{where}.name", lambda v: isinstance(v, str) or (v is None and not named),
                          "a string" if named else "a string or null")
        if name is not None and checks.name_problem(name) is not None:
            self.fail(f"field {where}.name {checks.name_problem(name)}")
        loc = self.field(entry, "loc", f"{where}.loc", lambda v: isinstance(v, str), "a string (file:line)")
        if location_problem(loc) is not None:
            self.fail(f"field {where}.loc {checks.quoted(loc)} {location_problem(loc)}")
        layer = self.field(entry, "layer", f"{where}.layer", lambda v: v is None or isinstance(v, str),
                           "a string or null", default=None)  # files written before nodes knew their layer have none
        if layer is not None and checks.name_problem(layer) is not None:
            self.fail(f"field {where}.layer {checks.name_problem(layer)}")
        if op in ("param", "constant"):
            self.field(entry, "array", f"{where}.array", lambda v: _is_int(v) and v >= 0, "an array index (>= 0)")
            self.field(entry, "regularize", f"{where}.regularize", lambda v: isinstance(v, bool), "true or false",
                       default=False)
            self.field(entry, "trainable", f"{where}.trainable", lambda v: isinstance(v, bool), "true or false",
                       default=True)

    def _check_optimizer(self, config: dict) -> None:
        from .optim import OPTIMIZERS
        name = self.field(config, "name", "optimizer.name", lambda v: isinstance(v, str), "a string")
        if name.lower() not in OPTIMIZERS:
            self.fail(f"field optimizer.name must be one of {', '.join(sorted(OPTIMIZERS))}, got {name!r}")
        cls = OPTIMIZERS[name.lower()]
        self.field(config, "lr", "optimizer.lr", _is_number, "a number")
        for key in config:
            if key not in ("name", "lr", "schedule") + cls.hyper + cls.CLIPPING:
                self.fail(f"field optimizer.{key} is not a hyperparameter of {cls.__name__} "
                          f"(it has {', '.join(('lr',) + cls.hyper + cls.CLIPPING)})")
        for key in cls.hyper + cls.CLIPPING:
            self.field(config, key, f"optimizer.{key}", lambda v: _is_number(v) or isinstance(v, bool),
                       "a number", default=None)
        schedule = self.field(config, "schedule", "optimizer.schedule", lambda v: isinstance(v, dict), "an object",
                              default={"kind": "constant"})
        kind = self._check_schedule(schedule, "optimizer.schedule")
        try:
            optimizer = _optimizer(config)
            rates = [optimizer.lr_at(epoch) for epoch in (0, 1)]
        except (TypeError, ValueError, ArithmeticError) as e:
            self.fail(f"field optimizer does not make a {cls.__name__} with a {kind} schedule ({e})")
        if not all(math.isfinite(rate) for rate in rates):
            self.fail(f"field optimizer gives a non-finite learning rate ({rates})")

    def _check_schedule(self, schedule: dict, where: str) -> str:
        """A schedule's kind and numbers, a warm-up's `then` (a schedule itself) included; returns the kind."""
        from .optim import SCHEDULES
        kind = self.field(schedule, "kind", f"{where}.kind",
                          lambda v: isinstance(v, str) and v in SCHEDULES, f"one of {', '.join(SCHEDULES)}")
        for key, value in schedule.items():
            if key == "then" and isinstance(value, dict):
                self._check_schedule(value, f"{where}.then")
            elif key != "kind" and not _is_number(value):
                self.fail(f"field {where}.{key} must be a number{' or a schedule' if key == 'then' else ''}, got "
                          f"{_found(value)}")
        return kind

    # ------------------------------------------------------------ arrays
    def array(self, index: int, shape: tuple, dtype, what: str) -> np.ndarray:
        """Array member `index`, which must hold `shape` and `dtype`: the member's declared size and its .npy
        header are checked first, so a member claiming gigabytes is refused without being inflated."""
        name, dtype = f"arrays/{index}.npy", np.dtype(dtype)
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            self.fail(f"corrupted (member {name}, the array of {what}, is missing)")
        data_bytes = math.prod(shape) * dtype.itemsize
        if not data_bytes <= info.file_size <= data_bytes + NPY_HEADER_LIMIT:
            self.fail(f"corrupted (member {name}, the array of {what}, declares {info.file_size:,} bytes; "
                      f"a {dtype} array of shape {tuple(shape)} takes {data_bytes:,} plus a short header)")
        try:
            with self.archive.open(info) as member:
                header = self._npy_header(member, name, what)
                if header != (tuple(shape), False, dtype):
                    found_shape, fortran, found_dtype = header
                    self.fail(f"corrupted (member {name}, the array of {what}, holds {found_dtype} values of shape "
                              f"{found_shape}{' in Fortran order' if fortran else ''}, not {dtype} values of shape "
                              f"{tuple(shape)})")
                if info.file_size - member.tell() != data_bytes:
                    self.fail(f"corrupted (member {name}, the array of {what}, has {info.file_size - member.tell():,} "
                              f"bytes of data for {data_bytes:,})")
                data = member.read(data_bytes)
                if len(data) != data_bytes or member.read(1):  # the last read checks the CRC
                    self.fail(f"corrupted (member {name}, the array of {what}, has the wrong length)")
        except DataError:
            raise
        except _ZIP_ERRORS as e:
            self.fail(f"corrupted (member {name}, the array of {what}: {type(e).__name__}: {e})")
        return np.frombuffer(data, dtype).reshape(shape).copy()

    def _npy_header(self, member, name, what):
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(member)
            if version == (2, 0):
                return np.lib.format.read_array_header_2_0(member)
        except ValueError as e:
            self.fail(f"corrupted (member {name}, the array of {what}, has no valid .npy header: {e})")
        self.fail(f"corrupted (member {name}, the array of {what}, has .npy version {version})")

    def node_array(self, entry) -> np.ndarray:
        what = f"{entry['op']} {entry['name']!r}" if entry["name"] else entry["op"]
        return self.array(entry["array"], tuple(entry["shape"]), entry["dtype"], what)

    def parameters(self):
        """(name, array) of every parameter in the file's graph."""
        return [(e["name"], self.node_array(e)) for e in self.manifest["nodes"] if e["op"] == "param"]


def _nesting(value) -> int:
    """How deep lists and objects nest in a JSON value (counted without recursion: the value may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _key(key: str) -> str:
    """An object's key as a field's path shows it: bare if a word, else quoted (escaped)."""
    return key if ATTRIBUTE_WORD.fullmatch(key) else checks.quoted(key)


def _strings(value):
    """The strings in an attribute's value (a list's included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _plain_attr(value) -> bool:
    return value is None or isinstance(value, (int, float, str)) or (
        isinstance(value, list) and all(_plain_attr(v) for v in value))


def _optimizer(config: dict):
    from .optim import from_config
    return from_config(config)


def _rebuild(file: _ModelFile) -> list[Tensor]:
    """The file's graph, each node rebuilt through its op's builder; the result must agree with the
    shape and dtype the file records."""
    nodes = []
    for i, entry in enumerate(file.manifest["nodes"]):
        op, shape, dtype = entry["op"], tuple(entry["shape"]), np.dtype(entry["dtype"])
        if op == "input":
            node = Tensor("input", (), {}, shape, dtype, entry["loc"], name=entry["name"])
        elif op in ("param", "constant"):
            node = Tensor(op, (), {}, shape, dtype, entry["loc"], value=file.node_array(entry),
                          name=entry["name"], regularize=entry.get("regularize", False),
                          trainable=entry.get("trainable", True))
        else:
            attrs = {k: _tupled(v) for k, v in entry["attrs"].items()}
            try:
                node = make_node(op, [nodes[j] for j in entry["inputs"]], attrs, loc=entry["loc"])
            except Exception as e:  # noqa: BLE001  the attributes come from the file: any failure is its fault
                file.fail(f"corrupted graph (nodes[{i}], {op}: {type(e).__name__}: {e})")
            if node.shape != shape or node.dtype != dtype:
                file.fail(f"corrupted graph (nodes[{i}], {op}: the file says {dtype} {shape}, its inputs give "
                          f"{node.dtype} {node.shape})")
        node.layer = entry.get("layer")
        nodes.append(node)
    return nodes


def read_forward_graph(path: str):
    """(features, outputs, single_output) of a saved model: its prediction graph, rebuilt and checked as
    `load` does, without compiling anything (so without Numba): for export and NumPy-only inference.
    The features are the inputs the outputs read, in the order Model.features gives them."""
    with _ModelFile(path) as file:
        nodes = _rebuild(file)
        outputs = [nodes[i] for i in file.manifest["outputs"]]
        single_output = file.manifest["single_output"]
    needed = {t.id for t in topological(outputs)}
    features = [n for n in nodes if n.op == "input" and n.id in needed]
    return features, outputs, single_output


def load_with(path: str, build):
    """The model saved in `path`, made by build(loss, outputs, optimizer, metrics) (Model: the model module
    passes itself, so that this one need not import it), its optimizer state and history restored."""
    with _ModelFile(path) as file:
        manifest = file.manifest
        nodes = _rebuild(file)
        outputs = [nodes[i] for i in manifest["outputs"]]
        try:
            model = build(nodes[manifest["loss"]], outputs[0] if manifest["single_output"] else outputs,
                          _optimizer(manifest["optimizer"]), manifest.get("metrics", []))
        except GraphError as e:
            file.fail(f"the graph does not make a model ({e})")
        except Exception as e:  # noqa: BLE001  a graph that passed every check but still fails to compile
            raise DataError(f"{path}: the graph does not compile ({type(e).__name__}: {e})") from e
        _restore_state(model, file)
    return model


def _restore_state(model, file: _ModelFile) -> None:
    from .history import History
    manifest = file.manifest
    state = {leaf.name: leaf for leaf in model.state}
    for name, index in manifest["state"].items():
        if name not in state:
            file.fail(f"optimizer state {name!r} does not fit this model")
        leaf = state[name]
        leaf.value[...] = file.array(index, leaf.shape, leaf.dtype, f"optimizer state {name!r}")
    model.history = History(manifest.get("history", []))
    model.epochs_done = manifest.get("epochs_done", 0)
    model.seed = manifest.get("seed")
    model.product_choices = Recorded(_product_choices(file))


def _product_choices(file: _ModelFile) -> dict:
    """The routine each product shape ran on (codegen/product_choice.py), so that a resumed run repeats its sums."""
    from .kernels.choice import NAMES
    choices = file.field(file.manifest, "product_choices", "product_choices", lambda v: isinstance(v, dict),
                         "an object", default={})
    for text, name in choices.items():
        if parse_shape(text) is None:
            file.fail(f"field product_choices has a key {_found(text)}, not a product shape such as "
                      "\"10x100x784 NN =\"")
        if name not in NAMES:
            file.fail(f"field product_choices at key {_found(text)} must be one of {', '.join(NAMES)}, "
                      f"got {_found(name)}")
    return choices


@dataclass
class SavedCallbacks:
    """The state of the callbacks a checkpoint keeps: early stopping's (state, best weights) and
    ReduceLROnPlateau's state, each None where the run had none."""
    early_stopping: tuple | None
    lr_plateau: dict | None


def restore_checkpoint(model, path: str) -> SavedCallbacks:
    """Load weights, optimizer state and history from a checkpoint of this same model; returns the state of
    its callbacks."""
    with _ModelFile(path) as file:
        _check_same_training(model, file.manifest, path)
        saved = {e["name"]: e for e in file.manifest["nodes"] if e["op"] == "param"}
        for leaf in model.parameters:
            if leaf.name not in saved:
                file.fail(f"checkpoint has no parameter {leaf.name!r}; it was saved from another model")
            if tuple(saved[leaf.name]["shape"]) != leaf.shape:
                file.fail(f"parameter {leaf.name!r} has shape {tuple(saved[leaf.name]['shape'])} in the checkpoint, "
                          f"{leaf.shape} in this model")
            leaf.value[...] = file.array(saved[leaf.name]["array"], leaf.shape, leaf.dtype, f"param {leaf.name!r}")
        _restore_state(model, file)
        return SavedCallbacks(_saved_early_stopping(model, file), _saved_lr_plateau(file))


# ---------------------------------------------------------------- what resuming needs beyond the weights

def _canonical(value) -> str:
    """The one form in which a node's field is compared, whether it comes from the live graph (tuples, NumPy
    scalars) or was read back from a file (lists, plain numbers): its JSON text, so that equal values compare
    equal however they are held (NaN included) and the two sides cannot drift apart."""
    return json.dumps(_jsonable(value), sort_keys=True)


def _graph_signature(entries) -> list[dict]:
    """The structure of a listed graph: each node's op, operands, attributes (one by one), shape, dtype and
    name in canonical form, its source line left out, so a model built again from the same code has the same
    signature."""
    return [{**{field: _canonical(entry[field]) for field in ("op", "inputs", "shape", "dtype", "name")},
             "attrs": {key: _canonical(value) for key, value in entry["attrs"].items()}} for entry in entries]


def _node_text(entries: list, at: int) -> str:
    if at >= len(entries):
        return "absent"
    op, name, shape, dtype = (entries[at][field] for field in ("op", "name", "shape", "dtype"))
    return f"{op}{f' {name!r}' if name else ''} {tuple(shape)} {dtype}"


def _difference(theirs: dict, ours: dict) -> str:
    """How a node of the checkpoint differs from this model's where its op, shape, dtype and name do not show
    it: its operands or an attribute, with both values."""
    if theirs["inputs"] != ours["inputs"]:
        return f"its operands are nodes {theirs['inputs']} in the checkpoint, {ours['inputs']} here"
    for key in sorted(set(theirs["attrs"]) | set(ours["attrs"])):
        saved, live = theirs["attrs"].get(key, "absent"), ours["attrs"].get(key, "absent")
        if saved != live:
            return f"its attribute {key} is {saved} in the checkpoint, {live} here"
    return ""


def _optimizer_text(config: dict) -> str:
    """An optimizer's config in a line; a schedule by its kind, which decides the optimizer state (a per-step
    schedule's step count)."""
    settings = [f"{k}={v}" for k, v in config.items() if k not in ("name", "schedule")]
    kind = config.get("schedule", {}).get("kind", "constant") if isinstance(config.get("schedule"), dict) else None
    if kind not in ("constant", None):
        settings.append(f"schedule={kind}")
    return f"{config.get('name')}({', '.join(settings)})"


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
    their_entries, our_entries = manifest["nodes"], [_node_entry(n, index) for n in nodes]
    ours = _graph_signature(our_entries)
    if theirs != ours:
        at = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
        saved, live = _node_text(their_entries, at), _node_text(our_entries, at)
        detail = _difference(theirs[at], ours[at]) if saved == live else ""
        raise DataError(f"{path}: the checkpoint was saved from another model: its graph has {len(theirs)} nodes, "
                        f"this model's {len(ours)}; node {at} is {saved} in the checkpoint, {live} here"
                        + (f": {detail}" if detail else ""))
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


def _saved_early_stopping(model, file: "_ModelFile"):
    """(state, best weights) of the early stopping saved in a checkpoint, or None."""
    entry = file.manifest.get("early_stopping")
    if entry is None:
        return None
    leaves = {t.name: t for t in model.parameters + model.state}
    try:
        state = {key: entry[key] for key in ("monitor", "best_score", "best_epoch", "waited")}
        weights = {name: file.array(i, leaves[name].shape, leaves[name].dtype, f"early-stopping weights {name!r}")
                   for name, i in entry["weights"].items()}
    except (KeyError, TypeError, AttributeError) as e:
        file.fail(f"corrupted early-stopping state ({type(e).__name__}: {e})")
    return state, weights


def _saved_lr_plateau(file: "_ModelFile") -> dict | None:
    """The state of the ReduceLROnPlateau saved in a checkpoint, or None; each field checked, as it reaches the
    learning rate."""
    entry = file.manifest.get("reduce_lr_on_plateau")
    if entry is None:
        return None
    if not isinstance(entry, dict):
        file.fail(f"field reduce_lr_on_plateau must be an object or null, got {_found(entry)}")
    where = "reduce_lr_on_plateau"
    file.field(entry, "monitor", f"{where}.monitor", lambda v: isinstance(v, str), "a string")
    file.field(entry, "best", f"{where}.best", lambda v: v is None or _is_number(v) and math.isfinite(v),
               "a finite number or null")
    for key in ("wait", "cooldown_counter"):
        file.field(entry, key, f"{where}.{key}", lambda v: _is_int(v) and v >= 0, "an integer >= 0")
    file.field(entry, "scale", f"{where}.scale", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]")
    return {key: entry[key] for key in ("monitor", "best", "wait", "cooldown_counter", "scale")}
