import inspect
import os
import re
import sys

import numpy as np
import pytest

import staticnet as sn
from tests.conftest import hostile_strings

HERE = os.path.relpath(__file__)


def test_every_node_records_the_users_line():
    x = sn.input("x", (None, 3)); line = test_every_node_records_the_users_line.__code__.co_firstlineno + 1  # noqa: E702
    h = sn.dense(x, 2, activation="sigmoid")
    assert x.loc == f"{HERE}:{line}"
    for node in sn.Graph(h).nodes:
        assert node.loc in (f"{HERE}:{line}", f"{HERE}:{line + 1}"), node


def test_shapes_and_dtypes():
    x = sn.input("x", (None, 3), dtype="float64")
    labels = sn.input("l", (None,), dtype="int32")
    assert x.shape == (None, 3) and x.dtype == np.float64 and labels.dtype == np.int32
    assert sn.input("z", 5).shape == (5,)
    assert sn.param("p", (2, 3)).dtype == np.float32
    assert sn.constant([1, 2]).dtype == np.float32 and sn.constant(np.arange(2.0)).dtype == np.float64
    v = sn.param("v", value=np.arange(6.0).reshape(2, 3))
    assert v.shape == (2, 3) and v.dtype == np.float64 and v.value[1, 2] == 5.0


def test_describe_and_print_list_nodes_with_shapes_and_lines(capsys):
    x = sn.input("x", (None, 784))
    p = sn.dense(x, 10, activation="softmax", name="out")
    listing = sn.describe(p)
    lines = listing.splitlines()
    assert len(lines) == 6
    assert "input 'x'" in lines[0] and "(None, 784)" in lines[0] and "float32" in lines[0]
    assert "param 'out/W'" in listing and "(784, 10)" in listing
    assert "softmax(%4; axis=1)" in lines[-1] and lines[-1].endswith("<- output")
    assert all(HERE in line for line in lines)
    print(p)
    assert capsys.readouterr().out.strip() == listing.strip()
    assert str(sn.Graph(p)) == listing
    assert "(None, 10)" in repr(p)


def test_to_dot_is_graphviz_text():
    x = sn.input("x", (None, 2))
    dot = sn.to_dot(sn.relu(x @ sn.param("W", (2, 2))))
    assert dot.startswith('digraph "staticnet" {') and dot.rstrip().endswith("}")
    assert dot.count("->") == 3 and "matmul" in dot and "relu" in dot and "(None, 2)" in dot


def test_operators_build_the_right_ops():
    a = sn.input("a", (3,))
    ops = [(a + 1).op, (1 - a).op, (a * a).op, (a / 2).op, (-a).op, (a ** 2).op, (a > 0).op, (2 <= a).op]
    assert ops == ["add", "sub", "mul", "div", "neg", "square", "greater", "greater_equal"]
    assert (np.ones(3, np.float32) + a).op == "add"


def test_graph_collects_inputs_and_params_once():
    x = sn.input("x", (None, 2))
    W = sn.param("W", (2, 2))
    y = x @ W + x @ W
    g = sn.Graph(y)
    assert [t.name for t in g.inputs] == ["x"] and [t.name for t in g.params] == ["W"]
    with pytest.raises(sn.GraphError):
        if y:
            pass


def test_a_parameter_too_large_for_memory_is_refused_naming_it_before_anything_is_allocated(monkeypatch):
    from staticnet import checks
    monkeypatch.setattr(checks, "memory_available", lambda: 2**30)
    drawn = []
    line = inspect.currentframe().f_lineno + 4
    with pytest.raises(MemoryError, match=rf"^param at {re.escape(HERE)}:{line}: 'A/Wx' of shape \(100000, 200000\) "
                                          r"float32 holds 74\.5 GiB \(223\.5 GiB while its initial values are drawn in "
                                          r"float64\), more than the 1\.0 GiB of memory available$"):
        sn.param("A/Wx", (100000, 200000), init=lambda shape: drawn.append(shape))
    assert drawn == []  # the initialiser never ran


def test_a_parameter_whose_allocation_fails_names_it(monkeypatch):
    from staticnet import checks
    monkeypatch.setattr(checks, "memory_available", lambda: None)  # a system that does not say

    def init_out_of_memory(shape):
        raise MemoryError("Unable to allocate 74.5 GiB for an array with shape (100000, 200000)")
    with pytest.raises(MemoryError, match=r"^param at .*: 'W' of shape \(100000, 200000\) float64 holds 149\.0 GiB "
                                          r"\(298\.0 GiB while .*\), which could not be allocated$"):
        sn.param("W", (100000, 200000), init=init_out_of_memory, dtype="float64")


@pytest.mark.parametrize("init, dtype, first", [
    (sn.init.uniform(1e39), "float32", "inf"),              # inside float64, beyond float32
    (sn.init.normal(std=1e300), "float32", "inf"),
    (lambda shape: np.full(shape, np.nan), "float64", "nan"),
])
def test_an_initialiser_whose_values_do_not_fit_the_dtype_is_refused_naming_the_parameter(init, dtype, first):
    with pytest.raises(sn.GraphError, match=rf"^param at .*: 'W': its init gave \d+ values of 6 that are not finite in "
                                            rf"{dtype} \(the first at \(\d, \d\): .* became -?{first}\); give an init "
                                            rf"whose values fit {dtype}$"):
        sn.param("W", (2, 3), init=init, dtype=dtype)


def test_an_initialiser_that_returns_another_shape_is_refused():
    with pytest.raises(sn.ShapeError, match=r"'W': its init returned an array of shape \(\) for the shape \(2, 3\)"):
        sn.param("W", (2, 3), init=lambda shape: 0.5)


# ------------------------------------------------------------------ names: one character set, checked when made

RULE = "a name is 1 to 1000 characters among A-Z, a-z, 0-9 and _ . : / - + @ ; [ ] (no spaces, quotes or line breaks)"


def test_a_newline_in_an_input_name_is_refused_at_the_users_line():
    """It used to cut the compiled loop short: the name, in a comment, ended the line early, and the
    predictions came out all zero."""
    line = sys._getframe().f_lineno + 2
    with pytest.raises(sn.GraphError) as caught:
        sn.input("x\nbatch", (None, 3))
    assert str(caught.value) == f"input at {os.path.relpath(__file__)}:{line}: the name 'x\\nbatch' holds '\\n': {RULE}"


@pytest.mark.parametrize("case", range(len(hostile_strings("m"))))
def test_hostile_names_are_refused_by_input_param_and_layers(tmp_path, case):
    text = hostile_strings(tmp_path / "ran")[case]
    for make, op, what in [(lambda: sn.input(text, (None, 3)), "input", "name"),
                           (lambda: sn.param(text, (3, 2)), "param", "name"),
                           (lambda: sn.dense(sn.input("x", (None, 3)), 2, name=text), "dense", "layer name"),
                           (lambda: sn.conv2d(sn.input("i", (None, 5, 5, 1)), 2, 3, name=text), "conv2d",
                            "layer name")]:
        with pytest.raises(sn.GraphError) as caught:
            make()
        message = str(caught.value)
        assert message.startswith(f"{op} at ") and f": the {what} " in message and message.endswith(RULE), message


@pytest.mark.parametrize("name", ["input.1", "onnx::Gemm_0", "/fc1/Gemm_output_0", "dense/kernel:0", "x", "a" * 1000])
def test_names_exporters_write_are_names(name):
    assert sn.input(name, (None, 2)).name == name
    assert sn.param(name, (2,)).name == name


def test_layer_builders_record_their_layer_on_every_node_they_make():
    x = sn.input("x", (None, 8, 8, 1))
    c = sn.conv2d(x, 2, 3, activation="relu")
    flat = sn.flatten(c)
    h = sn.dense(flat, 4, activation="prelu")
    out = sn.dense(h, 3, activation="softmax", name="head")
    seq = sn.rnn(sn.input("s", (None, 5, 2)), 3)
    made_by = {}
    for node in sn.Graph([out, seq]).nodes:
        made_by.setdefault(node.layer, set()).add(node.op)
    assert made_by["conv1"] == {"param", "im2col", "matmul", "add", "relu"}
    assert made_by["dense1"] == {"param", "matmul", "add", "prelu"}
    assert {t.name for t in sn.Graph(h).params if t.layer == "dense1"} == {"dense1/W", "dense1/b", "dense1/alpha"}
    assert made_by["head"] == {"param", "matmul", "add", "softmax"}
    assert made_by["rnn1"] == {"param", "rnn", "step_at"}
    assert made_by[None] >= {"input", "reshape"}  # what no builder made: the inputs, flatten


def test_layer_scope_names_the_nodes_made_inside_and_nests():
    x = sn.input("x", (None, 3))
    with sn.layer_scope("block"):
        a = sn.relu(x)
        with sn.layer_scope("inner"):
            b = sn.tanh(a)
        c = a + b
    assert (x.layer, a.layer, b.layer, c.layer, sn.sigmoid(c).layer) == (None, "block", "inner", "block", None)
    second = sn.dense(sn.dense(c, 2), 2)  # numbered by the layers upstream
    assert (second.layer, second.inputs[0].inputs[0].layer) == ("dense2", "dense1")


def _made_in_a_cell(source: str, cell: str):
    """The value of `source`'s last line, run as a notebook cell named `cell` runs it (its lines record `cell`)."""
    scope = {"sn": sn}
    *body, last = source.strip().splitlines()
    exec(compile("\n".join(body) + f"\n_result = {last}\n", cell, "exec"), scope)
    return scope["_result"]


def test_a_graph_in_a_notebook_is_an_html_table_of_its_nodes_with_every_text_escaped(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no Graphviz: the table alone
    cell = "<ipython-input-3 & 'b'>"
    y = _made_in_a_cell("x = sn.input('x', (None, 2))\nsn.relu(x @ sn.param('W', (2, 2)))", cell)
    for shown in (y._repr_html_(), sn.Graph(y)._repr_html_()):
        assert "<svg" not in shown
        rows = re.findall(r"<tr>(.*?)</tr>", shown)
        cells = [re.findall(r"<td>(.*?)</td>", row) for row in rows[1:]]
        listing = [line.split() for line in sn.describe(y).splitlines()]
        assert [c[0] for c in cells] == [line[0] for line in listing]  # every node, in the listing's order
        assert [c[5] for c in cells] == ["", "", "", "output"]
        assert "&lt;ipython-input-3 &amp; &#x27;b&#x27;&gt;:2" in cells[3][4] and cell not in shown
        assert "param &#x27;W&#x27;" in cells[1][1] and "(None, 2)" in cells[3][2]


@pytest.mark.skipif(not __import__("shutil").which("dot"), reason="Graphviz's dot is not on PATH")
def test_a_graph_in_a_notebook_is_drawn_by_graphviz_when_dot_is_there():
    x = sn.input("x", (None, 2))
    shown = sn.relu(x @ sn.param("W", (2, 2)))._repr_html_()
    svg = shown[shown.index("<svg"):shown.index("</svg>")]
    assert "relu" in svg and "matmul" in svg and "<table" in shown
