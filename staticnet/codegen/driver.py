"""The driver: one step of a program as a sequence of kernel calls over preallocated buffers.

This is the only code a new model compiles: every loop, product and pooling runs in a kernel of the
kernel layer (kernel_layer.py), called through its symbol; the driver passes addresses and sizes and
keeps the step's scalars (the loss, counts, the learning rate) as locals.  Arrays are addresses (int64
arguments): buffers in the workspace arenas (memory.py), parameters, constants, inputs.  Sizes are
arguments too (`Sizes`), so a model whose layers only change size runs the same driver, compiled once.

Each op lowers itself (the `lower` of its registration, beside its other rules) through the few
methods below: `address`, `value`, `dims`, `call`, `library`, `loop`, `assign`, `parts`.  Comment
lines (`note`) carry the graph and the user's file:line for the readable source; the code that is
compiled and hashed for the cache has none of them (cache.py says why).
"""
from __future__ import annotations

import ast
import builtins
import keyword
import re
import textwrap

import numpy as np

from ..graph import Tensor, fmt_shape
from ..loop_body import COPY, loop_body_of
from ..program import Program
from ..registry import registry
from . import library as lib
from .elementwise import Operand, body_lines, loop_kernel, typed_literal
from .kernel_layer import Kernel, split_kernel
from .memory import MemoryPlan, plan_memory
from .parallel import SEGMENT_TILE
from .signature import Group, Signature, one
from .source_text import comment, docstring, identifier, literal

JIT = "@njit(cache=True, nogil=True, error_model='numpy', fastmath={'contract', 'arcp', 'afn', 'reassoc', 'nsz'})"
ABI_DTYPE = {"float32": "f32", "float64": "f64"}


class Sizes:
    """The static sizes a driver is written in, each distinct value a named argument (s0, s1, ...).
    1 stays a literal: whether a size is 1 decides how arrays broadcast, which the kernels' text says."""

    def __init__(self):
        self.names: dict[int, str] = {}

    def __call__(self, value) -> str:
        if value == 1:
            return "1"
        if value not in self.names:
            self.names[value] = f"s{len(self.names)}"
        return self.names[value]

    @property
    def arguments(self) -> list[str]:
        return list(self.names.values())

    @property
    def values(self) -> list[int]:
        return list(self.names.keys())


def product(factors) -> str:
    factors = [f for f in factors if f != "1"]
    return " * ".join(factors) if factors else "1"


RESERVED = {"n", "s", "total", "order", "seed", "start", "stop", "batch", "loss_sum", "correct", "right", "first",
            "rows", "chunk", "chunks", "tiles", "threads", "runner_at"}  # the loops' and segments' locals
GENERATED = re.compile(r"^([a-z]+\d+|.*_at|.*_rows|data_.*|result\d+|.*_[0-9a-f]{8})$")  # names the generator makes


def readable(name: str, prefix: str, used: set, generated: bool = False) -> str:
    """`name` as an identifier of the generated code that means what it says, `prefix` put before it where
    it would clash with Python's or the generator's own names (unless it is one the generator chose:
    `generated`), numbered where it is taken already."""
    base = identifier(name)
    if (not base.isidentifier() or keyword.iskeyword(base) or base in RESERVED or base in MODULE_NAMES
            or base in dir(builtins) or (GENERATED.match(base) and not generated)):
        base = prefix + base
    candidate, k = base, 2
    while candidate in used:
        candidate, k = f"{base}_{k}", k + 1
    used.add(candidate)
    return candidate


class Driver:
    """Writes the statements of one step, and answers the lowerings' questions about names and sizes."""

    def __init__(self, program: Program, inputs: list[Tensor], plan: MemoryPlan | None = None,
                 sizes: Sizes | None = None, notes=None):
        """`notes` (staticnet/explain.py's StepNotes), where given, comments each node's code in terms of the
        training graph and names the values by their role (dense1_a, delta_dense2); else the comments list
        the optimized program's nodes."""
        self.program, self.inputs, self.notes = program, list(inputs), notes
        self.plan = plan or plan_memory(program)
        self.sizes = sizes if sizes is not None else Sizes()
        self.order = self.plan.order
        self.index = {n.id: i for i, n in enumerate(self.order)}
        self.leaves = [n for n in self.order if n.op == "param"]
        self.constants = [n for n in self.order if n.op == "constant" and n.value.size > 1]
        self.kernels: dict[str, Kernel] = {}  # what the step calls, by local name
        self.lazy_parts: dict[str, Kernel] = {}  # parts compiled only for batches that need them, by local name
        self.batch = "n"
        self.lines: list[str] = []
        self.depth = 1
        self.scalars: dict[int, str] = {}
        self._used: set[str] = set()  # the readable names given so far
        self._aliases: dict[int, str] = {}  # node id -> the name its buffer has in the step
        self._explained: set[str] = set()  # the ops whose stable form the comments have explained
        self._leaf_names = self._name_leaves()
        self._rows: dict[int, str] = {}  # inside a segment: the address of each batch array's current rows
        self._temp = 0
        self._body = None

    # ------------------------------------------------------------ names
    def _name_leaves(self):
        """Inputs and parameters by their names (dense1/W as dense1_W), numbered when two leaves share one."""
        names = {}
        for leaf in self.inputs + [n for n in self.order if n.op in ("input", "param")]:
            if leaf.id not in names:
                names[leaf.id] = readable(leaf.name, "in_" if leaf.op == "input" else "p_", self._used)
        for k, constant in enumerate(self.constants):
            names[constant.id] = f"c{k}"
        return names

    def leaf_name(self, leaf: Tensor) -> str:
        return self._leaf_names[leaf.id]

    def temp(self, stem="t") -> str:
        self._temp += 1
        return f"{stem}{self._temp}"

    # ------------------------------------------------------------ what lowerings ask
    def address(self, t: Tensor) -> str:
        """The address of t's first element (t an array; in a segment, of the rows being worked on)."""
        if t.id in self._rows:
            return self._rows[t.id]
        owner = self.plan.view_of.get(t.id, t)
        if owner.is_leaf:
            return self._leaf_names[owner.id]
        return self._aliases.get(owner.id, f"b{self.plan.slot_of[owner.id]}")

    def value(self, t: Tensor) -> str:
        """The expression of a scalar: a literal, a local of the step, or a 0-d leaf read at its address."""
        if t.op == "constant" and t.value.size == 1:
            return typed_literal(t.value.reshape(-1)[0], t.dtype)
        if t.is_leaf:
            return f"abi.load_{ABI_DTYPE[t.dtype.name]}({self.address(t)})"
        return self.scalars[t.id]

    def dims(self, t: Tensor, shape=None) -> list[str]:
        """Size expressions of each axis of t (or of `shape`): n for the batch, else a size argument."""
        return [self.batch if d is None else self.sizes(d) for d in (t.shape if shape is None else shape)]

    def rows(self, t: Tensor) -> str:
        """The number of rows of t seen as a matrix (..., last axis)."""
        return product(self.dims(t)[:-1])

    def matrix(self, t: Tensor) -> lib.Array:
        """t as the matrix (rows, last axis): a free view of a contiguous array."""
        return lib.Array(self.address(t), t.dtype.name, [self.rows(t), self.dims(t)[-1]])

    def array(self, t: Tensor) -> lib.Array:
        return lib.Array(self.address(t), t.dtype.name, self.dims(t))

    def parts(self, multi: Tensor) -> dict[int, Tensor]:
        """The part nodes of a multi-result node that the program reads, by part index."""
        return {p.attrs["index"]: p for p in self.order if p.kind == "part" and p.inputs[0] is multi}

    def line(self, text: str = ""):
        self.lines.append("    " * self.depth + text if text else "")

    def note(self, text: str):
        """A comment for the reader (not compiled, not hashed); whatever `text` holds, one line."""
        self.line(comment(text))

    def assign(self, node: Tensor, expression: str):
        """Make `expression` the value of the scalar node."""
        named = self.notes.name(node) if self.notes else None
        name = readable(named, "v_", self._used, generated=True) if named else f"v{self.index[node.id]}"
        self.scalars[node.id] = name
        self.line(f"{name} = {expression}")

    def call(self, kernel: Kernel, arguments, result: str | None = None):
        """A call of a kernel through its symbol; `result` names a local for what it returns."""
        self.kernels[kernel.local_name] = kernel
        text = f"{kernel.local_name}({', '.join(arguments)})"
        self.line(f"{result} = {text}" if result else text)

    def lazy_part(self, part: Kernel) -> str:
        """The name of the argument holding `part`'s address: the runtime compiles the part and RUN_PARTS only
        for batches large enough to need them, and passes 0 otherwise (runtime.part_addresses)."""
        self.lazy_parts[part.local_name] = part
        return f"{part.local_name}_at"

    def library(self, path: str, items, returns: str = "void", result: str | None = None,
                parallel: bool = False):
        """A call of a hand-written kernel, K.<path> (its module of staticnet.kernels and its name:
        "pool.max_pool"); `items` as in library.wrapper."""
        kernel, arguments = lib.wrapper(path, items, returns, parallel)
        self.call(kernel, arguments, result)

    def loop(self, shape, inputs, body, results, outputs, dtypes):
        """A loop kernel running the loop body `body` over `shape`; `results` are (instruction, mode) pairs
        (elementwise.loop_kernel) and `outputs` the addresses they are written to (None for in-place
        writes).  Scalar inputs are passed by value, single-value constants as literals."""
        operands = []
        for t in inputs:
            if t.op == "constant" and t.value.size == 1:
                operands.append(Operand("literal", t.dtype.name, text=typed_literal(t.value.reshape(-1)[0], t.dtype)))
            elif t.shape == ():
                operands.append(Operand("value", t.dtype.name))
            else:
                operands.append(Operand("array", t.dtype.name, tuple(t.shape)))
        results, outputs = list(results), list(outputs)
        for r, (instruction, mode) in enumerate(results):
            # a result written over an input of its shape (the memory plan's in-place loops, a product's
            # epilogue) is written through that input's array: through two pointers to the same memory,
            # LLVM's overlap check sends the loop to its scalar version (a sigmoid 4-5x slower)
            same = [k for k, t in enumerate(inputs) if mode == "map" and outputs[r] is not None
                    and operands[k].kind == "array" and tuple(t.shape) == tuple(shape)
                    and np.dtype(dtypes[r]) == t.dtype and self.address(t) == outputs[r]]
            if same:
                results[r], outputs[r] = (instruction, ("write", same[0])), None
        plan = loop_kernel(tuple(shape), operands, body, results, [np.dtype(d).name for d in dtypes])
        self.run(plan, shape, inputs, outputs)

    def run(self, plan, shape, inputs, outputs, result: str | None = None):
        """Call a LoopKernel: its arguments are inputs' addresses or values, output addresses, and the
        sizes of groups of axes of `shape`."""
        arguments = []
        dims = self.dims(None, shape)
        for kind, what in plan.arguments:
            if kind == "array":
                arguments.append(self.address(inputs[what]))
            elif kind == "value":
                arguments.append(self.value(inputs[what]))
            elif kind == "result":
                arguments.append(outputs[what])
            else:  # extent: the sizes of these axes multiplied
                arguments.append(product(dims[a] for a in what))
        self.call(plan.kernel, arguments, result)

    def scalar_body(self, node: Tensor, inputs, body):
        """A loop body over scalars runs in the step itself."""
        statements, names = body_lines(body, [self.value(t) for t in inputs], node.dtype,
                                          lambda: self.temp())
        if len(statements) == 1:  # one instruction: its expression is the value
            self.assign(node, cast_to(unwrapped(statements[0].split(" = ", 1)[1]), node.dtype))
            return
        for statement in statements:
            self.line(statement)
        self.assign(node, cast_to(names[-1], node.dtype))

    def elementwise(self, node: Tensor, inputs=None, body=None):
        """An elementwise node (or a fused one) written to its buffer, or computed here if scalar."""
        if body is None:
            inputs, body = loop_body_of(node)
        if node.shape == ():
            self.scalar_body(node, inputs, body)
            return
        self.loop(node.shape, inputs, body, [(len(body) - 1, "map")], [self.address(node)], [node.dtype])

    def raise_unless(self, condition: str, message: str):
        self.line(f"if not ({condition}):")
        self.line(f"    raise ValueError({literal(message)})")

    # ------------------------------------------------------------ the step
    def emit_node(self, node: Tensor):
        if node.kind == "part":
            return  # written by the node it is part of
        parts = [p for _, p in sorted(self.parts(node).items())] if registry[node.op].kind == "multi" else []
        before = len(self.lines)
        if self.notes is not None:
            for line in self.notes.comments(node, parts, self._explained):
                self.note(line)
        else:
            args = ", ".join(self.describe_input(t) for t in node.inputs)
            self.note(f"%{self.index[node.id]} {node.op}({args}) -> {fmt_shape(node.shape)} {node.dtype}   {node.loc}")
        for value in parts or [node]:
            self._name_buffer(value)
        opdef = registry[node.op]
        if opdef.lower is not None:
            opdef.lower(node, self)
        elif opdef.kind in ("elementwise", "broadcast"):
            self.elementwise(node)
        else:
            raise RuntimeError(f"internal error: op {node.op!r} has no lowering")
        if all(line.lstrip().startswith("#") for line in self.lines[before:]):
            del self.lines[before:]  # no code (a view of another buffer): nothing to say either

    def _name_buffer(self, node: Tensor):
        """Give the buffer a node writes the name of the value it now holds, for the statements below."""
        name = self.notes.name(node) if self.notes is not None and self.batch == "n" else None
        if name and node.id in self.plan.slot_of and node.shape != ():
            self._aliases[node.id] = readable(name, "v_", self._used, generated=True)
            self.line(f"{self._aliases[node.id]} = b{self.plan.slot_of[node.id]}")

    def describe_input(self, t: Tensor) -> str:
        if t.is_leaf and t.op != "constant":
            return t.name
        if t.op == "constant":
            return typed_literal(t.value.reshape(-1)[0], t.dtype) if t.value.size == 1 else "constant"
        return f"%{self.index[t.id]}"

    def body(self) -> list[str]:
        """The statements of one step (one group per node, then the updates), at depth 1."""
        if self._body is None:
            self.lines, self.depth = [], 1
            starts = {segment[0].id: segment for segment in self.plan.segments}
            in_segment = {n.id for segment in self.plan.segments for n in segment}
            for node in self.order:
                if node.id in starts:
                    self.emit_segment(starts[node.id])
                elif not node.is_leaf and node.id not in in_segment:
                    self.emit_node(node)
            self._emit_updates()
            self._body = self.lines
        return self._body

    def emit_segment(self, segment: list[Tensor]):
        """The segment's nodes run on tiles of SEGMENT_TILE batch rows, the tiles shared among the threads
        (parallel.py says when this pays): one kernel of the kernel layer whose part runs one tile."""
        span = (self.notes.span(segment) if self.notes is not None
                else f"%{self.index[segment[0].id]} to %{self.index[segment[-1].id]}")
        self.note(f"{span}: each tile of {SEGMENT_TILE} rows of the batch runs these, tiles shared among the threads")
        saved = (self.lines, self.depth, self.kernels, self.batch, self.scalars)
        self.lines, self.depth, self.kernels, self.batch = [], 0, {}, "rows"
        self.scalars = dict(self.scalars)
        self.line(f"first = chunk * {SEGMENT_TILE}")
        self.line(f"rows = min(n, first + {SEGMENT_TILE}) - first")
        rows_of = {}  # address -> the address of the tile's rows there (names made positional: canonical_names)
        for node in segment:
            for t in (node, *node.inputs):
                if None not in t.shape or t.id in self._rows:
                    continue
                address = self.address(t)
                if address not in rows_of:
                    rows_of[address] = f"{address}_rows"
                    self.line(f"{rows_of[address]} = {address} + first * {self.row_bytes(t)}")
                self._rows[t.id] = rows_of[address]
        for node in segment:
            self.emit_node(node)
        part_body, called = self.lines, self.kernels
        self.lines, self.depth, self.kernels, self.batch, self.scalars = saved
        self._rows = {}
        code = [line for line in part_body if not line.lstrip().startswith("#")]  # kernels carry no user lines
        arguments = [name for name in free_names(code) if name not in called and name not in ("chunk", "chunks")]
        if "threads" not in arguments:
            arguments.append("threads")
        # the names of this step's buffers and locals become positional ones, so that another step or
        # model running the same nodes on its own buffers shares the kernel
        renamed = canonical_names(code, arguments, keep={"n", "threads", "first", "rows", "chunk", "chunks"})
        params = [(renamed.get(name, name), "f64" if name in self.scalars.values() else "i64") for name in arguments]
        kernel = split_kernel("segment", params, [], [rename(line, renamed) for line in code],
                              f"Rows of a batch, a tile at a time: {', '.join(n.op for n in segment)}",
                              before=[f"tiles = (n + {SEGMENT_TILE - 1}) // {SEGMENT_TILE}"], chunks="tiles",
                              calls=tuple(called.values()))
        self.call(kernel, arguments)
        for line in part_body:
            self.note(("    " + line) if not line.lstrip().startswith("#") else "    " + line.lstrip()[2:])
        for node in segment:  # what the segment wrote, by name, for the statements below
            for value in [p for p in self.order if p.kind == "part" and p.inputs[0] is node] or [node]:
                self._name_buffer(value)

    def results(self) -> list[str]:
        """The step's scalar outputs' values, in output order (array outputs are read from their buffers)."""
        return [self.value(t) for t in self.program.outputs if t.shape == ()]

    def _emit_updates(self):
        if self.program.updates:
            self.note("updates: the new values computed above are written over the parameters")
        for leaf, new in self.program.updates:
            if leaf.shape == ():
                self.line(f"abi.store_{ABI_DTYPE[leaf.dtype.name]}({self.address(leaf)}, {self.value(new)})")
            else:
                self.loop(leaf.shape, [new], COPY, [(0, "map")], [self.address(leaf)],
                          [leaf.dtype])

    def shared_groups(self) -> tuple[Group, ...]:
        """The parameters after the data, the same for the step and every loop around it: parameters and
        optimizer state, array constants, buffers, the thread count, the addresses of RUN_PARTS and of the
        parts compiled on demand (lazy_part), and the sizes."""
        return (Group("params", tuple(self.leaf_name(t) for t in self.leaves), many=True),
                Group("constants", tuple(self.leaf_name(t) for t in self.constants), many=True),
                Group("buffers", tuple(f"b{b.slot}" for b in self.plan.buffers), many=True),
                one("threads"),
                Group("part_addresses", ("runner_at", *(f"{name}_at" for name in self.lazy_parts)), many=True),
                Group("sizes", tuple(self.sizes.arguments), many=True))

    def row_bytes(self, t: Tensor) -> str:
        """Bytes of one row (one example) of a batch-first array."""
        return product(self.dims(t)[1:] + [str(t.dtype.itemsize)])

    def source(self, name: str) -> tuple[Signature, str]:
        """A @njit function running the step once on a batch of n: `name(n, inputs..., shared...)`."""
        body, results = self.body(), self.results()  # first: they name the sizes the signature lists
        signature = Signature(name, (one("n"), Group("inputs", tuple(self.leaf_name(t) for t in self.inputs), many=True),
                                     *self.shared_groups()))
        head = [JIT, f"def {name}({', '.join(signature.parameters)}):"]
        tail = [f"    return ({', '.join(results)}{',' if results else ''})"]
        return signature, "\n".join(head + body + tail) + "\n"


def unwrapped(expression: str) -> str:
    """The expression without the parentheses around all of it, if it has them."""
    if not (expression.startswith("(") and expression.endswith(")")):
        return expression
    depth = 0
    for k, c in enumerate(expression):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and k < len(expression) - 1:
            return expression  # (a) * (b): the first group closes before the end
    return expression[1:-1]


def cast_to(expression: str, dtype) -> str:
    dtype = np.dtype(dtype)
    return f"f32({expression})" if dtype == np.float32 else (f"float({expression})" if dtype.kind == "f" else expression)


MODULE_HEADER = '''"""Generated by staticnet: {title}.

Each function takes its data, then the addresses of the parameters and optimizer state (updated in
place), of the array constants and of the buffers in the preallocated arenas, the thread count and the
sizes.  The kernels it calls are compiled once per machine and shared between models
(staticnet/codegen/kernel_layer.py).
"""
import math

import numpy as np
from numba import njit

import staticnet.kernels as K
from staticnet.kernels import abi

f32 = np.float32
'''


def module_source(title: str, drivers: list[Driver], functions: list[str]) -> str:
    """A module with the kernels the drivers call declared by symbol, then the functions."""
    kernels = {}
    for driver in drivers:
        kernels.update(driver.kernels)
    declarations = [f"{name} = abi.external({literal(k.symbol)}, {literal(k.returns)}, "
                    f"{literal(tuple(t for _, t in k.params))})" for name, k in sorted(kernels.items())]
    return MODULE_HEADER.format(title=docstring(title)) + "\n" + "\n".join(declarations) + "\n\n\n" + "\n\n".join(functions)


def code_only(source: str) -> str:
    """The source without its comment lines: what is compiled and hashed."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#")) + "\n"


MODULE_NAMES = {"math", "np", "njit", "prange", "carray", "K", "abi", "f32"}  # what generated modules define


def free_names(lines: list[str]) -> list[str]:
    """The names a block of statements reads but does not assign (its arguments once outlined), in order
    of first use; the module's names and builtins are left out."""
    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    names = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)), key=lambda n: (n.lineno, n.col_offset))
    assigned = {n.id for n in names if not isinstance(n.ctx, ast.Load)}
    known = assigned | MODULE_NAMES | set(dir(builtins))
    return list(dict.fromkeys(n.id for n in names if n.id not in known))


def assigned_names(lines: list[str]) -> list[str]:
    """The names a block of statements assigns, in order of first assignment."""
    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    names = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)),
                   key=lambda n: (n.lineno, n.col_offset))
    return list(dict.fromkeys(n.id for n in names))


def canonical_names(lines: list[str], arguments: list[str], keep) -> dict[str, str]:
    """Positional names for a block's arguments (a0, a1, ...) and locals (t0, t1, ...), but those in `keep`."""
    mapping = {name: f"a{k}" for k, name in enumerate(n for n in arguments if n not in keep)}
    mapping.update({name: f"t{k}" for k, name in enumerate(n for n in assigned_names(lines) if n not in keep)})
    return mapping


def rename(line: str, mapping: dict[str, str]) -> str:
    """`line` with each whole name (not an attribute) replaced as `mapping` says."""
    if not mapping:
        return line
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, mapping), key=len, reverse=True)) + r")(?!\w)")
    return pattern.sub(lambda m: mapping[m.group(1)], line)
