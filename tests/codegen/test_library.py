"""Hand-written kernels reached by path: an op's lowering names K.<module>.<function> and nothing keeps a list."""
import ast
import os

import pytest

import staticnet.kernels
from staticnet.codegen.library import Array, Literal, wrapper

KERNELS_INIT = staticnet.kernels.__file__


def test_a_kernel_is_called_by_its_module_and_name():
    kernel, arguments = wrapper("pool.max_pool", [Array("x", "float32", ["n", "4"]), Literal(2)])
    assert kernel.stem == "max_pool" and "K.pool.max_pool(a0, 2)" in "\n".join(kernel.body)
    assert arguments == ["x", "n", "4"]


@pytest.mark.parametrize("path", ["pool.no_such_kernel", "max_pool", "no_module.max_pool", "pool.LONGEST_RUN"])
def test_a_path_that_names_no_kernel_is_refused_when_generating(path):
    with pytest.raises(RuntimeError, match=rf"K\.{path} is not a kernel of staticnet.kernels"):
        wrapper(path, [])


def test_the_kernel_package_lists_modules_not_kernels():
    """kernels/__init__.py imports its modules once and names no kernel (no __all__, no from-imports of names)."""
    with open(KERNELS_INIT, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names]
    assigned = [t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)]
    assert "pool" in names and "__all__" not in assigned
    assert all(os.path.isfile(os.path.join(os.path.dirname(KERNELS_INIT), f"{name}.py")) for name in names)
