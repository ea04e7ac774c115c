"""Rule sets: a rule sees only the nodes of its ops, the first answer wins, shapes are kept, and a set
that changes nothing returns the program itself."""
import numpy as np

import staticnet as sn
from staticnet.passes.rules import EVERY_OP, RuleSet
from staticnet.passes.simplify import simplify
from staticnet.program import Program
from tests.conftest import assert_same_program_values


def test_a_rule_is_asked_only_about_nodes_of_its_ops():
    seen = []
    rules = RuleSet("watch")

    @rules.rule("exp")
    def note(node, inputs, context):
        """exp(x) -> exp(x)."""
        seen.append(node.op)

    x = sn.input("x", (None, 3), dtype="float64")
    program = Program(outputs=(sn.exp(sn.tanh(x)) + sn.exp(x),))
    assert rules(program) is program
    assert seen == ["exp", "exp"]
    assert rules.rules[0].formula == "exp(x) -> exp(x)." and rules.rules[0].ops == ("exp",)


def test_the_first_rule_that_answers_wins_and_every_op_rules_come_last():
    rules = RuleSet("order")
    x = sn.input("x", (None, 3), dtype="float64")

    @rules.rule(EVERY_OP)
    def to_sigmoid(node, inputs, context):
        return sn.sigmoid(inputs[0]) if node.op == "exp" else None

    @rules.rule("exp")
    def to_tanh(node, inputs, context):
        return sn.tanh(inputs[0])

    out = rules(Program(outputs=(sn.exp(x),)))
    assert out.outputs[0].op == "tanh"


def test_a_replacement_of_another_shape_is_refused_where_shapes_are_kept():
    x = sn.input("x", (3,), dtype="float64")
    rules = RuleSet("reduce_instead")

    @rules.rule("exp")
    def summed(node, inputs, context):
        return sn.sum(inputs[0])  # () for (3,): not the same value

    program = Program(outputs=(sn.exp(x),))
    assert rules(program) is program
    assert RuleSet("loose", keep_shape=False, rules=rules.rules)(program).outputs[0].shape == ()


def test_rules_see_the_readers_of_the_original_program():
    x = sn.input("x", (None, 3), dtype="float64")
    shared = sn.tanh(x)
    counts = {}
    rules = RuleSet("readers")

    @rules.rule("tanh")
    def count(node, inputs, context):
        counts[node.id] = len(context.readers(node))

    rules(Program(outputs=(shared * 2.0, shared + 1.0)))
    assert counts == {shared.id: 2}


def test_simplify_rewrites_bottom_up_in_one_pass():
    x = sn.input("x", (None, 3), dtype="float64")
    program = Program(outputs=(-(-(x * 1.0)) + 0.0,))
    out = simplify(program)
    assert out.outputs[0] is x and simplify(out) is out
    assert_same_program_values(program, out, {x.id: np.random.default_rng(0).normal(size=(2, 3))})
