"""A search's directory: what it searches (search.json) and one result per finished trial.

Files, all written atomically (a temporary beside the target, fsynced, renamed over it):
  search.json                   the search's identity: space, build function or model file, data, seed,
                                training options, and their fingerprint
  trial-003.json                a finished trial: params, seed, status, per-epoch history, best epoch,
                                wall and compile seconds, worker, error
  trial-003.snet                its best epoch's model (written before the JSON, so a JSON means a model)
  trial-003.checkpoint.snet     its last epoch's state (weights, optimizer, early stopping), replaced after
                                every epoch: a stopped trial continues from it, as successive halving's
                                survivors do at the next rung
  trial-003.checkpoint.json     whose checkpoint it is and after how many epochs, with its SHA-256 (checked
                                as a result's JSON is)
  results.md, results.csv, results.json   the table of every trial, rewritten at the end of each run
  search.lock                   while a search runs: its pid and host (see DirectoryLock)

A trial counts as finished when its JSON exists and it was not killed (nor failed by the machine), so a
run interrupted anywhere (even while writing) leaves a directory that the same search completes.
Non-finite scores are written as null.
A trial's JSON carries the search's fingerprint, the SHA-256 of its model file and a checksum of itself,
so a result is taken only from a file this search wrote for that trial, unchanged, with its model beside it;
any other is trained again.  A checkpoint is taken on the same terms (its JSON, written after it, names
this search and trial and its SHA-256): any other, or one whose save a crash cut between its two files,
is not continued from, and that trial starts again from its first epoch (a Ctrl-C waits for both files).

A trial that failed or was killed after an earlier result (successive halving's previous rung) keeps that
result's history and scores in its record, with its own status, error and target.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import math
import os
import socket
import sys
import time

from ..durable import write_durably
from ..errors import SearchError

IDENTITY = "search.json"
FORMAT = 1
WHAT_CHANGED = {"space": "the search space", "build": "the build function or model file", "data": "the data",
                "seed": "the search seed", "training": "the training options", "format": "the directory's format"}
OUTPUTS = ("results.md", "results.csv", "results.json", "search.png")
LOCK = "search.lock"
HOLDER_WAIT_SECONDS = 2.0  # how long a refused search waits for the lock's holder to have written its name
IDENTITY_FIELDS = ("trial", "index", "params", "seed", "search", "checksum")  # whose a stored JSON is
RECORD_FIELDS = IDENTITY_FIELDS + ("status", "epochs_target")
FINISHED_FIELDS = ("monitor", "best_value", "best_epoch", "epochs", "history", "model", "model_sha256")
CHECKPOINT_FIELDS = IDENTITY_FIELDS + ("epochs", "sha256")
HOW_IT_ENDED = ("error", "traceback", "transient")  # fields of a record that a later run's outcome replaces


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
    write_durably(path, lambda raw: raw.write(data))


def write_json(path: str, value) -> None:
    write_file(path, (json.dumps(finite_or_none(value), indent=1) + "\n").encode())


def record_checksum(record: dict) -> str:
    """The SHA-256 of a trial record's canonical JSON, its checksum field left out: a copied or edited
    result file no longer matches it (a guard against accidents, not against forgery)."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DirectoryLock:
    """One search at a time in a directory: an exclusive flock on search.lock, held from the directory's
    check to the last table written.  The kernel releases a flock when its process ends however it ends,
    so a lock left by a killed search is never mistaken for a live one: the next search takes it, and
    says whose it was from the pid and host its holder wrote into the file.  The spawned worker processes
    do not inherit the descriptor, so orphaned workers do not hold the directory either."""

    def __init__(self, directory: str):
        self.directory, self.path = directory, os.path.join(directory, LOCK)
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise SearchError(f"search directory {self.directory}: cannot create its lock {self.path} "
                                  f"({e.strerror or e})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise SearchError(f"search directory {self.directory}: another search is running there "
                                  f"({holder}); wait for it to end, or choose another directory") from None
            except OSError as e:
                os.close(fd)
                raise SearchError(f"search directory {self.directory}: cannot lock {self.path} "
                                  f"({e.strerror or e})") from None
            try:
                same_file = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)  # its holder ended and removed it between our open and our lock: lock the new one
        self.fd = fd
        previous = _read_holder(fd)
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        os.fsync(fd)
        if previous is not None:
            print(f"staticnet: warning: {self.path} was left by a search that ended without releasing it "
                  f"({_describe(previous)}); this search takes it over", file=sys.stderr, flush=True)

    def release(self) -> None:
        """Remove the file while still holding it, then let go: a search that opened the file before and
        locks it after finds it gone from the directory, and locks a new one (see acquire)."""
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def _read_holder(fd: int) -> dict | None:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict | None) -> str:
    if holder is None:
        return "its holder has not written its pid yet"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, since {holder.get('started')}"


def _holder(fd: int) -> str:
    """Who holds the lock: the holder writes its pid and host just after locking, so wait for them a moment."""
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    holder = _read_holder(fd)
    while holder is None and time.monotonic() < deadline:
        time.sleep(0.05)
        holder = _read_holder(fd)
    return _describe(holder)


class SearchDirectory:
    def __init__(self, path: str, identity: dict):
        self.path = os.fspath(path)
        self.identity = {"format": FORMAT, **identity}
        self.fingerprint = fingerprint(self.identity)
        self.lock = DirectoryLock(self.path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def open(self, force: bool) -> None:
        """Make the directory and lock it, then check that it holds this same search (with force, empty it if
        not).  The lock is held until close()."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise SearchError(f"search directory {self.path}: is a file")
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise SearchError(f"search directory {self.path}: cannot create it ({e.strerror or e})") from None
        if not os.access(self.path, os.W_OK):
            raise SearchError(f"search directory {self.path}: cannot write in it")
        self.lock.acquire()
        try:
            self._check_files()
            stored = self._stored_identity()
            new = {**self.identity, "fingerprint": self.fingerprint}
            if stored is not None and stored.get("fingerprint") != new["fingerprint"]:
                if not force:
                    changed = [WHAT_CHANGED[k] for k in WHAT_CHANGED if stored.get(k) != self.identity.get(k)]
                    what = ", ".join(changed) or "its fingerprint"
                    raise SearchError(f"{self.path} holds the results of another search ({what} changed); pass "
                                      "force=True (--force) to replace them, or choose another directory")
                self._clear()
            if stored != new:
                write_json(self.file(IDENTITY), new)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.lock.release()

    def _check_files(self) -> None:
        """Where the search writes a file there must not be a directory (found now, not after the trials)."""
        for path in sorted(glob.glob(self.file("trial-*"))) + [self.file(n) for n in (IDENTITY,) + OUTPUTS]:
            if os.path.isdir(path):
                raise SearchError(f"{path}: is a directory, where the search keeps a file; remove it or choose "
                                  "another directory")

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

    def records(self, expected: dict[str, dict]) -> dict[str, dict]:
        """The result of each trial of `expected` (name: {"index", "params", "seed", "epochs": the epochs_target
        values it may have been trained to, or None for any}) that has one this search can take.  A result that
        cannot be read, lacks a field, was copied or edited, belongs to another search or trial, or lost its
        model is as good as none: that trial trains again, and one warning lists them all."""
        found, refused = {}, []
        for name, wanted in expected.items():
            path = self.file(f"{name}.json")
            if not os.path.exists(path):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    record = json.load(f)
                problem = self._problem(record, name, wanted)
            except (OSError, ValueError) as e:
                problem = f"cannot be read ({e})"
            if problem is None:
                found[name] = record
            else:
                refused.append(f"  {path}: {problem}")
        if refused:
            print(f"staticnet: warning: {len(refused)} stored trial result{'s' if len(refused) > 1 else ''} "
                  f"cannot be taken, {'those trials train' if len(refused) > 1 else 'that trial trains'} again:\n"
                  + "\n".join(refused), file=sys.stderr, flush=True)
        return found

    def _problem(self, record, name: str, wanted: dict) -> str | None:
        """Why this stored record is not the result of trial `name` of this search, or None."""
        fields = RECORD_FIELDS + (FINISHED_FIELDS if isinstance(record, dict) and record.get("status") == "ok" else ())
        problem = self._not_of(record, name, wanted, fields)
        if problem is not None:
            return problem
        target = record["epochs_target"]
        if wanted["epochs"] is not None and target is not None and target not in wanted["epochs"]:
            return f"was trained for {target} epochs, this search trains {' or '.join(map(str, wanted['epochs']))}"
        if record["status"] == "ok":
            model = self.file(f"{name}.snet")
            if record["model"] != f"{name}.snet" or not os.path.isfile(model):
                return f"its model {model} is missing"
            if file_sha256(model) != record["model_sha256"]:
                return f"its model {model} was changed after the search wrote it"
        return None

    def _not_of(self, record, name: str, wanted: dict, fields: tuple, what: str = "result") -> str | None:
        """Why a stored JSON (`what`: a result, or a checkpoint's) is not one this search wrote for trial `name`
        (wanted: its index, params and seed) and left unchanged, or None."""
        if not isinstance(record, dict):
            return f"not a trial {what} (a JSON {type(record).__name__})"
        missing = [f for f in fields if f not in record]
        if missing:
            return f"lacks the field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        if record["checksum"] != record_checksum(record):
            return "was changed after the search wrote it (its checksum does not match)"
        if record["search"] != self.fingerprint:
            return f"is a {what} of another search (its fingerprint differs)"
        if record["trial"] != name or record["index"] != wanted["index"]:
            return f"is the {what} of {record['trial']}, not of {name}"
        if record["params"] != wanted["params"]:
            return f"was trained with {record['params']}, this trial's parameters are {wanted['params']}"
        if record["seed"] != wanted["seed"]:
            return f"was trained with seed {record['seed']}, this trial's is {wanted['seed']}"
        return None

    def save(self, outcome: dict, earlier: dict | None = None) -> dict:
        """Write a trial's model file, then its JSON (with this search's fingerprint, the model's SHA-256 and
        its own checksum); returns the record as written.  `earlier`: the trial's stored record, whose results
        a trial that failed or was killed keeps (see the module's docstring).  A last checkpoint that came
        with the outcome (from Dask) is stored first."""
        record = dict(outcome["record"])
        name = record["trial"]
        if outcome["checkpoint"] is not None:
            self.save_checkpoint(record, *outcome["checkpoint"])
        if outcome["model"] is not None:
            write_file(self.file(f"{name}.snet"), outcome["model"])
            record.update(model=f"{name}.snet", model_sha256=hashlib.sha256(outcome["model"]).hexdigest())
        if earlier is not None and record["status"] != "ok":
            record = _stopped_after(earlier, record)
        record = finite_or_none({**record, "search": self.fingerprint})
        record["checksum"] = record_checksum(record)
        write_json(self.file(f"{name}.json"), record)
        return record

    def save_checkpoint(self, trial: dict, epochs: int, state: bytes) -> None:
        """Store the checkpoint of `trial` (a task's or a record's trial, index, params and seed) after `epochs`
        epochs: the model file, then the JSON that vouches for it."""
        from ..interrupts import interrupts_held
        name = trial["trial"]
        about = {"trial": name, "index": trial["index"], "params": trial["params"], "seed": trial["seed"],
                 "epochs": epochs, "sha256": hashlib.sha256(state).hexdigest(), "search": self.fingerprint}
        about["checksum"] = record_checksum(about)
        with interrupts_held() as held:  # a Ctrl-C between the two files would cost the trial its checkpoint
            write_file(self.file(f"{name}.checkpoint.snet"), state)
            write_json(self.file(f"{name}.checkpoint.json"), about)
        if held.interrupted:
            raise KeyboardInterrupt

    def checkpoint(self, name: str, wanted: dict) -> tuple[int, bytes] | None:
        """(epochs, bytes) of the stored checkpoint of trial `name` (wanted: as for records()), or None if it
        has none this search can continue from (one it cannot, with a warning saying why)."""
        path = self.file(f"{name}.checkpoint.json")
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                about = json.load(f)
            problem = self._not_of(about, name, wanted, CHECKPOINT_FIELDS, what="checkpoint")
            if problem is None:
                with open(self.file(f"{name}.checkpoint.snet"), "rb") as f:
                    state = f.read()
                if hashlib.sha256(state).hexdigest() != about["sha256"]:
                    problem = f"{name}.checkpoint.snet is not the checkpoint it describes"
        except (OSError, ValueError) as e:
            problem = f"cannot be read ({e})"
        if problem is not None:
            print(f"staticnet: warning: {path}: {problem}; {name} starts again from its first epoch",
                  file=sys.stderr, flush=True)
            return None
        return about["epochs"], state


def _stopped_after(earlier: dict, stopped: dict) -> dict:
    """The record of a trial that failed or was killed after an earlier record: the earlier one's history and
    scores (the longer history, where the stopped run kept one), with how this run ended."""
    kept = {k: v for k, v in earlier.items() if k not in HOW_IT_ENDED}
    merged = {**kept, **{k: v for k, v in stopped.items() if v is not None}}
    if len(earlier.get("history") or []) > len(stopped.get("history") or []):
        merged["history"] = earlier["history"]
    return merged
