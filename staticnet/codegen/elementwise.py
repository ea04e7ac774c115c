"""Loop bodies as kernels: one loop nest over a node's elements, whatever its sizes.

A loop body (staticnet/loop_body.py) is a list of instructions over the node's inputs; each instruction's
scalar form comes from the op's registration.  The output's axes are grouped: neighbouring axes
along which every array is read the same way (spanned, or broadcast) become one loop, so a body
over equal shapes is one flat loop and a bias add over (n, 24, 24, 20) a loop over positions and one
over channels.  The kernel's text depends only on that grouping, the body and the dtypes; the
sizes are arguments.

A short innermost loop does not vectorise: LLVM takes 32 float32 values per vector iteration (8
lanes, 4 interleaved), and Numba keeps the SLP vectoriser that would pack an unrolled loop off.  So
when the last loop is shorter than VECTOR_RUN and every array allows it, the last two groups run as
one loop: per-channel vectors (biases) are repeated along the run beforehand, column sums go into a
run-long accumulator folded after.  The batch stays out of such a run (its length would vary).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..registry import registry
from .kernel_layer import ABI_POINTER, ABI_VALUE, Kernel
from .source_text import identifier, literal

VECTOR_RUN = 64
FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d+(?:e[-+]?\d+)?)")


@dataclass(frozen=True)
class Operand:
    """How a loop reads one input: an array by address, a scalar value argument, or a literal."""
    kind: str  # "array", "value" or "literal"
    dtype: str
    shape: tuple = ()  # arrays: the shape (None for the batch), right-aligned against the loop's
    text: str = ""  # literals: the source text


def typed_literal(value, dtype) -> str:
    """A constant in source: float32 constants stay float32 (a bare Python float would promote the
    arithmetic), and inf / nan become math.inf / math.nan."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return repr(int(value))
    value = float(value)
    text = ("math.nan" if math.isnan(value) else ("math.inf" if value > 0 else "-math.inf")) \
        if not math.isfinite(value) else repr(value)
    return f"f32({text})" if dtype == np.float32 else text


def scalar_expression(op: str, args: list[str], attrs: dict, dtype) -> str:
    """One element's value of an instruction, from its op's scalar template."""
    template = registry[op].scalar
    if template is None:
        raise RuntimeError(f"internal error: op {op!r} was fused into a loop but has no scalar form")
    if np.dtype(dtype) == np.float32:  # typed literals, and the vectorisable exp (kernels/fastmath.py)
        template = FLOAT_LITERAL.sub(lambda m: f"f32({m.group(1)})", template).replace("math.exp(", "K.fastmath.exp32(")
    return template.format(*args, **{k: _attribute(v, dtype) for k, v in attrs.items()})


def _attribute(value, dtype) -> str:
    """An attribute as a scalar template's source text: a float a literal of the loop's dtype (as NumPy computes
    float32 arrays with Python floats), a string a bare name (a cast's dtype: np.{dtype}), anything else its
    literal (source_text.literal)."""
    if isinstance(value, float):
        return typed_literal(value, dtype)
    if isinstance(value, str):
        if not (value.isidentifier() and value == identifier(value)):
            raise RuntimeError(f"internal error: attribute {value!r} is not a name to write into a loop body")
        return value
    return literal(value)


def body_lines(body, values: list[str], dtype, temp) -> tuple[list[str], list[str]]:
    """Statements computing each instruction from `values` (the inputs' expressions); their names."""
    values, lines, names = list(values), [], []
    for op, args, attrs in body:
        name = temp()
        lines.append(f"{name} = {scalar_expression(op, [values[a] for a in args], dict(attrs), dtype)}")
        values.append(name)
        names.append(name)
    return lines, names


@dataclass(frozen=True)
class LoopKernel:
    """A loop kernel and what its caller passes, in order: ("array", operand), ("value", operand),
    ("result", index), ("extent", out axes whose sizes multiply)."""
    kernel: Kernel
    arguments: tuple


def _spans(out_shape, shape) -> tuple:
    """Per axis of the loop: whether `shape` (right-aligned) has the loop's size there, not 1."""
    lead = len(out_shape) - len(shape)
    return tuple(a >= lead and shape[a - lead] == d for a, d in enumerate(out_shape))


def _groups(axes, columns):
    """Neighbouring axes every array reads alike, as lists."""
    groups = []
    for a in axes:
        if groups and all(col[groups[-1][-1]] == col[a] for col in columns):
            groups[-1].append(a)
        else:
            groups.append([a])
    return groups


def loop_kernel(out_shape, operands, body, results, dtype) -> LoopKernel:
    """The kernel running the loop body `body` over out_shape.  `results`: (instruction, mode) pairs, mode "map"
    (an array shaped like the loop), "colsum" (summed over every axis but the last) or ("write", k)
    (into operand k's array, in place); `dtype` is the result dtype of each result, one per result."""
    results = list(results)
    arrays = [k for k, o in enumerate(operands) if o.kind == "array"]
    columns = {("operand", k): _spans(out_shape, operands[k].shape) for k in arrays}
    last = len(out_shape) - 1
    for r, (_, mode) in enumerate(results):
        if mode == "colsum":
            columns[("result", r)] = tuple(a == last for a in range(len(out_shape)))
        elif mode == "map":
            columns[("result", r)] = (True,) * len(out_shape)
    axes = [a for a, d in enumerate(out_shape) if d != 1]
    groups = _groups(axes, list(columns.values())) or [[]]
    sums = {("result", r) for r, (_, mode) in enumerate(results) if mode == "colsum"}
    run = _run_layout(out_shape, groups, columns, sums)
    return _LoopWriter(out_shape, operands, body, results, dtype, columns, groups, run).kernel()


# A run layout is (the groups looped over before the run, the run's axes, the channel axes: the last group).


def _run_layout(out_shape, groups, columns, sums):
    """(groups before the run, the run's axes, the channel axes) when the last two groups can run as one
    loop, else None.  `sums` are the keys of the column sums, which must be per channel."""
    if len(groups) < 2 or None in [out_shape[a] for a in groups[-1]]:
        return None
    if math.prod(out_shape[a] for a in groups[-1]) >= VECTOR_RUN:
        return None
    before, channels = groups[-2], groups[-1]
    outer = groups[:-2]
    for key, col in columns.items():
        pair = (col[before[0]], col[channels[0]])
        if pair == (False, True) and any(col[g[0]] for g in outer):
            return None  # a vector that also varies along an outer loop: not one channel vector
        if pair == (True, False) or (key in sums and pair != (False, True)):
            return None  # constant along the channels but not before them, or a sum not per channel
    if not any((col[before[0]], col[channels[0]]) == (False, True) for col in columns.values()):
        return None
    if None in [out_shape[a] for a in before]:
        if out_shape[before[0]] is not None or len(before) == 1:
            return None  # the batch is not this group's first axis, or is all of it
        return outer + [[before[0]]], before[1:] + channels, channels
    return outer, before + channels, channels


class _LoopWriter:
    def __init__(self, out_shape, operands, body, results, dtypes, columns, groups, run):
        self.out_shape, self.operands, self.body, self.results = out_shape, operands, body, results
        self.dtypes, self.columns, self.groups, self.run = dtypes, columns, groups, run
        self.params, self.arguments, self.lines = [], [], []
        self._temps = 0
        self.float_dtype = next((d for d in dtypes if np.dtype(d).kind == "f"), "float64")

    def temp(self):
        self._temps += 1
        return f"t{self._temps}"

    def param(self, name, abi_type, argument):
        self.params.append((name, abi_type))
        self.arguments.append(argument)

    def kernel(self) -> LoopKernel:
        loops = self.run[0] if self.run else self.groups
        extents = []
        for g, axes in enumerate(loops):
            self.param(f"e{g}", "i64", ("extent", tuple(axes)))
            extents.append(f"e{g}")
        if self.run:
            self.param("run", "i64", ("extent", tuple(self.run[1])))
            self.param("c", "i64", ("extent", tuple(self.run[2])))
        values = [None] * len(self.operands)
        setup = []
        for k, operand in enumerate(self.operands):
            if operand.kind == "literal":
                values[k] = operand.text
            elif operand.kind == "value":
                self.param(f"v{k}", ABI_VALUE[operand.dtype], ("value", k))
                values[k] = f"v{k}"
            else:
                self.param(f"a{k}_p", ABI_POINTER[operand.dtype], ("array", k))
                values[k] = self._view(setup, f"a{k}", self.columns[("operand", k)], extents, operand.dtype)
        sums, writes = [], []
        for r, ((instruction, mode), dtype) in enumerate(zip(self.results, self.dtypes)):
            if isinstance(mode, tuple):  # in place, into an operand's array
                writes.append((instruction, values[mode[1]]))
                continue
            self.param(f"r{r}_p", ABI_POINTER[dtype], ("result", r))
            if mode == "colsum":
                sums.append((instruction, r, dtype))
                continue
            writes.append((instruction, self._view(setup, f"r{r}", self.columns[("result", r)], extents, dtype)))
        for instruction, r, dtype in sums:
            setup += [f"r{r} = carray(r{r}_p, ({self._channels()},))", f"for j in range({self._channels()}):",
                      f"    r{r}[j] = 0"]
            if self.run:
                setup.append(f"r{r}_run = np.zeros(run, np.{dtype})")
        indices = [f"i{g}" for g in range(len(loops))] + (["j"] if self.run else [])
        sizes = extents + (["run"] if self.run else [])
        body = [f"{'    ' * depth}for {index} in range({size}):" for depth, (index, size) in enumerate(zip(indices, sizes))]
        inner = "    " * len(indices)
        element = [v.replace("[@]", "[" + ", ".join(self._index(v, indices)) + "]") if v and "[@" in v else v
                   for v in values]
        statements, names = body_lines(self.body, element, self.float_dtype, self.temp)
        body += [inner + s for s in statements]
        for instruction, target in writes:
            if "[@]" in target:
                target = target.replace("[@]", "[" + ", ".join(self._index(target, indices)) + "]")
            body.append(f"{inner}{target} = {names[instruction]}")
        for instruction, r, _ in sums:  # per channel: the last loop runs over the last axis, unless that is 1
            target = f"r{r}_run[j]" if self.run else (f"r{r}[{indices[-1]}]" if self.out_shape[-1] != 1 else f"r{r}[0]")
            body.append(f"{inner}{target} += {names[instruction]}")
        after = []
        for _, r, _ in sums:
            if self.run:
                after += ["for j in range(run):", f"    r{r}[j % c] += r{r}_run[j]"]
        ops = ", ".join(op for op, _, _ in self.body)
        doc = f"Elementwise loop: {ops}" + (" (the last axes as one run)" if self.run else "")
        kernel = Kernel("loop", tuple(self.params), tuple(setup + body + after), doc)
        return LoopKernel(kernel, tuple(self.arguments))

    def _channels(self) -> str:
        if self.run:
            return "c"
        return f"e{len(self.groups) - 1}" if self.out_shape[-1] != 1 else "1"

    def _view(self, setup, name, column, extents, dtype) -> str:
        """Set up the view of one array; returns its element expression, "[@]" standing for the index."""
        loops = self.run[0] if self.run else self.groups
        spanned = [column[axes[0]] if axes else True for axes in loops]  # no axes: a loop over one element
        if self.run:
            pair = (column[self.run[1][0]], column[self.run[2][0]])
            if pair == (False, True):  # a per-channel vector, repeated along the run
                setup += [f"{name}_vector = carray({name}_p, (c,))", f"{name} = np.empty(run, np.{dtype})",
                          "for j in range(run):", f"    {name}[j] = {name}_vector[j % c]"]
                return f"{name}[j]"
            spanned.append(pair == (True, True))
        if not any(spanned):
            setup.append(f"{name} = carray({name}_p, (1,))[0]")
            return name
        dims = [size if s else "1" for size, s in zip(extents + (["run"] if self.run else []), spanned)]
        setup.append(f"{name} = carray({name}_p, ({', '.join(dims)},))")
        self._spanned = getattr(self, "_spanned", {})
        self._spanned[name] = spanned
        return f"{name}[@]"

    def _index(self, expression, indices):
        name = expression.split("[", 1)[0]
        return [index if s else "0" for index, s in zip(indices, self._spanned[name])]


def reduce_kernel(shape, axes, is_max: bool, dtype, scalar: bool) -> LoopKernel:
    """Sum or max of an array over `axes`: neighbouring axes reduced (or kept) alike are one loop.
    Over every axis the kernel returns the result (summed in float64); otherwise it writes the kept
    axes' array, initialised first.  max propagates NaN, as NumPy's does."""
    axes_kept = [a for a, d in enumerate(shape) if d != 1]
    reduced = {a: a in axes for a in axes_kept}
    groups = []
    for a in axes_kept:
        if groups and reduced[groups[-1][-1]] == reduced[a]:
            groups[-1].append(a)
        else:
            groups.append([a])
    groups = groups or [[]]
    params = [("x_p", ABI_POINTER[dtype])] + [(f"e{g}", "i64") for g in range(len(groups))]
    arguments = [("array", 0)] + [("extent", tuple(axes)) for axes in groups]
    extents = [f"e{g}" for g in range(len(groups))]
    kept = [g for g, axes in enumerate(groups) if axes and not reduced[axes[0]]]
    body = [f"x = carray(x_p, ({', '.join(extents)},))"]
    indices = [f"i{g}" for g in range(len(groups))]
    value = f"x[{', '.join(indices)}]"
    initial = "-math.inf" if is_max else "0.0"
    loops = [f"{'    ' * depth}for {index} in range({extent}):" for depth, (index, extent) in enumerate(zip(indices, extents))]
    inner = "    " * len(indices)
    if scalar:
        target = "total"
        body.append(f"total = {initial}")
        returns = "f64"
    else:
        params.append(("out_p", ABI_POINTER[dtype]))
        arguments.append(("result", 0))
        kept_extents = [extents[g] for g in kept] or ["1"]
        body += [f"out = carray(out_p, ({', '.join(kept_extents)},))"]
        body += [f"{'    ' * depth}for {indices[g]} in range({extents[g]}):" for depth, g in enumerate(kept)] or [] 
        fill_index = ", ".join(indices[g] for g in kept) or "0"
        body.append(f"{'    ' * max(len(kept), 0)}out[{fill_index}] = {initial}")
        target = f"out[{fill_index}]"
        returns = "void"
    body += loops
    if is_max:  # NaN wins: once the running maximum is NaN, no comparison replaces it
        body.append(f"{inner}v = {value}")
        body.append(f"{inner}if v > {target} or v != v:")
        body.append(f"{inner}    {target} = v")
    else:
        body.append(f"{inner}{target} += {value}")
    if scalar:
        body.append("return total")
    doc = f"{'Maximum' if is_max else 'Sum'} over axes, {'to one value' if scalar else 'keeping the others'}"
    return LoopKernel(Kernel("reduce", tuple(params), tuple(body), doc, returns=returns), tuple(arguments))


def permute_kernel(ndim: int, axes, dtype) -> LoopKernel:
    """out = x transposed by `axes` (out's axis i is x's axis axes[i]), written in out's order."""
    params = [("x_p", ABI_POINTER[dtype])] + [(f"e{a}", "i64") for a in range(ndim)] + [("out_p", ABI_POINTER[dtype])]
    arguments = [("array", 0)] + [("extent", (a,)) for a in range(ndim)] + [("result", 0)]
    body = [f"x = carray(x_p, ({', '.join(f'e{a}' for a in range(ndim))},))",
            f"out = carray(out_p, ({', '.join(f'e{a}' for a in axes)},))"]
    body += [f"{'    ' * depth}for i{depth} in range(e{a}):" for depth, a in enumerate(axes)]
    source_index = [None] * ndim
    for depth, a in enumerate(axes):
        source_index[a] = f"i{depth}"
    body.append(f"{'    ' * ndim}out[{', '.join(f'i{d}' for d in range(ndim))}] = x[{', '.join(source_index)}]")
    return LoopKernel(Kernel("permute", tuple(params), tuple(body), f"Transpose by axes {tuple(axes)}"), tuple(arguments))
