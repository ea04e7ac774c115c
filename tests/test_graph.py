import os

import numpy as np
import pytest

import staticnet as sn

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
