"""Model.summary: the layers as Keras lists them, and the fused kernel each one's work ended up in.

A layer is the group of forward nodes made by one builder call (sn.dense, sn.conv2d: the nodes' `layer`),
with the elementwise ops and activations made on the same source line from them (`sn.relu(sn.dense(...))`);
a node reading a parameter no builder made is the parameter's layer.  Other nodes (pooling, flatten,
dropout) form a group per call, and what only the loss needs (the cost, its regularisers) is one last row.

The kernels come from the optimized training step (`model.programs["train"]`), where the passes have
rebuilt every node.  A kernel of its forward part is a layer's when it carries the layer's source line
and computes a value of the shape of one of the layer's nodes; a model output's kernel is also found
through the step's outputs, which keep the order of the model's (softmax fused into the cost's kernel
shows on the output layer).  Two layers made on one line with the same output shape both list the
kernels of either.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from .graph import fmt_shape, topological
from .registry import registry
from .program import consumers
from .report import describe_kernel, flops

WIDTH = 79  # the table fits an 80-column terminal unless names or shapes are very long
MIN_KERNEL_WIDTH = 20


@dataclass
class LayerRow:
    """One row of the summary table: a layer's nodes (those its builder made, node.layer) and parameters."""
    name: str
    nodes: list = field(default_factory=list)
    params: dict = field(default_factory=dict)  # id -> param leaf

    @property
    def ops(self) -> list[str]:
        return list(dict.fromkeys(n.op for n in self.nodes if not registry[n.op].workspace))

    @property
    def shape(self):
        return self.nodes[-1].shape


def layers(model) -> tuple[list[LayerRow], LayerRow]:
    """(the layers of the model's outputs as the user built them, in order; the row of what only the loss
    needs)."""
    loss_node, outputs = model.as_built
    in_outputs = {n.id for n in topological(outputs)}
    trainable = {t.id for t in model.parameters}  # frozen parameters and state count in their layer too
    fed: set[int] = set()  # nodes that depend on data
    groups: dict[str, LayerRow] = {}
    group_of: dict[int, LayerRow] = {}
    loss = LayerRow("(loss)")
    for node in topological(outputs + [loss_node]):
        if node.op == "input":
            fed.add(node.id)
        if node.is_leaf:
            continue
        data = any(t.id in fed for t in node.inputs)
        if data:
            fed.add(node.id)
        params = [t for t in node.inputs if t.id in trainable]
        if node.id not in in_outputs:
            loss.nodes.append(node)
            continue
        name = node.layer or ((params[0].layer or params[0].name) if params and data else None)
        if name is not None:
            layer = groups.setdefault(name, LayerRow(name))
        else:
            same_line = [group_of[t.id] for t in node.inputs if t.id in group_of and t.loc == node.loc]
            joins = registry[node.op].kind == "elementwise" or registry[node.op].activation
            layer = same_line[0] if same_line and joins else _new_group(groups, node.op)
        layer.nodes.append(node)
        layer.params.update({t.id: t for t in params})
        group_of[node.id] = layer
    return list(groups.values()), loss


def _new_group(groups, op) -> LayerRow:
    name, count = op, 1
    while name in groups:
        count += 1
        name = f"{op}_{count}"
    groups[name] = LayerRow(name)
    return groups[name]


def _does_work(node) -> bool:
    return not node.is_leaf and registry[node.op].does_work


def kernel_ops(kernel) -> set[str]:
    """The ops of the original graph whose work a kernel of the optimized step does."""
    rule = registry[kernel.op].source_ops
    return {kernel.op} if rule is None else rule(kernel)


def forward_kernels(model, layer_list: list[LayerRow], loss: LayerRow) -> dict[str, list[str]]:
    """LayerRow name -> descriptions of the forward kernels of the training step holding its work: each
    kernel goes to the layer made on its line that has one of its ops (by its shape where several do;
    by its line alone where none does), and a model output's kernel to the output's layer too."""
    train = model.programs["train"]
    readers = consumers(train)
    rows = layer_list + [loss]

    def shapes(kernel):  # a multi-output kernel's values are its parts
        return {kernel.shape} | {r.shape for r in readers.get(kernel.id, []) if r is not None and r.kind == "part"}

    found = {layer.name: [] for layer in rows}
    for kernel in (n for n in topological(list(train.outputs)) if _does_work(n)):
        on_line = [layer for layer in rows if kernel.loc in {n.loc for n in layer.nodes}]
        with_op = [layer for layer in on_line if kernel_ops(kernel) & set(layer.ops)] or on_line
        by_shape = [layer for layer in with_op if shapes(kernel) & {n.shape for n in layer.nodes}]
        if with_op:
            found[(by_shape or with_op)[0].name].append(kernel)
    for original, optimized in zip(model.as_built[1], train.outputs[1:]):
        producer = optimized.inputs[0] if optimized.kind == "part" else optimized
        owner = next((layer for layer in layer_list if original in layer.nodes), None)
        if owner is not None and _does_work(producer) and producer not in found[owner.name]:
            found[owner.name].append(producer)
    return {name: list(dict.fromkeys(describe_kernel(k) for k in kernels)) for name, kernels in found.items()}


def summary_text(model, batch_size: int) -> str:
    layer_list, loss = layers(model)
    kernels = forward_kernels(model, layer_list, loss)
    rows = [(t.name, ["input"], fmt_shape(t.shape), "", []) for t in model.inputs]
    for layer in layer_list + ([loss] if loss.nodes else []):
        count = sum(t.value.size for t in layer.params.values())
        rows.append((layer.name, layer.ops, fmt_shape(layer.shape), f"{count:,}", kernels[layer.name]))
    head = ("layer", "op", "output shape", "params", "kernel (train step)")
    widths = [max(len(head[i]), *(len(", ".join(r[i]) if i == 1 else r[i]) for r in rows)) for i in range(4)]
    others = widths[0] + widths[2] + widths[3] + 2 * 4
    widest_kernel = max(len(head[4]), *(len(k) + 1 for r in rows for k in r[4]))  # with its ";"
    longest_op = max(len(op) for r in rows for op in r[1]) + 1  # an op and its comma are never cut
    widths[1] = min(widths[1], max(longest_op, WIDTH - others - widest_kernel))  # ops wrap before kernels
    kernel_width = max(MIN_KERNEL_WIDTH, WIDTH - others - widths[1])
    lines = [_row(head[:4], [head[4]], widths), _row(["-" * w for w in widths], ["-" * kernel_width], widths)]
    for name, ops, shape, count, kernel_list in rows:
        op_lines = _packed(ops, widths[1], ", ")
        kernel_lines = _packed(kernel_list, kernel_width, "; ")
        for i in range(max(len(op_lines), len(kernel_lines))):
            op = op_lines[i] if i < len(op_lines) else ""
            cells = (name, op, shape, count) if i == 0 else ("", op, "", "")
            lines.append(_row(cells, kernel_lines[i:i + 1], widths))
    params = sum(t.value.size for t in model.trainable)
    written = {leaf.id for leaf, _ in model.state_updates}  # state a layer keeps (batch norm's statistics)
    kept = sum(t.value.size for t in model.non_trainable if t.id in written)
    frozen = sum(t.value.size for t in model.non_trainable if t.id not in written)
    state = sum(t.value.size for t in model.state)
    forward, _ = flops_per_example(model, "forward")
    train, per_step = flops_per_example(model, "train")
    workspace = model.steps["train"].plan.peak_bytes(batch_size)
    lines += ["=" * min(WIDTH, sum(widths) + 2 * 4 + kernel_width),
              f"parameters: {params:,} trainable, {kept:,} non-trainable, {frozen:,} frozen; {state:,} optimizer state",
              f"FLOPs per example: {forward:,} forward, {train:,} training (+{per_step:,} per step)",
              f"workspace: {workspace:,} bytes (training step, batch {batch_size})"]
    return "\n".join(lines)


def flops_per_example(model, program: str) -> tuple[int, int]:
    """(FLOPs per example, FLOPs per step whatever its batch) of a step: every node's count is a linear
    function of the batch size (the parameters' updates and the regularisers' sums do not grow with it), so
    two batch sizes give both parts, whatever batch fit runs."""
    def total(batch):
        return sum(flops(n, batch) for n in model.programs[program].nodes() if _does_work(n))
    one, two = total(1), total(2)
    return two - one, one - (two - one)


class Summary:
    """What Model.summary returns: str() is the table it printed.  Its repr is one line, so that a prompt or a
    notebook cell ending in net.summary() does not show the table a second time under the printed one."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self):
        return self.text

    def __repr__(self):
        totals = next(line for line in self.text.splitlines() if line.startswith("parameters: "))
        return f"<Summary {totals}; str() is the table>"


def _row(cells, kernel_lines, widths) -> str:
    name, ops, shape, count = cells
    text = f"{name:<{widths[0]}}  {ops:<{widths[1]}}  {shape:<{widths[2]}}  {count:>{widths[3]}}  "
    return (text + (kernel_lines[0] if kernel_lines else "")).rstrip()


def _packed(items, width, separator) -> list[str]:
    """The items, `separator` between, in lines of at most `width`, each line but the last ending in the
    separator's mark; an item longer than a line on lines of its own."""
    mark = separator.rstrip()
    lines = []
    for k, item in enumerate(items):
        room = width - (len(mark) if k < len(items) - 1 else 0)
        if lines and len(lines[-1]) + len(separator) + len(item) <= room:
            lines[-1] += separator + item
        else:
            if lines:
                lines[-1] += mark
            lines += textwrap.wrap(item, room)
    return lines
