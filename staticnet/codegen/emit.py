"""Source emission: a Program becomes the readable Python source of an @njit step.

One statement group per node, each headed by a comment naming the node, its op,
shape and the user's source line.  Elementwise programs become loop nests;
matrix products call the kernel library; opaque ops use the lowering they
registered beside their other rules.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import math
import re
import textwrap

import numpy as np

from ..graph import Tensor, fmt_shape
from ..ops import registry
from ..program import Program
from .memory import MemoryPlan, plan_memory
from .parallel import PARALLEL_ROWS, SEGMENT_TILE

# fastmath without nnan/ninf, so NaN and Inf guards keep working; error_model="numpy" lets a division by
# zero give inf instead of raising, which removes the branch that kept every loop with a division scalar
# (measured: Adam's update over 78,400 weights went from 264 to 41 us).
JIT = ("@njit(cache=True, nogil=True, error_model='numpy', "
       "fastmath={'contract', 'arcp', 'afn', 'reassoc', 'nsz'})")
JIT_PARALLEL = JIT.replace("@njit(", "@njit(parallel=True, ")  # for the functions holding batch-parallel segments
MODULE_NAMES = {"math", "np", "njit", "prange", "K", "f32", "TRANSPOSED", "AS_IS"}  # what MODULE_HEADER defines
VECTOR_RUN = 64  # an innermost axis shorter than this runs as part of one loop over the trailing axes (open_pass):
#                 LLVM's vector loop takes 32 float32 values per iteration (8 lanes, 4 interleaved), so
#                 shorter loops ran element by element, and up to 63 mostly so.
FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d+(?:e[-+]?\d+)?)")


def identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


class Emitter:
    """Builds the source of one step function, and answers lowerings' questions."""

    def __init__(self, program: Program, name: str, inputs: list[Tensor], plan: MemoryPlan | None = None):
        self.program, self.name, self.inputs = program, name, inputs
        self.plan = plan or plan_memory(program)
        self.lines: list[str] = []
        self.depth = 1
        self.names: dict[int, str] = {}
        self.index = {n.id: i for i, n in enumerate(self.plan.order)}
        self.leaves = [n for n in self.plan.order if n.op == "param"]
        self.constants = [n for n in self.plan.order if n.op == "constant" and n.value.size > 1]
        # after the parameters: a view of each buffer, and the thread count (for batch rows and large products)
        self.buffer_args = [f"buf{b.slot}" for b in self.plan.buffers] + ["threads"]
        self.segment_functions: list[str] = []
        self.batch = "n"  # the batch size's name: the number of rows inside a batch-parallel segment
        self._temp = 0
        self._body = None
        self._run_views: dict[int, tuple[str, tuple]] = {}  # during an elementwise pass run as one loop
        self._pass_sums = []
        self._leaf_names = self._name_leaves()
        floats = [n.dtype for n in self.plan.order if n.dtype.kind == "f"]
        self.float_dtype = floats[0] if floats else np.dtype("float64")

    # ------------------------------------------------------------ naming
    def arg_name(self, leaf: Tensor) -> str:
        if leaf.op in ("input", "param"):
            return self._leaf_names[leaf.id]
        return f"c{self.constants.index(leaf)}"

    def _name_leaves(self):
        """in_<name> and p_<name>, numbered when two different leaves share a name."""
        names, used = {}, set()
        for leaf in list(self.inputs) + [n for n in self.plan.order if n.op in ("input", "param")]:
            if leaf.id in names:
                continue
            base = ("in_" if leaf.op == "input" else "p_") + identifier(leaf.name)
            name, k = base, 2
            while name in used:
                name, k = f"{base}_{k}", k + 1
            names[leaf.id] = name
            used.add(name)
        return names

    def ref(self, t: Tensor) -> str:
        """The Python expression holding t's value inside the step (an array view or a scalar)."""
        if t.op == "constant" and t.value.size == 1:
            value = t.value.reshape(-1)[0]
            return typed_literal(float(value), t.dtype) if t.dtype.kind == "f" else repr(int(value))
        if t.is_leaf:
            return f"{self.arg_name(t)}[0]" if t.shape == () else self.arg_name(t)
        return self.names[t.id]

    def dims(self, t: Tensor) -> list[str]:
        return self._dims(t.shape)

    def parts(self, multi: Tensor) -> dict[int, str]:
        """Variable names of the parts of a multi-result node, by part index."""
        return {p.attrs["index"]: self.names[p.id] for p in self.plan.order if p.op == "part" and p.inputs[0] is multi}

    def temp(self, stem="t") -> str:
        self._temp += 1
        return f"{stem}{self._temp}"

    def line(self, text: str = ""):
        self.lines.append("    " * self.depth + text if text else "")

    def indent(self):
        self.depth += 1

    def dedent(self):
        self.depth -= 1

    # ------------------------------------------------------------ loops
    def open_loops(self, t: Tensor) -> list[str]:
        """Open a loop nest over t's elements; returns the loop variables."""
        return self._open(self.dims(t))

    def _open(self, dims) -> list[str]:
        indices = []
        for axis, dim in enumerate(dims):
            var = f"i{axis}"
            self.line(f"for {var} in range({dim}):")
            self.indent()
            indices.append(var)
        return indices

    def fill(self, target: str, t: Tensor, value: str):
        """Loops setting every element of an array shaped like t (array expressions compile slowly)."""
        indices = self.open_loops(t)
        self.line(f"{target}[{', '.join(indices)}] = {value}")
        self.close_loops(indices)

    def copy(self, target: str, source: Tensor):
        indices = self.open_loops(source)
        self.line(f"{target}[{', '.join(indices)}] = {self.ref(source)}[{', '.join(indices)}]")
        self.close_loops(indices)

    def close_loops(self, indices):
        for _ in indices:
            self.dedent()

    def element(self, t: Tensor, out_shape, indices) -> str:
        """t read at the loop position, broadcasting its (right-aligned) axes against out_shape."""
        if self._scalar(t):
            return self.ref(t)
        ref, shape = self._run_views.get(t.id, (self.ref(t), t.shape))
        lead = len(out_shape) - len(shape)
        idx = ["0" if d == 1 and out_shape[lead + a] != 1 else indices[lead + a] for a, d in enumerate(shape)]
        return f"{ref}[{', '.join(idx)}]"

    # ------------------------------------------------------------ elementwise passes
    def open_pass(self, shape, operands, written=(), sums=()):
        """Open the loops of an elementwise pass over `shape` that reads `operands`, writes the arrays
        of that shape named in `written` and adds into the vectors named in `sums` (one value per
        index of the last axis, summed over the others; zeroed beforehand by the caller).  Returns
        the loop variables, the shape they run over, and the names to write and add to inside.

        A short innermost loop does not vectorise: LLVM unrolls a loop over, say, 20 channels fully,
        and the vectoriser that would pack the unrolled copies (SLP) is off in Numba (it miscompiled).
        So where every operand allows it, the trailing axes run as one loop (`_run_start`): arrays
        of the full shape through flat views, per-channel vectors (biases) repeated along the run
        beforehand, sums into a run-long accumulator folded after.  Measured on the book's CNN, per
        image (64 x 12 x 12 x 20 values): bias + sigmoid 3.5 -> 2.1 us, the sigmoid's gradient with
        the bias gradient's sum 2.1 -> 0.7 us."""
        operands = [t for t in operands if not self._scalar(t)]
        start = self._run_start(shape, operands, bool(sums))
        if start is None:
            self._pass_sums = []
            return self._open(self._dims(shape)), shape, list(written), [name for name, _ in sums]
        suffix = shape[start:]
        run = " * ".join(self._dims(suffix)) if None in suffix else str(math.prod(suffix))
        run_shape = tuple(shape[:start]) + (run,)
        lead_dims = self._dims(shape[:start])
        self.line(f"# the last {len(suffix)} axes run as one loop of {run} (a loop of {shape[-1]} would not vectorise)")
        full_views = {}  # array name -> its flat view, when it has the loop's shape (an update reads what it writes)
        for t in {t.id: t for t in operands if self._runs_whole(t, suffix)}.values():
            view = self.temp(f"{identifier(self.ref(t))}_flat")
            dims = self._dims(t.shape[:t.ndim - len(suffix)]) + [run]
            self.line(f"{view} = {self.ref(t)}.reshape(({', '.join(dims)},))")
            self._run_views[t.id] = (view, tuple(t.shape[:t.ndim - len(suffix)]) + (run,))
            if t.ndim == len(shape):
                full_views[self.ref(t)] = view
        for t in {t.id: t for t in operands if self._per_channel(t, shape)}.values():
            tile = self.temp(f"{identifier(self.ref(t))}_tile")
            zeros = "0, " * (t.ndim - 1)
            self.line(f"{tile} = np.empty({run}, np.{t.dtype.name})")
            self.line(f"for j in range({run}):")
            self.line(f"    {tile}[j] = {self.ref(t)}[{zeros}j % {shape[-1]}]")
            self._run_views[t.id] = (tile, (run,))
        flat_written = []
        for name in written:
            if name not in full_views:
                full_views[name] = self.temp(f"{identifier(name)}_flat")
                self.line(f"{full_views[name]} = {name}.reshape(({', '.join(lead_dims + [run])},))")
            flat_written.append(full_views[name])
        self._pass_sums = []
        for name, dtype in sums:
            acc = self.temp(f"{identifier(name)}_acc")
            self.line(f"{acc} = np.zeros({run}, np.{np.dtype(dtype).name})")
            self._pass_sums.append((name, acc, run, shape[-1]))
        return self._open(lead_dims + [run]), run_shape, flat_written, [acc for _, acc, _, _ in self._pass_sums]

    def close_pass(self, indices):
        """Close open_pass's loops; fold run-long sums back to one value per channel."""
        self.close_loops(indices)
        for name, acc, run, channels in self._pass_sums:
            self.line(f"for j in range({run}):")
            self.line(f"    {name}[j % {channels}] += {acc}[j]")
        self._pass_sums = []
        self._run_views = {}

    def _dims(self, shape) -> list[str]:
        return [self.batch if d is None else str(d) for d in shape]

    @staticmethod
    def _scalar(t: Tensor) -> bool:
        return t.shape == () or (t.op == "constant" and t.value.size == 1)

    def _contiguous(self, t: Tensor) -> bool:
        return not (t.op == "transpose" and t.id in self.plan.view_of)

    def _runs_whole(self, t: Tensor, suffix) -> bool:
        """Whether t holds every value of the run (its trailing axes are the run's), contiguously."""
        return (t.ndim >= len(suffix)
                and tuple(t.shape[t.ndim - len(suffix):]) == tuple(suffix) and self._contiguous(t))

    @staticmethod
    def _per_channel(t: Tensor, shape) -> bool:
        """Whether t is one value per index of the last axis (a bias), the same along all others."""
        return t.ndim >= 1 and None not in t.shape and t.shape[-1] == shape[-1] and math.prod(t.shape[:-1]) == 1

    def _run_start(self, shape, operands, sums: bool):
        """The first axis of the longest run of trailing axes that can loop as one, or None when the
        innermost axis is long enough already or some operand is read in another pattern."""
        if len(shape) < 2 or shape[-1] is None or shape[-1] >= VECTOR_RUN:
            return None
        for start in range(len(shape) - 1):
            suffix = shape[start:]
            if None in suffix[1:] or math.prod(d or 2 for d in suffix) <= shape[-1]:
                continue
            whole = [self._runs_whole(t, suffix) for t in operands]
            tiled = [not w and self._per_channel(t, shape) for w, t in zip(whole, operands)]
            if not all(w or c for w, c in zip(whole, tiled)):
                continue
            if (any(tiled) or sums) and None in suffix:
                continue
            return start
        return None

    def program_body(self, inputs, program, out_shape, indices) -> list[str]:
        """Statements computing each instruction of an elementwise program at one position; their names."""
        values = [self.element(t, out_shape, indices) for t in inputs]
        results = []
        for op, args, attrs in program:
            expr = scalar_expression(op, [values[a] for a in args], dict(attrs), self.float_dtype)
            name = self.temp()
            self.line(f"{name} = {expr}")
            values.append(name)
            results.append(name)
        return results

    # ------------------------------------------------------------ the step
    def emit_node(self, node: Tensor):
        opdef = registry[node.op]
        args = ", ".join(self.describe_input(t) for t in node.inputs)
        self.line(f"# %{self.index[node.id]} {node.op}({args}) -> {fmt_shape(node.shape)} {node.dtype}   {node.loc}")
        if node.id in self.plan.view_of:
            source = self.ref(node.inputs[0])
            if node.op == "transpose":
                self.line(f"{self.names[node.id]} = {source}.transpose({', '.join(map(str, node.attrs['axes']))})")
            else:
                self.line(f"{self.names[node.id]} = {source}.reshape(({', '.join(self.dims(node))},))")
            return
        if opdef.lower is not None:
            opdef.lower(node, self)
        elif opdef.kind in ("elementwise", "broadcast"):
            inputs, program = loop_program(node)
            self.elementwise(node, inputs, program)
        else:
            LOWERINGS[node.op](node, self)

    def emit_segment(self, segment: list[Tensor]):
        """The segment's nodes inside a prange over chunks of rows (one per thread from PARALLEL_ROWS
        rows up, else one), each chunk taken SEGMENT_TILE rows at a time, every batch-shaped array seen
        through those rows; views are made first, for the whole batch, as later nodes read them.  One loop for both cases: a second,
        serial copy of the segment for small batches was no faster and took 3.5 s more to compile."""
        first, last = self.index[segment[0].id], self.index[segment[-1].id]
        for node in segment:
            if node.id in self.plan.view_of:
                self.emit_node(node)
        outer, outer_depth = self.lines, self.depth
        self.lines, self.depth = [], 1
        self.line(f"chunks = threads if n >= {PARALLEL_ROWS} else 1")
        self.line("for chunk in prange(chunks):")
        self.indent()
        self.line("lo, hi = n * chunk // chunks, n * (chunk + 1) // chunks")
        self.line(f"for first in range(lo, hi, {SEGMENT_TILE}):  # a few rows at a time, while they are in cache")
        self.indent()
        self.line(f"last = min(hi, first + {SEGMENT_TILE})")
        self.line("rows = last - first")
        names, leaf_names, sliced = dict(self.names), dict(self._leaf_names), set()
        for node in segment:
            for t in (node, *node.inputs):
                if None in t.shape and t.id not in sliced:
                    sliced.add(t.id)
                    chunk = f"{self.ref(t)}_rows"
                    self.line(f"{chunk} = {self.ref(t)}[first:last]")
                    (self._leaf_names if t.is_leaf else self.names)[t.id] = chunk
        self.batch = "rows"
        for node in segment:
            if node.id not in self.plan.view_of:
                self.emit_node(node)
        self.batch, self.names, self._leaf_names = "n", names, leaf_names
        body, self.lines, self.depth = self.lines, outer, outer_depth
        self._outline(f"rows_{first}_to_{last}", body,
                      f"%{first} to %{last}: rows split across threads, each running these on its own rows")

    def _outline(self, stem: str, body: list[str], title: str):
        """Make `body` a parallel function of its own, named after its text, and call it here.  Compiling a
        prange loop is slow (about 4 s for the book's CNN's forward segment), and training, evaluation
        and prediction run the same forward segment: as one function it compiles once (all three loops:
        12 instead of 21-23 s)."""
        args = free_names(body)
        text = "\n".join([f"({', '.join(args)}):", *body])
        name = f"{stem}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"
        self.line(f"# ---- {title}: {name} ----")
        self.line(f"{name}({', '.join(args)})")
        self.segment_functions.append("\n".join([JIT_PARALLEL, f"def {name}({', '.join(args)}):",
                                                 f'    """{title}."""', *body]) + "\n")

    def gemm(self, a: str, b: str, out: str, trans_a: bool, trans_b: bool, alpha: str, beta: str):
        """out = alpha op(a) @ op(b) + beta out; large products outside a segment are split across the
        threads (kernels/gemm.py), inside one the threads are taken and each works on its own rows."""
        flags = f"{'TRANSPOSED' if trans_a else 'AS_IS'}, {'TRANSPOSED' if trans_b else 'AS_IS'}"
        if self.batch == "rows":
            self.line(f"K.gemm({a}, {b}, {out}, {flags}, {alpha}, {beta})")
        else:
            self.line(f"K.gemm_split({a}, {b}, {out}, {flags}, {alpha}, {beta}, threads)")

    def describe_input(self, t: Tensor) -> str:
        if t.is_leaf and t.op != "constant":
            return t.name
        if t.op == "constant":
            return self.ref(t) if t.value.size == 1 else "constant"
        return f"%{self.index[t.id]}"

    def elementwise(self, node, inputs, program):
        if node.shape == ():
            results = self.program_body(inputs, program, (), [])
            self.line(f"{self.names[node.id]} = {cast_to(results[-1], node.dtype)}")
            return
        indices, shape, (target,), _ = self.open_pass(node.shape, inputs, [self.names[node.id]])
        results = self.program_body(inputs, program, shape, indices)
        self.line(f"{target}[{', '.join(indices)}] = {results[-1]}")
        self.close_pass(indices)

    def body(self) -> list[str]:
        """The statements of one step (buffers, then one group per node, then the updates), at depth 1."""
        if self._body is None:
            for node in self.plan.order:
                if not node.is_leaf:
                    self.names[node.id] = f"v{self.index[node.id]}"
            self.lines, self.depth = [], 1
            self._emit_buffers()
            starts = {seg[0].id: seg for seg in self.plan.segments}
            in_segment = {n.id for seg in self.plan.segments for n in seg}
            for node in self.plan.order:
                if node.id in starts:
                    self.emit_segment(starts[node.id])
                elif not node.is_leaf and node.id not in in_segment:
                    self.emit_node(node)
            self._emit_updates()
            self._body = self.lines
        return self._body

    def results(self) -> str:
        """The tuple of the step's outputs."""
        outputs = ", ".join(self.ref(t) for t in self.program.outputs)
        return f"({outputs}{',' if outputs else ''})"

    def source(self) -> str:
        """The complete @njit step function."""
        head = [JIT,
                f"def {self.name}({', '.join(self.signature())}):"]
        return "\n".join(head + self.body() + [f"    return {self.results()}", ""])

    def helpers(self) -> list[str]:
        """The functions the step calls: one per batch-parallel segment (steps that share one share its name)."""
        self.body()
        return self.segment_functions

    def signature(self) -> list[str]:
        return ["n"] + [self.arg_name(t) for t in self.inputs] + self.shared_args()

    def shared_args(self) -> list[str]:
        """The arguments after the data, the same for the step and the loops around it: parameters
        and optimizer state, array constants, buffer views (and the thread count)."""
        return [self.arg_name(t) for t in self.leaves] + [self.arg_name(t) for t in self.constants] + self.buffer_args

    def _emit_buffers(self):
        self.line("# buffers: views of the preallocated arenas (no allocation per step)")
        for node in self.plan.order:
            if node.id in self.plan.slot_of and node.id not in self.plan.view_of and not node.is_leaf:
                shared = f"  # in place of %{self.index[self.plan.in_place[node.id].id]}" if node.id in self.plan.in_place else ""
                self.line(f"{self.names[node.id]} = {self.buffer_view(self.plan.slot_of[node.id], 'n')}{shared}")

    def buffer_view(self, slot: int, rows: str) -> str:
        """The expression for buffer `slot` holding a batch of `rows` examples."""
        buf = self.plan.buffers[slot]
        if not buf.per_example:
            return f"buf{slot}"
        if buf.batch_leading():
            return f"buf{slot}[:{rows}]"
        dims = ", ".join(rows if d is None else str(d) for d in buf.shape)
        return f"buf{slot}[:{rows} * {buf.per_example}].reshape(({dims},))"

    def _emit_updates(self):
        if self.program.updates:
            self.line("# updates: new values computed above are written over the parameters")
        for leaf, value in self.program.updates:
            if leaf.shape == ():
                self.line(f"{self.arg_name(leaf)}[0] = {self.ref(value)}")
            else:
                self.copy(self.arg_name(leaf), value)


def free_names(lines: list[str]) -> list[str]:
    """The names a block of statements reads but does not assign (its arguments once outlined), in order
    of first use; the module's names and builtins are left out."""
    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    names = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)), key=lambda n: (n.lineno, n.col_offset))
    assigned = {n.id for n in names if not isinstance(n.ctx, ast.Load)}
    known = assigned | MODULE_NAMES | set(dir(builtins))
    return list(dict.fromkeys(n.id for n in names if n.id not in known))


def loop_program(node: Tensor):
    """(inputs, program) of an elementwise node: a fused program, or the single op."""
    if node.op in ("fused",):
        return list(node.inputs), node.attrs["program"]
    return list(node.inputs), ((node.op, tuple(range(len(node.inputs))), tuple(sorted(node.attrs.items()))),)


def typed_literal(value: float, dtype) -> str:
    """A float constant that keeps float32 arithmetic in float32 (a bare Python float would promote it)."""
    return f"f32({value!r})" if np.dtype(dtype) == np.float32 else repr(value)


def cast_to(expr: str, dtype) -> str:
    return f"f32({expr})" if np.dtype(dtype) == np.float32 else (f"float({expr})" if np.dtype(dtype).kind == "f" else expr)


def scalar_expression(op: str, args: list[str], attrs: dict, dtype=np.float64) -> str:
    if op == "broadcast_like":
        return args[0]
    template = registry[op].scalar
    if template is None:
        raise RuntimeError(f"internal error: op {op!r} was fused into a loop but has no scalar form")
    if np.dtype(dtype) == np.float32:  # typed literals, and the vectorisable exp (kernels/fastmath.py)
        template = FLOAT_LITERAL.sub(lambda m: f"f32({m.group(1)})", template).replace("math.exp(", "K.exp32(")
    return template.format(*args, **attrs)


# ---------------------------------------------------------------- lowerings of structural ops

def _matrix(ref: str, t: Tensor) -> str:
    """A stack of rows (..., K) seen as the matrix (rows, K): a free view of a contiguous buffer."""
    return f"{ref}.reshape((-1, {t.shape[-1]}))" if t.ndim > 2 else ref


def _lower_gemm(node, em: Emitter):
    a, b, *extra = node.inputs
    out = em.names[node.id]
    em.gemm(_matrix(em.ref(a), a), _matrix(em.ref(b), b), _matrix(out, node), node.attrs["trans_a"],
            node.attrs["trans_b"], "1.0", "0.0")
    epilogue = node.attrs["epilogue"]
    if epilogue:
        inputs = [node] + list(extra)
        indices, shape, (target,), _ = em.open_pass(node.shape, inputs, [out])
        results = em.program_body(inputs, epilogue, shape, indices)
        em.line(f"{target}[{', '.join(indices)}] = {results[-1]}")
        em.close_pass(indices)


def _lower_gemm_update(node, em: Emitter):
    """target <- alpha op(a) @ op(b) + beta target: one BLAS call, in place."""
    a, b, target, alpha, beta = (_matrix(em.ref(t), t) for t in node.inputs)
    em.gemm(a, b, target, node.attrs["trans_a"], node.attrs["trans_b"], f"np.float64({alpha})", f"np.float64({beta})")


def _lower_multi(node, em: Emitter):
    """One loop computing several results of a program; 'colsum' results are summed over every axis but the last."""
    parts = em.parts(node)
    program, results = node.attrs["program"], node.attrs["results"]
    shape = node.attrs["parts"][0][0]
    for index, (_, mode) in enumerate(results):
        if mode == "colsum" and index in parts:
            em.fill(parts[index], Tensor("shape", (), {}, node.attrs["parts"][index][0], node.dtype, node.loc), "0.0")
    mapped = [i for i, (_, mode) in enumerate(results) if mode == "map" and i in parts]
    summed = [i for i, (_, mode) in enumerate(results) if mode == "colsum" and i in parts]
    indices, loop_shape, written, sums = em.open_pass(shape, list(node.inputs), [parts[i] for i in mapped],
                                                      [(parts[i], node.dtype) for i in summed])
    values = em.program_body(list(node.inputs), program, loop_shape, indices)
    for i, target in zip(mapped, written):
        em.line(f"{target}[{', '.join(indices)}] = {values[results[i][0]]}")
    for i, target in zip(summed, sums):
        em.line(f"{target}[{indices[-1]}] += {values[results[i][0]]}")
    em.close_pass(indices)


def _lower_update(node, em: Emitter):
    """The optimizer step of one parameter: one loop, parameter and state overwritten in place."""
    target_leaf = node.inputs[node.attrs["writes"][0][1]]
    writes = node.attrs["writes"]
    indices, shape, targets, _ = em.open_pass(target_leaf.shape, list(node.inputs),
                                              [em.ref(node.inputs[target]) for _, target in writes])
    values = em.program_body(list(node.inputs), node.attrs["program"], shape, indices)
    for (instruction, _), target in zip(writes, targets):
        em.line(f"{target}[{', '.join(indices)}] = {values[instruction]}")
    em.close_pass(indices)


def _lower_part(node, em: Emitter):
    """Parts are written by their multi node; nothing to do here."""


def _lower_copy(node, em: Emitter):
    """A reshape that cannot be a view (its input is a transposed view, or a scalar): copy in order."""
    source = node.inputs[0]
    if source.shape == () or node.shape == ():
        target = em.names[node.id] if node.shape == () else f"{em.names[node.id]}.reshape(-1)[0]"
        value = em.ref(source) if source.shape == () else f"{em.ref(source)}.reshape(-1)[0]"
        em.line(f"{target} = {value}")
        return
    flat = em.temp("flat")
    em.line(f"{flat} = 0")
    indices = em.open_loops(source)
    em.line(f"{em.names[node.id]}.reshape(-1)[{flat}] = {em.ref(source)}[{', '.join(indices)}]")
    em.line(f"{flat} += 1")
    em.close_loops(indices)


def _lower_reduce(node, em: Emitter):
    x = node.inputs[0]
    axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
    is_max = node.op == "max"
    initial = "-np.inf" if is_max else "0.0"
    scalar = node.shape == ()
    acc = em.names[node.id]
    if scalar:
        em.line(f"{acc} = {initial}")
    else:
        em.fill(acc, node, initial)
    indices = em.open_loops(x)
    if scalar:
        target = acc
    else:
        kept = [("0" if a in axes else v) for a, v in enumerate(indices)] if keepdims else \
            [v for a, v in enumerate(indices) if a not in axes]
        target = f"{acc}[{', '.join(kept)}]"
    value = f"{em.ref(x)}[{', '.join(indices)}]"
    em.line(f"{target} = max({target}, {value})" if is_max else f"{target} += {value}")
    em.close_loops(indices)
    if scalar:
        em.line(f"{acc} = {cast_to(acc, node.dtype)}")


def _lower_count(node, em: Emitter):
    x = node.inputs[0]
    sizes = ["n" if x.shape[a] is None else str(x.shape[a]) for a in node.attrs["axes"]]
    em.line(f"{em.names[node.id]} = {cast_to(' * '.join(sizes), node.dtype)}")


LOWERINGS = {
    "gemm": _lower_gemm, "gemm_update": _lower_gemm_update, "fused_multi": _lower_multi, "fused_update": _lower_update, "part": _lower_part,
    "reshape": _lower_copy, "sum": _lower_reduce, "max": _lower_reduce, "count": _lower_count,
}


MODULE_HEADER = '''"""Generated by staticnet {version}: {title}.

Graph hash {key}.  Each function takes the batch size n, the inputs, the
parameters and optimizer state (updated in place), array constants, and a view of each
intermediate buffer in the preallocated arenas.
"""
import math

import numpy as np
from numba import njit, prange

import staticnet.kernels as K

f32 = np.float32
TRANSPOSED, AS_IS = np.bool_(True), np.bool_(False)  # flags of a type, not literal values: one gemm compile
'''
