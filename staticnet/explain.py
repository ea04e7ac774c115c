"""The generated training step in the book's notation: what each kernel computes, and which equation.

Every node the passes make remembers the nodes of the training graph it computes (program.origins), so each
kernel of the generated code can be told in terms of the graph the user built and `staticnet explain` lists:
its node numbers, the expression it evaluates, and its place in backpropagation. Nielsen's four equations
(chapter 2), written for staticnet's layout, one row per example (z = a @ W + b):

    BP1  delta^L = dC/da^L * sigma'(z^L)
    BP2  delta^l = (delta^(l+1) @ W^(l+1).T) * sigma'(z^l)
    BP3  dC/db^l = the sum over the batch of delta^l
    BP4  dC/dW^l = a^(l-1).T @ delta^l

A layer is a weight W and a bias b made by one layer builder (sn.dense, sn.conv2d: the params' `layer`),
numbered from the input; z^l is the node adding its bias, a^l its activation (the
activation op that reads z^l, or the last node made from it on the same line), a^0 the data. delta^l is the
gradient of the cost with respect to z^l, as autodiff made it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .codegen.source_text import comment, identifier
from .graph import Tensor, fmt_shape, topological
from .program import origins
from .registry import ATOM, has_trait, registry

LONGEST = 150  # an expression longer than this is shown by its operands' numbers instead


@dataclass
class BookLayer:
    """A layer l of the book's equations: its W^l and b^l, z^l and a^l in the training graph."""
    name: str
    index: int
    weight: Tensor
    bias: Tensor | None
    z: Tensor | None  # the pre-activation: the node adding the bias (or the product, without one)
    a: Tensor | None  # the activation
    activation: str  # the activation's op, "f" for one made of several ops, or "linear"


class StepNotes:
    """Answers the code generator's questions about the nodes of a model's optimized programs: the comment
    lines above a node's code and a readable name for the value it computes."""

    def __init__(self, forward_roots, gradients: dict, updates, optimizer):
        """`forward_roots`: the cost, then the model's outputs; `updates`: the optimizer's (leaf, new value)
        pairs, built from `gradients` (forward node id -> its gradient node, as autodiff made them). Together
        they are the training program before the passes."""
        cost = forward_roots[0]
        self.nodes = topological(list(forward_roots) + [value for _, value in updates])
        self.by_id = {n.id: n for n in self.nodes}
        self.number = {n.id: i for i, n in enumerate(self.nodes)}
        self.readers: dict[int, list[Tensor]] = {}
        for n in self.nodes:
            for t in n.inputs:
                self.readers.setdefault(t.id, []).append(n)
        self.optimizer = optimizer
        self.layers = self._layers(forward_roots)
        self.roles: dict[int, tuple] = {cost.id: ("cost", None)}  # node id -> (role, layer)
        for layer in self.layers:
            self.roles.setdefault(layer.z.id, ("z", layer))
            if layer.a is not layer.z:
                self.roles.setdefault(layer.a.id, ("a", layer))
        for forward_id, g in gradients.items():
            role = self._gradient_role(forward_id)
            if role is not None and (g.id not in self.roles or role[0] == "delta"):
                self.roles[g.id] = role
                while has_trait(g, "view") and g.inputs[0].id not in self.roles:
                    g = g.inputs[0]  # the same values in another shape: the product before a flatten's reshape
                    self.roles[g.id] = role
        self.updated = {value.id: leaf for leaf, value in updates}
        self.state_of = {t.id: n for n in self.nodes if has_trait(n, "state_updates") for t in n.inputs
                         if t.op == "param" and not t.trainable}  # a state leaf -> the node writing it
        self.trained = {leaf.id for leaf, _ in updates if leaf.id in gradients}  # not the optimizer's own state

    # ------------------------------------------------------------ the training graph's layers
    def _layers(self, forward_roots) -> list[BookLayer]:
        forward = set(n.id for n in topological(list(forward_roots)))
        params = [n for n in self.nodes if n.op == "param" and n.id in forward]
        by_layer: dict[str, list[Tensor]] = {}
        for p in params:
            if p.layer is not None:
                by_layer.setdefault(p.layer, []).append(p)
        layers = []
        for name, found in by_layer.items():
            weight = next((p for p in found if p.ndim >= 2), None)
            if weight is None:
                continue
            bias = next((p for p in found if p.ndim == 1), None)
            # z: the layer's own elementwise node reading its bias (the add), made by its builder or, in a layer
            # written by hand, by no builder but in the forward pass (an optimizer's nodes are not)
            z = next((r for r in self.readers.get(bias.id, []) if r.kind == "elementwise"
                      and (r.layer == name or r.layer is None and r.id in forward)), None) if bias is not None else None
            if z is None:  # no bias: the product reading the weight (directly or through a transpose)
                z = next((r for r in self._forward_readers(weight)), None)
            if z is None:
                continue
            a, activation = self._activation(z, forward)
            layers.append(BookLayer(name, 0, weight, bias, z, a, activation))
        layers.sort(key=lambda layer: self.number[layer.z.id])
        for k, layer in enumerate(layers, 1):
            layer.index = k
        return layers

    def _forward_readers(self, weight):
        for r in self.readers.get(weight.id, []):
            if has_trait(r, "product"):
                yield r
            elif has_trait(r, "view"):
                yield from (rr for rr in self.readers.get(r.id, []) if has_trait(rr, "product"))

    def _activation(self, z, forward: set) -> tuple[Tensor, str]:
        """The activation of z: an activation op reading it on its line, else the last forward node made on
        that line from z (a composite: leaky_relu, swish), else z itself (a linear layer)."""
        readers = [r for r in self.readers.get(z.id, []) if r.loc == z.loc and r.id in forward]
        named = [r for r in readers if has_trait(r, "activation")]
        if named:
            return named[0], named[0].op
        made = [n for n in self.nodes if n.loc == z.loc and n.id in forward and self.number[n.id] > self.number[z.id]
                and z in n.inputs + tuple(t for i in n.inputs for t in i.inputs)]
        return (made[-1], "f") if made else (z, "linear")  # f: an activation made of several ops

    def _gradient_role(self, forward_id) -> tuple | None:
        for layer in self.layers:
            if forward_id == layer.z.id:
                return ("delta", layer)
            if forward_id == layer.a.id:
                return ("grad_a", layer)
            if forward_id == layer.weight.id:
                return ("grad_W", layer)
            if layer.bias is not None and forward_id == layer.bias.id:
                return ("grad_b", layer)
        return None

    # ------------------------------------------------------------ what the code generator asks
    def name(self, node: Tensor) -> str:
        """An identifier for the value a node of an optimized program holds: its role's (dense1_a,
        delta_dense2), else v and its number in the training graph, else (made by the passes) its op's."""
        roots = sorted(self._roots(node), key=lambda i: -self.number[i])
        for origin in roots:
            if origin in self.roles:
                return self.name_of_role(self.roles[origin])
        return f"v{self.number[roots[0]]}" if roots else f"passes_{node.op}"

    def span(self, nodes) -> str:
        """The range of the training graph's numbers of what these nodes compute, as "%a to %b"."""
        numbers = sorted(self.number[i] for n in nodes for i in self._known(origins(n)))
        return f"%{numbers[0]} to %{numbers[-1]}" if numbers else "these nodes"

    def comments(self, node: Tensor, parts: list[Tensor], explained: set) -> list[str]:
        """The comment lines above a node's code: each value it computes as an expression of the training
        graph, the equations of the book it belongs to, and notes on the ops computed in a stable form (each
        op's once: `explained` holds the ops of this step explained already)."""
        pieces = parts if parts else [node]
        inside = set().union(*(self._known(origins(p)) for p in pieces))
        lines = []
        for piece in pieces:
            roots = sorted(self._roots(piece), key=self.number.get)
            for root in roots:
                original = self.by_id[root]
                text = self._expression(original, self._known(origins(piece)))
                if root in self.updated:  # written over a leaf, in place
                    target = f"{self.updated[root].name} <- "
                else:
                    target = f"{self.name(piece)} = " if len(roots) == 1 else ""
                lines.append(f"%{self.number[root]} {target}{text}   {fmt_shape(original.shape)} {original.dtype}")
            if not roots:  # made by the passes from values of the graph (an update's -eta)
                text, _ = self._render(piece, {piece.id}, top=True)
                lines.append(f"{text}   {fmt_shape(piece.shape)} {piece.dtype}   (made by the passes)")
        lines[0] += f"   {node.loc}"
        # a multi-result node's note (a recurrent layer's BPTT) belongs to it, not to its parts
        return (lines + self._equations(inside) + self._op_equations(inside, explained)
                + self._notes(inside | self._known(origins(node)), explained))

    # ------------------------------------------------------------ pieces of the comments
    def _known(self, ids) -> set[int]:
        return {i for i in ids if i in self.by_id}

    def _roots(self, node: Tensor) -> list[int]:
        """The training-graph values a node computes that no other value it computes reads."""
        inside = self._known(origins(node))
        read = {t.id for i in inside for t in self.by_id[i].inputs}
        return [i for i in inside if i not in read and not self.by_id[i].is_leaf]

    def _reference(self, t: Tensor) -> tuple[str, int]:
        """How an expression names a value it reads: a leaf's name, a constant's value, a role's name, or
        its number; a transpose or a reshape is shown as what it is of."""
        if t.op in ("input", "param"):
            return t.name, ATOM
        if t.op == "constant":
            return (f"{t.value.reshape(-1)[0]:g}" if t.value.size == 1 else "constant"), ATOM
        role = self.roles.get(t.id)
        if role is not None:
            return self.name_of_role(role), ATOM
        if has_trait(t, "view"):
            return self._render(t, {t.id})
        return (f"v{self.number[t.id]}" if t.id in self.number else t.op), ATOM

    @staticmethod
    def name_of_role(role) -> str:
        kind, layer = role
        if kind == "cost":
            return "cost"
        return identifier({"z": f"{layer.name}_z", "a": f"{layer.name}_a", "delta": f"delta_{layer.name}",
                           "grad_a": f"grad_{layer.name}_a", "grad_W": f"grad_{layer.name}_W",
                           "grad_b": f"grad_{layer.name}_b"}[kind])

    def _expression(self, node: Tensor, inside: set[int]) -> str:
        text, _ = self._render(node, inside, top=True)
        if len(text) > LONGEST:
            args = ", ".join(self._reference(t)[0] for t in node.inputs)
            return f"{node.op}({args}) (and {len(inside) - 1} more nodes: {self._numbers_of(inside)})"
        return text

    def _numbers_of(self, ids) -> str:
        return ", ".join(f"%{self.number[i]}" for i in sorted(ids, key=self.number.get))

    def _render(self, node: Tensor, inside: set[int], top=False) -> tuple[str, int]:
        if node.is_leaf or (node.id not in inside and not top):
            return self._reference(node)
        args = [self._render(t, inside) for t in node.inputs]
        opdef = registry[node.op]
        if opdef.infix is not None:
            symbol, precedence = opdef.infix
            (left, lp), (right, rp) = args
            left_product, right_product = (has_trait(t, "product") and t.id in inside for t in node.inputs)
            # a product times or over something is bracketed, (a @ W) * b, though Python would not need it
            bracket_product = left_product and lp == precedence and not opdef.product
            left = left if lp >= precedence and not bracket_product else f"({left})"
            chains = rp == precedence and opdef.associative and not right_product
            right = right if rp > precedence or chains else f"({right})"
            return left + symbol + right, precedence
        written = opdef.notation(node, args, top) if opdef.notation is not None else None
        if written is not None:
            return written
        return f"{node.op}({', '.join(a for a, _ in args)})", ATOM

    def _equations(self, inside: set[int]) -> list[str]:
        """The book's equations for the roles among the values a kernel computes."""
        found = [self.roles[i] + (i,) for i in sorted(inside, key=self.number.get) if i in self.roles]
        last = len(self.layers)
        lines = []
        for kind, layer, _ in found:
            if kind == "cost":
                continue
            l = layer.index
            sigma = layer.activation
            if kind == "z":
                product = "conv(a^{0}, W^{1})".format(l - 1, l) if self._convolution(layer) else f"a^{l - 1} @ W^{l}"
                lines.append(f"z^{l} = {product}" + (f" + b^{l}" if layer.bias is not None else "")
                             + f"   layer {l}, {layer.name}" + (" (a^0 is the input)" if l == 1 else ""))
            elif kind == "a":
                lines.append(f"a^{l} = {sigma}(z^{l})")
            elif kind == "delta" and l == last:
                lines.append(self._bp1(layer))
            elif kind == "delta":
                lines.append(f"BP2  delta^{l} = (delta^{l + 1} @ W^{l + 1}.T) * {sigma}'(z^{l})")
            elif kind == "grad_a" and l < last:
                lines.append(f"BP2, its product: dC/da^{l} = delta^{l + 1} @ W^{l + 1}.T")
            elif kind == "grad_b":
                lines.append(f"BP3  dC/db^{l} = sum over the batch of delta^{l}")
            elif kind == "grad_W" and self._convolution(layer):
                lines.append(f"BP4  dC/dW^{l} = im2col(a^{l - 1}).T @ delta^{l}: each window of a^{l - 1} times "
                             "delta at its position")
            elif kind == "grad_W":
                lines.append(f"BP4  dC/dW^{l} = a^{l - 1}.T @ delta^{l}")
        for i in sorted(inside, key=self.number.get):
            leaf = self.updated.get(i)
            if leaf is not None and leaf.id in self.trained:
                lines += self._update(leaf)
        return list(dict.fromkeys(lines))

    def _op_equations(self, inside: set[int], explained: set) -> list[str]:
        """The equations of an op that gives them (a batch norm), above the first code computing its values or
        writing its state, once per node in the step."""
        lines = []
        for i in sorted(inside, key=self.number.get):
            leaf = self.updated.get(i)
            state = leaf is not None and leaf.id in self.state_of
            owner = self.state_of[leaf.id] if state else self.by_id[i] if has_trait(self.by_id[i], "equations") else None
            if owner is not None and ("equations", owner.id, state) not in explained:
                explained.add(("equations", owner.id, state))
                lines += registry[owner.op].equations(owner, state)
        return lines

    def _convolution(self, layer) -> bool:
        """Whether the layer's product reads windows of its input (im2col, made on the layer's line)."""
        stack, seen = [layer.z], set()
        while stack:
            t = stack.pop()
            if has_trait(t, "patches"):
                return True
            seen.add(t.id)
            stack += [i for i in t.inputs if i.loc == layer.z.loc and not i.is_leaf and i.id not in seen]
        return False

    def _bp1(self, layer) -> str:
        l = layer.index
        cancelling = {has_trait(n, "cross_entropy_of") for n in self.nodes}
        if layer.activation in cancelling:
            return (f"BP1  delta^{l} = (a^{l} - y) / n: {layer.activation} with its cross-entropy, sigma'(z) "
                    "cancels (the book's chapter 3)")
        return f"BP1  delta^{l} = dC/da^{l} * {layer.activation}'(z^{l})"

    def _update(self, leaf) -> list[str]:
        """The optimizer's formula for one parameter (w its value, g its gradient)."""
        layer = next((x for x in self.layers if leaf is x.weight or leaf is x.bias), None)
        if layer is None:
            symbol = leaf.name
        else:
            symbol = f"{'W' if leaf is layer.weight else 'b'}^{layer.index}"
        return [line.format(w=symbol, g=f"dC/d{symbol}") for line in self.optimizer.formula()]

    def _notes(self, inside: set[int], explained: set) -> list[str]:
        lines = []
        for i in sorted(inside, key=self.number.get):
            op = self.by_id[i].op
            note = registry[op].note if op in registry else None
            if note and op not in explained:
                explained.add(op)
                lines.append(f"{op}: {note}")
        return lines


def explain_source(model) -> str:
    """The training graph as `describe` lists it, then the annotated source of the training loop."""
    from .graph import describe
    listing = describe(list(model.training_roots))
    source = model.generated.source
    start = source.index("def train_epoch(")
    start = source.rfind("\n", 0, source.rfind("@njit", 0, start)) + 1
    end = source.find("\n\n\n", start)
    loop = source[start:end if end >= 0 else len(source)].rstrip()
    return ("# the training graph: the forward pass, then the gradients autodiff made and the optimizer's updates\n"
            + "\n".join(comment(line) for line in listing.split("\n"))
            + "\n\n" + loop + "\n")

