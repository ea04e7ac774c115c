"""A search's directory: what it searches (search.json) and one result per finished trial.

Files, all written atomically (a temporary beside the target, fsynced, renamed over it):
  search.json                   the search's identity: space, build function or model file, data, seed,
                                training options, and their fingerprint
  trial-003.json                a finished trial: params, seed, status, per-epoch history, best epoch,
                                wall and compile seconds, worker, error
  trial-003.snet                its best epoch's model (written before the JSON, so a JSON means a model)
  trial-003.checkpoint.snet     successive halving only: its last epoch's state, to continue at the next rung
  results.md, results.csv, results.json   the table of every trial, rewritten at the end of each run

A trial counts as finished when its JSON exists and it was not killed, so a run interrupted anywhere (even
while writing) leaves a directory that the same search completes.  Non-finite scores are written as null.
"""
from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import sys

from ..errors import SearchError

IDENTITY = "search.json"
FORMAT = 1
WHAT_CHANGED = {"space": "the search space", "build": "the build function or model file", "data": "the data",
                "seed": "the search seed", "training": "the training options", "format": "the directory's format"}
OUTPUTS = ("results.md", "results.csv", "results.json", "search.png")


def fingerprint(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finite_or_none(value):
    """A record with every NaN and infinity replaced by None (null), so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def write_file(path: str, data: bytes) -> None:
    from ..serialize import write_durably
    write_durably(path, lambda raw: raw.write(data))


def write_json(path: str, value) -> None:
    write_file(path, (json.dumps(finite_or_none(value), indent=1) + "\n").encode())


class SearchDirectory:
    def __init__(self, path: str, identity: dict):
        self.path = os.fspath(path)
        self.identity = {"format": FORMAT, **identity}

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def open(self, force: bool) -> None:
        """Make the directory, or check that it holds this same search (with force, empty it if not)."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise SearchError(f"search directory {self.path}: is a file")
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise SearchError(f"search directory {self.path}: cannot create it ({e.strerror or e})") from None
        if not os.access(self.path, os.W_OK):
            raise SearchError(f"search directory {self.path}: cannot write in it")
        stored = self._stored_identity()
        new = {**self.identity, "fingerprint": fingerprint(self.identity)}
        if stored is not None and stored.get("fingerprint") != new["fingerprint"]:
            if not force:
                changed = [WHAT_CHANGED[k] for k in WHAT_CHANGED if stored.get(k) != self.identity.get(k)]
                what = ", ".join(changed) or "its fingerprint"
                raise SearchError(f"{self.path} holds the results of another search ({what} changed); pass "
                                  "force=True (--force) to replace them, or choose another directory")
            self._clear()
        if stored != new:
            write_json(self.file(IDENTITY), new)

    def _stored_identity(self) -> dict | None:
        path = self.file(IDENTITY)
        if not os.path.exists(path):
            if glob.glob(self.file("trial-*.json")):
                raise SearchError(f"{self.path} holds trial results but no {IDENTITY}: not a directory this search "
                                  "can trust; choose another directory")
            return None
        try:
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
        except (OSError, ValueError) as e:
            raise SearchError(f"{path}: cannot be read ({e}); choose another directory") from None
        return stored if isinstance(stored, dict) else {}

    def _clear(self) -> None:
        for path in glob.glob(self.file("trial-*")) + [self.file(n) for n in OUTPUTS + (IDENTITY,)]:
            if os.path.isfile(path):
                os.unlink(path)

    def records(self, names) -> dict[str, dict]:
        """The result of each of these trials that has one (a file that cannot be read is as good as
        none: that trial trains again, with a warning)."""
        found = {}
        for name in names:
            path = self.file(f"{name}.json")
            if not os.path.exists(path):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    record = json.load(f)
                if not isinstance(record, dict) or record.get("trial") != name:
                    raise ValueError("not a trial result")
            except (OSError, ValueError) as e:
                print(f"staticnet: warning: {path} cannot be read ({e}); training {name} again", file=sys.stderr)
                continue
            found[name] = record
        return found

    def save(self, outcome: dict, merged_with: dict | None = None) -> dict:
        """Write a trial's model files, then its JSON; returns the record as written.  `merged_with`: the
        record a killed trial had before (successive halving keeps its earlier rungs' history)."""
        record = dict(outcome["record"])
        name = record["trial"]
        if outcome["model"] is not None:
            write_file(self.file(f"{name}.snet"), outcome["model"])
            record["model"] = f"{name}.snet"
        if outcome["checkpoint"] is not None:
            write_file(self.file(f"{name}.checkpoint.snet"), outcome["checkpoint"])
        if merged_with is not None and record["status"] == "killed":
            record = {**merged_with, "status": "killed", "error": record["error"],
                      "epochs_target": record.get("epochs_target")}
        record = finite_or_none(record)
        write_json(self.file(f"{name}.json"), record)
        return record

    def checkpoint(self, name: str) -> bytes:
        with open(self.file(f"{name}.checkpoint.snet"), "rb") as f:
            return f.read()
