"""Each fusion fires on a training program and leaves every value (outputs and updates) unchanged."""
import importlib

import numpy as np
import pytest

import staticnet as sn
from staticnet.passes import (fold_constants, fuse_bias_grad, fuse_elementwise, fuse_gemm, fuse_gemm_update,
                              fuse_losses, fuse_pool_contract, fuse_updates, optimize, pool_early, simplify)
from staticnet.passes.strip_dropout import strip_dropout
from staticnet.program import Program
from tests.conftest import assert_same_program_values, mlp_training_program


def ops(program):
    return [n.op for n in program.nodes() if not n.is_leaf]


def test_elementwise_chains_become_single_loops():
    program, feed = mlp_training_program()
    out = fuse_elementwise(program)
    fused = [n for n in out.nodes() if n.op == "fused"]
    assert fused and max(len(n.attrs["body"]) for n in fused) >= 3
    assert out.count_ops() < program.count_ops()
    assert_same_program_values(program, out, feed)


def test_dense_epilogue_matmul_bias_activation_is_one_gemm():
    program, feed = mlp_training_program()
    out = fuse_gemm(fuse_elementwise(program))
    epilogues = [[op for op, _, _ in n.attrs["epilogue"]] for n in out.nodes() if n.op == "gemm"]
    assert ["add", "sigmoid"] in epilogues
    assert "matmul" not in ops(out)
    assert_same_program_values(program, out, feed)


def test_bias_gradient_is_summed_in_the_delta_loop():
    program, feed = mlp_training_program()
    before = fuse_elementwise(program)
    out = fuse_bias_grad(before)
    multis = [n for n in out.nodes() if n.op == "fused_multi"]
    assert len(multis) == 2 and all(m.attrs["results"][1][1] == "colsum" for m in multis)
    assert not [n for n in out.nodes() if n.op == "sum" and n.attrs["axes"] == (0,)]
    assert_same_program_values(program, out, feed)


def test_a_convolution_bias_gradient_is_summed_over_batch_height_and_width_in_the_delta_loop():
    sn.seed(0)
    x = sn.input("x", (None, 5, 5, 2), dtype="float64")
    g = sn.input("g", (None, 3, 3, 4), dtype="float64")
    loss = sn.sum(sn.conv2d(x, 4, 3, activation="tanh", name="c") * g)
    program = Program(outputs=(loss, *sn.grad(loss, sn.Graph(loss).params)))
    before = fuse_elementwise(program)
    out = fuse_bias_grad(before)
    [multi] = [n for n in out.nodes() if n.op == "fused_multi"]
    assert multi.attrs["results"][1][1] == "colsum" and multi.attrs["parts"][1][0] == (4,)
    assert not [n for n in out.nodes() if n.op == "sum" and n.attrs["axes"] == (0, 1, 2)]
    rng = np.random.default_rng(0)
    assert_same_program_values(program, out, {x.id: rng.normal(size=(3, 5, 5, 2)), g.id: rng.normal(size=(3, 3, 3, 4))})


def conv_pool_program(input_needs_grad):
    sn.seed(0)
    x = sn.input("x", (None, 6, 6, 2), dtype="float64")
    g = sn.input("g", (None, 2, 2, 3), dtype="float64")
    loss = sn.sum(sn.max_pool2d(sn.conv2d(x, 3, 3, name="c"), 2) * g)
    (loss,) = pool_early(Program(outputs=(loss,))).outputs  # the bias after the pooling, as compiled
    wrt = sn.Graph(loss).params + ([x] if input_needs_grad else [])
    program = Program(outputs=(loss, *sn.grad(loss, wrt)))
    rng = np.random.default_rng(0)
    return program, {x.id: rng.normal(size=(3, 6, 6, 2)), g.id: rng.normal(size=(3, 2, 2, 3))}


def test_a_max_pooled_convolution_filter_gradient_is_one_kernel():
    program, feed = conv_pool_program(input_needs_grad=False)
    out = fuse_pool_contract(program)
    [fused] = [n for n in out.nodes() if n.op == "max_pool_contract"]
    assert fused.inputs[0].op == "im2col" and fused.inputs[1].op == "matmul" and fused.shape == (18, 3)
    assert not [n for n in out.nodes() if n.op in ("max_pool2d_grad", "contract")]
    assert_same_program_values(program, out, feed)


def test_a_pooling_gradient_the_input_gradient_also_reads_stays_whole():
    program, _ = conv_pool_program(input_needs_grad=True)
    assert fuse_pool_contract(program) is program


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_losses_fuse_with_their_activation(activation):
    program, feed = mlp_training_program(cost="xent" if activation == "sigmoid" else "softmax")
    out = fuse_losses(program)
    assert f"{activation}_xent_multi" in ops(out)
    assert ops(out).count(activation) == ops(program).count(activation) - 1
    assert_same_program_values(program, out, feed)


def test_softmax_xent_gradient_is_p_minus_y_over_n():
    z = sn.input("z", (None, 4), dtype="float64")
    y = sn.input("y", (None, 4), dtype="float64")
    p = sn.softmax(z)
    g = sn.grad(sn.cross_entropy(p, y), z)
    rng = np.random.default_rng(0)
    zv, yv = rng.normal(size=(5, 4)), np.eye(4)[[0, 1, 2, 3, 0]]
    program = optimize(Program(outputs=(g, p)))
    from staticnet.interpreter import run_program
    got, probs = run_program(program, {z.id: zv, y.id: yv})
    np.testing.assert_allclose(got, (probs - yv) / 5, rtol=1e-12)


@pytest.mark.parametrize("optimizer", [sn.SGD(lr=0.5, momentum=0.9), sn.SGD(lr=0.5, momentum=0.9, nesterov=True),
                                       sn.AdaGrad(lr=0.1), sn.RMSProp(lr=0.01), sn.Adam(lr=0.01), sn.AdamW(lr=0.01)],
                         ids=lambda o: type(o).__name__ + ("-nesterov" if getattr(o, "nesterov", False) else ""))
def test_optimizer_updates_become_one_in_place_pass_per_parameter(optimizer):
    program, feed = mlp_training_program(optimizer=optimizer)
    before = fuse_bias_grad(fuse_elementwise(program))
    out = fuse_updates(before)
    effects = [e for e in out.effects if e.op == "fused_update"]
    assert len(effects) == 4  # one per parameter, state included
    assert all(len(e.attrs["writes"]) == len(effects[0].attrs["writes"]) for e in effects)
    assert len(effects[0].attrs["writes"]) >= 2  # the parameter and its state
    assert_same_program_values(program, out, feed)


@pytest.mark.parametrize("clipping", [{"clipnorm": 0.1}, {"global_clipnorm": 0.1}, {"clipvalue": 0.01}])
def test_a_clipped_gradient_that_only_the_updates_read_is_computed_in_their_loop(clipping):
    """Adam's m and v both read the clipped gradient: it is made inside their fused update, not in a loop of
    its own."""
    program, feed = mlp_training_program(optimizer=sn.Adam(lr=0.01, **clipping))
    out = fuse_updates(fuse_bias_grad(fuse_elementwise(program)))
    effects = [e for e in out.effects if e.op == "fused_update"]
    assert len(effects) == 4
    standalone = [n for n in out.nodes() if n.op in ("mul", "div", "minimum", "maximum", "fused") and n.shape != ()
                  and any(e for e in effects if n in e.inputs)]
    assert standalone == []  # each update reads the raw gradient and scalars
    assert_same_program_values(program, out, feed)


def test_sgd_step_with_weight_decay_is_one_in_place_gemm():
    sn.seed(0)
    x = sn.input("x", (None, 6), dtype="float64")
    y = sn.input("y", (None, 3), dtype="float64")
    p = sn.dense(x, 3, activation="sigmoid")
    loss = sn.mse(p, y) + sn.l2(lam=5.0, n=100)
    params = sn.Graph(loss).params
    program = Program(outputs=(loss,), updates=tuple(sn.SGD(lr=0.5).updates(params, sn.grad(loss, params))))
    canonical = simplify(fold_constants(program))
    before = fuse_gemm(fuse_bias_grad(fuse_elementwise(canonical)))
    out = fuse_gemm_update(before)
    assert [e.op for e in out.effects] == ["gemm_update"]
    rng = np.random.default_rng(0)
    assert_same_program_values(program, out, {x.id: rng.normal(size=(4, 6)), y.id: rng.uniform(size=(4, 3))})


def test_dropout_is_stripped_for_inference():
    x = sn.input("x", (None, 3), dtype="float64")
    out = strip_dropout(Program(outputs=(sn.dropout(x, 0.5) * 2.0,)))
    assert ops(simplify(out)) == ["mul"]


def test_passes_that_do_not_apply_return_the_same_program():
    x = sn.input("x", (None, 3), dtype="float64")
    program = Program(outputs=(sn.sum(x),))
    for rewrite in (fuse_elementwise, fuse_bias_grad, fuse_gemm, fuse_gemm_update, fuse_losses, fuse_updates,
                    fuse_pool_contract):
        assert rewrite(program) is program


def test_whole_pipeline_preserves_values_and_ir_invariants():
    program, feed = mlp_training_program(optimizer=sn.Adam(lr=0.01))
    report = []
    out = optimize(program, report)
    assert {name for name, *_ in report} >= {"fuse_elementwise", "fuse_gemm", "fuse_updates"}
    nodes = out.nodes()
    position = {n.id: i for i, n in enumerate(nodes)}
    for n in nodes:  # invariants: inputs come first; shapes and dtypes are set
        assert all(position[t.id] < position[n.id] for t in n.inputs)
        assert n.dtype in (np.float64, np.int64, np.int32)
    assert_same_program_values(program, out, feed)


@pytest.mark.parametrize("optimizer", [sn.SGD(lr=0.5), sn.SGD(lr=0.5, momentum=0.9), sn.Adam(lr=0.01),
                                       sn.RMSProp(lr=0.01), sn.AdamW(lr=0.01)], ids=lambda o: repr(o))
@pytest.mark.parametrize("penalty", ["none", "l2", "l1"])
def test_without_clipping_the_updates_fuse_as_before_computing_a_gradient_in_the_update_loop(optimizer, penalty,
                                                                                              monkeypatch):
    """The rule that computes a value read only by a parameter's updates inside their loop does not fire
    without clipping (an L2 or L1 term stays the product's epilogue): the optimized program is the one the
    pipeline made before the rule existed, so training without clipping is unchanged to the bit."""
    module = importlib.import_module("staticnet.passes.fuse_updates")  # the package's name is the function
    program, feed = mlp_training_program(optimizer=optimizer)
    if penalty != "none":
        loss = program.outputs[0] + (sn.l2 if penalty == "l2" else sn.l1)(lam=5.0, n=100)
        params = sn.Graph(loss).params
        program = Program(outputs=(loss,), updates=tuple(type(optimizer)(**{
            k: v for k, v in optimizer.config().items() if k not in ("name", "schedule")}).updates(
                params, sn.grad(loss, params))))

    def shape_of(p):
        return [(n.op, n.shape, len(n.inputs)) for n in optimize(p).nodes()]
    with_rule = shape_of(program)
    monkeypatch.setattr(module, "_read_only_by", lambda *args: False)
    assert shape_of(program) == with_rule
