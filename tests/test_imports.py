"""The import structure: no module imports itself back through others, at the top of a file or inside a
function (a circle makes the order of imports matter and the layers impossible to read)."""
import ast
import os

import staticnet

PACKAGE = os.path.dirname(os.path.abspath(staticnet.__file__))


def module_files() -> dict[str, str]:
    files = {}
    for directory, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = "staticnet." + os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                files[dotted.removesuffix(".__init__")] = path
    return files


def import_graph() -> dict[str, set[str]]:
    """Module -> the staticnet modules it imports (staticnet.kernels, which imports nothing of staticnet, left out)."""
    files = module_files()
    graph = {}
    for module, path in files.items():
        package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    name = f"{base}.{alias.name}"
                    targets.add(name if name in files or name == "staticnet.kernels" else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def cycle_through(graph, start):
    """A path of imports from start back to itself, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in graph[module]:
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_no_module_imports_itself_back():
    graph = import_graph()
    assert len(graph) > 30 and "staticnet.codegen.driver" in graph["staticnet.runtime"]  # the graph was read
    circles = [cycle_through(graph, module) for module in sorted(graph)]
    assert [c for c in circles if c] == []


def test_the_layers_below_import_nothing_above_them():
    """The registry and the user's locations are leaves; the graph does not know the ops; the code
    generator does not know the ops' modules (it reads their rules from the registry)."""
    graph = import_graph()
    assert graph["staticnet.registry"] == set() and graph["staticnet.locations"] <= {"staticnet.errors"}
    assert not any(t.startswith("staticnet.ops") for t in graph["staticnet.graph"])
    codegen = [m for m in graph if m.startswith("staticnet.codegen")]
    assert codegen and not any(t.startswith("staticnet.ops") for m in codegen for t in graph[m])


LAYERS = [  # docs/architecture.md's map, in order: a module imports from its own layer or an earlier one
    ("leaves", {"errors", "registry", "durable", "paths", "version", "threads", "denormals", "interrupts",
                "progress", "codegen.signature"}),
    ("checks and places", {"locations", "checks", "init", "history", "data_checks", "onnx_support", "data",
                           "event_files", "callbacks"}),
    ("the graph", {"graph", "program", "loop_body", "interpreter", "feeds"}),
    ("code generation", {"codegen", "codegen.*"}),
    ("ops", {"ops", "ops.*"}),
    ("passes", {"passes", "passes.*"}),
    ("the compiler and what reads it", {"*"}),
]
EXCEPTIONS = {("staticnet.ops.composite", "staticnet.autodiff")}  # a composite's gradient from its decomposition


def layer_of(module: str) -> int:
    name = module.removeprefix("staticnet").removeprefix(".")
    for index, (_, members) in enumerate(LAYERS):
        if name in members or any(m.endswith(".*") and name.startswith(m[:-1]) for m in members):
            return index
    return len(LAYERS) - 1


def test_each_module_imports_only_its_layer_and_those_before_it():
    graph = import_graph()
    assert layer_of("staticnet.codegen.driver") == 3 and layer_of("staticnet.model") == 6  # the layers are read
    upward = sorted((module, target) for module, targets in graph.items() for target in targets
                    if layer_of(target) > layer_of(module) and (module, target) not in EXCEPTIONS)
    assert upward == [], "imports from a later layer of docs/architecture.md's map: " + ", ".join(
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})" for m, t in upward)
