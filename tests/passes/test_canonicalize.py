"""Dead code, CSE, constant folding and algebraic simplification: each fires and keeps values."""
import numpy as np

import staticnet as sn
from staticnet.passes import (eliminate_common_subexpressions, eliminate_dead_code, fold_constants, simplify)
from staticnet.program import Program
from tests.conftest import assert_same_program_values


def test_dead_code_drops_identity_updates_and_keeps_the_rest():
    x = sn.input("x", (None, 2), dtype="float64")
    W = sn.param("W", value=np.ones((2, 2)))
    V = sn.param("V", value=np.ones((2, 2)))
    program = Program(outputs=(sn.sum(x @ W),), updates=((W, W * 2.0), (V, V)))
    out = eliminate_dead_code(program)
    assert len(out.updates) == 1 and out.updates[0][0] is W
    assert eliminate_dead_code(out) is out
    assert_same_program_values(program, out, {x.id: np.ones((3, 2))})


def test_cse_merges_structurally_equal_nodes():
    x = sn.input("x", (None, 3), dtype="float64")
    a = sn.sigmoid(x * 2.0)
    b = sn.sigmoid(x * 2.0)  # built twice: the same value
    program = Program(outputs=(a + b,))
    out = eliminate_common_subexpressions(program)
    assert program.count_ops() == 5 and out.count_ops() == 3
    assert eliminate_common_subexpressions(out) is out
    assert_same_program_values(program, out, {x.id: np.random.default_rng(0).normal(size=(4, 3))})


def test_constant_folding_evaluates_constant_subgraphs():
    x = sn.input("x", (None, 3), dtype="float64")
    c = sn.exp(sn.constant(np.arange(3.0))) * 2.0
    program = Program(outputs=(x + c,))
    out = fold_constants(program)
    folded = [n for n in out.nodes() if n.op == "constant" and n.shape == (3,)]
    assert out.count_ops() == 1 and len(folded) == 1
    np.testing.assert_allclose(folded[0].value, 2 * np.exp(np.arange(3.0)))
    assert fold_constants(out) is out
    assert_same_program_values(program, out, {x.id: np.ones((2, 3))})


def test_algebraic_simplification_rules():
    x = sn.input("x", (None, 3), dtype="float64")
    m = sn.input("m", (3, 3), dtype="float64")
    exprs = [x * 1.0, 1.0 * x, x + 0.0, 0.0 + x, x - 0.0, x / 1.0, -(-x)]
    program = Program(outputs=tuple(exprs) + (sn.transpose(sn.transpose(m)),))
    out = simplify(program)
    assert all(o is x for o in out.outputs[:-1]) and out.outputs[-1] is m
    assert simplify(out) is out
    rng = np.random.default_rng(1)
    assert_same_program_values(program, out, {x.id: rng.normal(size=(2, 3)), m.id: rng.normal(size=(3, 3))})


def test_simplification_keeps_shape_changing_identities():
    x = sn.input("x", (3,), dtype="float64")
    ones = sn.constant(np.ones((2, 3)))
    program = Program(outputs=(x * ones,))  # broadcasts x to (2, 3): not x itself
    assert simplify(program) is program
