"""Which routine runs each product of a step, chosen by timing the candidates on the machine that runs them.

The product kernels were written and tuned on one CPU, and on another several lost to the BLAS call they
replaced (issue 34).  So the first time a product shape is met on a machine (`chosen_for`, when a loop is
first run at a batch size), each routine that can compute it (kernels/choice.py: BLAS, the microkernels) is
timed on it, and the fastest is written into kernels/choice.py's table, which the compiled products read.
Winners are kept in the compile cache in one file per machine (`store_path`), named by a hash of what the
timings depend on: the CPU's model name and its name and features as LLVM sees them, and the versions of
staticnet, Numba, llvmlite, NumPy (its OpenBLAS) and of the kernels' source.  A second model or process with
the same shapes times nothing.

How it times on a shared, noisy machine: every candidate runs on its own operands, warmed once, then ROUNDS
rounds each time every candidate in turn (the order rotated each round, so that a busy moment falls on all
of them alike), each for a loop of calls lasting about SAMPLE_SECONDS; a candidate's time is its fastest
round, since noise only ever slows a loop down.  A microkernel must beat BLAS by MARGIN to be chosen, so
that a tie measured through noise keeps the library call, and must then beat it again, by the margin, in ROUNDS
more rounds of the two alone: a winner is stored for every later model on the machine, and a busy moment that
fell on BLAS's rounds alone must not decide for good.  A shape costs a few milliseconds
(ROUNDS x candidates x SAMPLE_SECONDS, or one call per sample for the largest products).

A model records the choices its products used (`Model.kernel_choices`, saved in its file), and passes them
back as `pinned`: a model loaded to resume training runs each product on the routine it ran on before, so
it repeats the same sums.  STATICNET_KERNEL_CHOICE=blas or =micro puts every product on BLAS or on a
microkernel wherever one fits (tests), =auto (the default) chooses as above.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time

import numpy as np

from ..durable import write_text
from . import cache

ENVIRONMENT = "STATICNET_KERNEL_CHOICE"
POLICIES = ("auto", "blas", "micro")
ROUNDS = 5
SAMPLE_SECONDS = 50e-6
MARGIN = 0.03  # a microkernel is chosen only when its fastest round beats BLAS's by this share
STORE_VERSION = 1

_stored: dict | None = None  # this machine's stored choices, read once per process: shape text -> routine name


def policy() -> str:
    """$STATICNET_KERNEL_CHOICE: auto (default), blas or micro."""
    value = os.environ.get(ENVIRONMENT, "").strip().lower() or "auto"
    if value not in POLICIES:
        raise ValueError(f"{ENVIRONMENT} must be one of {', '.join(POLICIES)}, got {os.environ[ENVIRONMENT]!r}")
    return value


def shape_text(shape) -> str:
    """A product shape as the store and model files write it: "m x n x k", then N or T for op(a) and op(b),
    then "=" (beta 0: out written) or "+" (out updated): "784x100x10 TN +"."""
    m, n, k, trans_a, trans_b, beta_zero = shape
    return f"{m}x{n}x{k} {'T' if trans_a else 'N'}{'T' if trans_b else 'N'} {'=' if beta_zero else '+'}"


def parse_shape(text: str):
    """The shape `shape_text` wrote, or None if `text` is not one."""
    try:
        sizes, layout, beta = text.split(" ")
        m, n, k = (int(s) for s in sizes.split("x"))
    except ValueError:
        return None
    if min(m, n, k) < 1 or len(layout) != 2 or set(layout) - {"N", "T"} or beta not in ("=", "+"):
        return None
    return m, n, k, layout[0] == "T", layout[1] == "T", beta == "="


def machine() -> dict:
    """What the timings depend on: the CPU as the OS and LLVM see it, and the libraries' versions."""
    import llvmlite
    import llvmlite.binding as llvm
    import numba

    from ..version import __version__
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    features = sorted(f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+"))
    return {"cpu": model, "llvm_cpu": llvm.get_host_cpu_name(), "features": features,
            "versions": {"staticnet": __version__, "kernels": cache.kernel_library_fingerprint(),
                         "numba": numba.__version__, "llvmlite": llvmlite.__version__, "numpy": np.__version__}}


def store_path(directory: str | None = None) -> str:
    described = json.dumps(machine(), sort_keys=True)
    return os.path.join(directory or cache.cache_dir(),
                        f"{cache.CHOICES_PREFIX}{hashlib.sha256(described.encode()).hexdigest()[:16]}.json")


def read_store(path: str) -> dict:
    """The choices a store file holds (shape text -> routine name); an unreadable or foreign file holds none
    (it is written again with this process's timings)."""
    from ..kernels.choice import NAMES
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
        found = content["choices"] if content.get("version") == STORE_VERSION else {}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {text: name for text, name in found.items() if parse_shape(text) and name in NAMES}


def _stored_choices() -> dict:
    global _stored
    if _stored is None:
        _stored = read_store(store_path())
    return _stored


def _remember(new: dict) -> None:
    """Add `new` choices to this machine's store: read again, merged and written whole (another process may
    have added its own meanwhile; a lost race only means a shape is timed again)."""
    path = store_path()
    merged = {**read_store(path), **_stored_choices(), **new}
    _stored.update(merged)
    try:
        write_text(path, json.dumps({"version": STORE_VERSION, "machine": machine(), "choices": merged},
                                    indent=1, sort_keys=True) + "\n")
    except OSError as e:
        cache.warn(f"cannot write the product choices {path} ({e.strerror or e}); they are timed again next time")


def candidates(shape) -> list[int]:
    """The routines that can compute this product on this machine (the wide form only with AVX-512)."""
    from ..kernels.choice import AXPY, BLAS, DOT, WIDE_AXPY, fits, offered
    m, n, k, trans_a, trans_b, beta_zero = shape
    return [choice for choice in (BLAS, AXPY, WIDE_AXPY, DOT) if offered(choice) and fits(choice, trans_a, trans_b, n)]


def measure(shape) -> tuple[int, dict]:
    """(the fastest routine for this shape, each candidate's fastest round in seconds per call)."""
    from ..kernels.choice import BLAS, time_choice
    m, n, k, trans_a, trans_b, beta_zero = shape
    choices = candidates(shape)
    if len(choices) == 1:
        return choices[0], {}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    outs = {choice: np.zeros((m, n), np.float32) for choice in choices}
    alpha, beta = (1.0, 0.0) if beta_zero else (-1e-3, 1.0)

    def sample(choice, calls):
        started = time.perf_counter()
        time_choice(choice, calls, a, b, outs[choice], trans_a, trans_b, alpha, beta)
        return (time.perf_counter() - started) / calls

    calls = max(1, int(SAMPLE_SECONDS / max(min(sample(choice, 1) for choice in choices), 1e-9)))
    best = {choice: float("inf") for choice in choices}
    for round_ in range(ROUNDS):
        for choice in choices[round_ % len(choices):] + choices[:round_ % len(choices)]:
            best[choice] = min(best[choice], sample(choice, calls))

    def beats_blas(seconds, choice):
        return seconds[choice] <= (1 - MARGIN) * seconds[BLAS]

    def head_to_head(choice):
        again = {choice: float("inf"), BLAS: float("inf")}
        for round_ in range(ROUNDS):
            for each in ((BLAS, choice) if round_ % 2 else (choice, BLAS)):
                again[each] = min(again[each], sample(each, calls))
        return again
    fastest = min(choices, key=best.get)
    if fastest != BLAS and not (beats_blas(best, fastest) and beats_blas(head_to_head(fastest), fastest)):
        fastest = BLAS
    return fastest, best


def chosen_for(calls, pinned: dict) -> dict:
    """The routine of each product shape in `calls` (shape -> routine name): `pinned`'s (the model's own, as
    recorded), else this machine's stored choice, else timed now (and stored).  Under STATICNET_KERNEL_CHOICE
    =blas or =micro, none (the table's policy decides)."""
    from ..kernels.choice import NAMES
    if policy() != "auto":
        return {}
    stored, new, result = _stored_choices(), {}, {}
    for shape in sorted(calls):
        text = shape_text(shape)
        name = pinned.get(text) or stored.get(text)
        if name is None:
            name = new[text] = NAMES[measure(shape)[0]]
        result[shape] = name
    if new:
        _remember(new)
    return result


_installed = None  # the choices the table holds, the policy and kernels/choice.py's install count when put there


def install(choices: dict) -> None:
    """Make the compiled products run on these choices (shape -> routine name), the others as the policy says."""
    global _installed
    from ..kernels import choice
    if _installed is not None and _installed[0] is choices and _installed[1:] == (policy(), choice.installs):
        return
    choice.install({shape: choice.NAMES.index(name) for shape, name in choices.items()},
                   {"auto": choice.BY_RULE, "blas": choice.ALL_BLAS, "micro": choice.ALL_MICRO}[policy()])
    _installed = (choices, policy(), choice.installs)


class Recorded:
    """The product choices of one model (or compiled function): `texts` (shape text -> routine name) is what
    its steps have run on, which a model file keeps; `use` puts a step's products on them before it runs."""

    def __init__(self, texts: dict | None = None):
        self.texts = dict(texts or {})
        self._by_step: dict = {}

    def use(self, plan, batch: int) -> None:
        """Before a run of the step planned by `plan` on batches of up to `batch` rows: its products' choices
        (timed on first use) into the table the compiled products read."""
        from .parallel import product_calls
        key = (id(plan), batch, policy())
        found = self._by_step.get(key)
        if found is None:  # the plan is kept beside its choices, so that its id is never another plan's
            found = self._by_step[key] = (plan, chosen_for(product_calls(plan, batch), self.texts))
            self.texts.update({shape_text(shape): name for shape, name in found[1].items()})
        install(found[1])


def described(directory: str) -> str:
    """What `staticnet cache` says of this machine's product choices in the cache `directory`."""
    about = machine()
    path = store_path(directory)
    choices = read_store(path)
    lines = [f"product choices on this machine ({about['cpu']}; {about['llvm_cpu']} as LLVM sees it"
             f"{', AVX-512' if 'avx512f' in about['features'] else ''}): {len(choices)} product shapes timed"
             + (f", in {os.path.basename(path)}" if choices else "")]
    for text, name in sorted(choices.items(), key=lambda item: parse_shape(item[0])):
        lines.append(f"  {text:<24} {name}")
    if policy() != "auto":
        routine = "BLAS" if policy() == "blas" else "a microkernel where one fits"
        lines.append(f"  {ENVIRONMENT}={policy()}: every product runs on {routine}")
    return "\n".join(lines)
