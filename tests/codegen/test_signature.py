"""Signatures: bind lays out values by group, refuses a wrong call, and is what each generated def lists."""
import ast

import numpy as np
import pytest

import staticnet as sn
from staticnet.codegen.signature import Group, Signature, one


def test_bind_lays_out_groups_in_the_signatures_order():
    signature = Signature("f", (Group("data", ("a", "b"), many=True), one("total"), Group("sizes", (), many=True)))
    assert signature.parameters == ["a", "b", "total"]
    assert signature.bind(total=7, sizes=[], data=[1, 2]) == [1, 2, 7]


@pytest.mark.parametrize("values, message", [
    ({"data": [1, 2]}, r"missing \['total'\]"),
    ({"data": [1, 2], "total": 3, "seed": 0}, r"unknown \['seed'\]"),
    ({"data": [1], "total": 3}, "takes 2 data, got 1"),
])
def test_bind_refuses_a_call_that_does_not_fit(values, message):
    signature = Signature("f", (Group("data", ("a", "b"), many=True), one("total")))
    with pytest.raises(TypeError, match=message):
        signature.bind(**values)


def defined_parameters(source: str) -> dict[str, list[str]]:
    tree = ast.parse(source)
    return {f.name: [a.arg for a in f.args.args] for f in tree.body if isinstance(f, ast.FunctionDef)}


def test_each_generated_function_takes_what_its_signature_lists():
    sn.seed(0)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 3))
    p = sn.dense(sn.dense(x, 5, activation="relu"), 3, activation="softmax")
    model = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.01))
    defined = defined_parameters(model.generated.code)
    assert set(model.generated.signatures) == {"train_epoch", "eval_epoch", "predict_all"}
    for name, signature in model.generated.signatures.items():
        assert defined[name] == signature.parameters
    f = sn.function([x], p)
    assert defined_parameters(f.generated.code)["step"] == f.generated.signatures["step"].parameters
    np.testing.assert_allclose(f(np.ones((2, 4), np.float32)), model.predict(np.ones((2, 4), np.float32)), rtol=1e-6)
