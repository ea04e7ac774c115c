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
    assert graph["staticnet.registry"] == set() and graph["staticnet.codegen.source_text"] == set()
    # a location is stored rendered, by the one module that renders text for generated code
    assert graph["staticnet.locations"] <= {"staticnet.errors", "staticnet.codegen.source_text"}
    assert not any(t.startswith("staticnet.ops") for t in graph["staticnet.graph"])
    codegen = [m for m in graph if m.startswith("staticnet.codegen")]
    assert codegen and not any(t.startswith("staticnet.ops") for m in codegen for t in graph[m])
