"""An op lives in its registration: no module outside staticnet/ops/ writes a registered op's name.

Other code asks the registration (traits such as `activation` or `product`, the ONNX forms, a composite's
decomposition) instead of testing names, so that adding an op touches its module, its kernel and its tests.
Allowed without listing: the op names a rule set of staticnet/passes/ registers its rules for
(`@rules.rule("add")`), and strings compared with a node's `.kind` (fusion kinds such as "part" and "gemm"
share names with ops). Everything else is in ALLOWED, each entry with its reason."""
import ast
import os

import staticnet
from staticnet.registry import registry

PACKAGE = os.path.dirname(os.path.abspath(staticnet.__file__))
EVERY_NAME = None  # an allowlist entry covering every op name in its file

ALLOWED = {  # file under staticnet/ -> (the op names it may write, why)
    "loop_body.py": ({"fused", "broadcast_like"}, "the loop-body language: a fused node's body is its attribute, "
                                                  "and a copy is one broadcast_like instruction"),
    "codegen/library.py": ({"gemm"}, "the name of the gemm kernel in generated code (tests/golden), not the op"),
    "codegen/parallel.py": ({"gemm", "gemm_update"}, "the products a batch segment may not hold (BLAS splits them "
                                                     "among the threads itself), and product_calls' list of the "
                                                     "products a step makes, for their kernel choice"),
    "callbacks.py": ({"max"}, "ReduceLROnPlateau's mode (Keras's \"min\" or \"max\"), not the op"),
    "runtime.py": ({"step"}, "the name of the generated step function, not the op"),
    "plot.py": ({"log"}, "matplotlib's log scale, not the op"),
    "search/result.py": ({"log"}, "matplotlib's log scale, not the op"),
    # fusions that group nodes stay functions (DESIGN.md section 3): each matches the ops it fuses (and makes
    # the fused op with its builder in ops/fused.py); rewrite rules match their operands' ops
    "passes/fuse_bias_grad.py": ({"sum"}, "the fusion's own pattern: a sum over every axis but the last"),
    "passes/fuse_elementwise.py": ({"fused"}, "a fused loop grows by its readers: the fusion's own result is its "
                                              "pattern too"),
    "passes/fuse_gemm.py": ({"transpose", "contract"}, "the fusion's own pattern: a transposed operand is a flag, "
                                                       "a contract a transposed product"),
    "passes/fuse_gemm_update.py": ({"broadcast_like", "add", "sub", "mul", "div", "neg"},
                                   "the fusion's own pattern: the epilogue's algebra, op by op"),
    "passes/fuse_pool_contract.py": ({"max_pool2d_grad"}, "the fusion's own pattern"),
    "passes/pool_early.py": ({"add", "max_pool2d"}, "the bias add it moves; only a max commutes with a "
                                                    "monotone activation"),
    "passes/simplify.py": ({"neg", "transpose", "reshape"},
                           "identities over the operands' ops (-(-x), (x.T).T, reshape of a reshape)"),
}


def _rule_declarations(tree) -> set[int]:
    """ids of the string constants in `@<rule set>.rule(...)` decorators."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) \
                        and decorator.func.attr == "rule":
                    found.update(id(c) for c in ast.walk(decorator) if isinstance(c, ast.Constant))
    return found


def _kinds(tree) -> set[int]:
    """ids of the string constants compared with an `x.kind`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "kind":
            found.update(id(c) for comparator in node.comparators for c in ast.walk(comparator)
                         if isinstance(c, ast.Constant))
    return found


def op_names_written() -> dict[str, set[str]]:
    """File under staticnet/ (outside ops/) -> the registered op names written in it as strings."""
    found = {}
    for directory, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, PACKAGE).replace(os.sep, "/")
            if not name.endswith(".py") or relative.startswith("ops/"):
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            exempt = _kinds(tree) | (_rule_declarations(tree) if relative.startswith("passes/") else set())
            written = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                       and isinstance(node.value, str) and node.value in registry and id(node) not in exempt}
            if written:
                found[relative] = written
    return found


def test_no_op_name_is_written_outside_the_ops_but_where_allowed():
    assert {"gelu", "matmul", "max_pool2d", "mish"} <= registry.keys()  # the registry was read
    unexpected = {}
    for relative, names in op_names_written().items():
        allowed, _ = ALLOWED.get(relative, (set(), ""))
        if allowed is not EVERY_NAME and names - allowed:
            unexpected[relative] = sorted(names - allowed)
    assert unexpected == {}, ("registered op names written outside staticnet/ops/: ask the registration (a "
                              f"trait, the op's own rule) instead, or add an entry to ALLOWED with its reason: "
                              f"{unexpected}")


def test_every_allowlist_entry_is_still_needed():
    written = op_names_written()
    stale = {relative: sorted(allowed - written.get(relative, set())) for relative, (allowed, _) in ALLOWED.items()
             if allowed is not EVERY_NAME and allowed - written.get(relative, set())}
    assert stale == {} and all(reason for _, reason in ALLOWED.values()), stale


def test_the_check_sees_a_name_written_outside_the_ops(tmp_path, monkeypatch):
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "fine.py").write_text('NAME = "gelu"\n')
    (tmp_path / "passes").mkdir()
    (tmp_path / "passes" / "rewrite.py").write_text(
        '@rules.rule("add")\ndef f(node):\n    return node.kind == "part" or node.op == "mul"\n')
    (tmp_path / "table.py").write_text('ACTIVATIONS = ("sigmoid", "not an op")\n')
    monkeypatch.setitem(globals(), "PACKAGE", str(tmp_path))
    assert op_names_written() == {"passes/rewrite.py": {"mul"}, "table.py": {"sigmoid"}}
