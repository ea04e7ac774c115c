"""Loop kernels (staticnet/codegen/elementwise.py): how a node's axes become loops, and values equal to the
NumPy reference executor whichever way a loop is laid out."""
import numpy as np
from hypothesis import given, settings, strategies as st

import staticnet as sn
from staticnet.codegen.elementwise import Operand, loop_kernel

SIGMOID_OF_SUM = (("add", (0, 1), ()), ("sigmoid", (2,), ()))


def run_both(inputs, outputs, arrays):
    reference = sn.function(inputs, outputs, backend="numpy")(*arrays)
    compiled = sn.function(inputs, outputs)
    for r, c in zip(reference, compiled(*arrays)):
        np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-6)
    return compiled


def extents(plan):
    return [what for kind, what in plan.arguments if kind == "extent"]


def test_equal_shapes_are_one_flat_loop_over_every_axis():
    plan = loop_kernel((None, 2, 64), [Operand("array", "float32", (None, 2, 64))], (("relu", (0,), ()),),
                       [(0, "map")], ["float32"])
    assert extents(plan) == [(0, 1, 2)]
    assert "run" not in plan.kernel.doc


def test_a_bias_is_read_along_its_axis_and_its_rows_are_one_loop():
    plan = loop_kernel((None, 30), [Operand("array", "float32", (None, 30)), Operand("array", "float32", (30,))],
                       SIGMOID_OF_SUM, [(1, "map")], ["float32"])
    assert extents(plan) == [(0,), (1,)]


def test_short_channels_run_with_the_axes_before_them_but_not_with_the_batch():
    """A per-channel vector over (n, 4, 5, 3): the last three axes as one loop of 60, the bias repeated along it."""
    plan = loop_kernel((None, 4, 5, 3), [Operand("array", "float32", (None, 4, 5, 3)),
                                         Operand("array", "float32", (3,))],
                       SIGMOID_OF_SUM, [(1, "map"), (1, "colsum")], ["float32", "float32"])
    assert extents(plan) == [(0,), (1, 2, 3), (3,)]  # the batch, the run, and the channels
    assert "np.empty(run" in plan.kernel.source and "_run[j]" in plan.kernel.source


def test_a_long_last_axis_is_not_run_with_the_axes_before_it():
    plan = loop_kernel((None, 4, 64), [Operand("array", "float32", (None, 4, 64)), Operand("array", "float32", (64,))],
                       SIGMOID_OF_SUM, [(1, "map")], ["float32"])
    assert extents(plan) == [(0, 1), (2,)]


def test_per_channel_bias_and_its_gradient_match_the_reference():
    rng = np.random.default_rng(0)
    x = sn.input("x", (None, 4, 5, 3))
    b = sn.input("b", (3,))
    kept = sn.input("k", (1, 1, 3))
    out = sn.sigmoid(x + b) * kept
    grads = sn.grad(sn.sum(out * out), [x, b, kept])
    arrays = [rng.normal(size=(6, 4, 5, 3)).astype("float32"), rng.normal(size=3).astype("float32"),
              rng.normal(size=(1, 1, 3)).astype("float32")]
    compiled = run_both([x, b, kept], [out] + grads, arrays)
    assert any("as one run" in k.doc for k in compiled.driver.kernels.values())


def test_arrays_without_the_batch_axis_and_transposed_arrays_match_the_reference():
    rng = np.random.default_rng(1)
    x, y = sn.input("x", (None, 4, 3)), sn.input("y", (None, 3, 4))
    c = sn.constant(rng.normal(size=(4, 3)).astype("float32"))
    outputs = [sn.tanh(x * c + 1.0), sn.exp(sn.transpose(x, (0, 2, 1)) + y)]
    run_both([x, y], outputs, [rng.normal(size=(5, 4, 3)).astype("float32"), rng.normal(size=(5, 3, 4)).astype("float32")])


@st.composite
def broadcast_case(draw):
    """An output shape (batch first, sizes with 1s among them) and operand shapes that broadcast to it."""
    ndim = draw(st.integers(1, 4))
    sizes = [draw(st.sampled_from([1, 2, 3, 5, 70])) for _ in range(ndim - 1)]
    shapes = []
    for _ in range(3):
        kept = draw(st.integers(0, ndim))  # trailing axes the operand has
        shape = [None] + sizes if kept == ndim else sizes[len(sizes) - kept:]
        shape = [d if d is None or draw(st.booleans()) else 1 for d in shape]
        shapes.append(tuple(shape))
    shapes[0] = (None, *sizes)  # one operand spans the whole output
    return shapes


@settings(max_examples=25)
@given(shapes=broadcast_case(), seed=st.integers(0, 100))
def test_loops_over_any_broadcast_match_the_reference(shapes, seed):
    """Sums over broadcast axes in the gradient (bias-like column sums, size-1 axes, scalars) included."""
    rng = np.random.default_rng(seed)
    inputs = [sn.input(f"a{i}", shape, dtype="float64") for i, shape in enumerate(shapes)]
    out = sn.sigmoid(inputs[0] + inputs[1]) * inputs[2] - sn.tanh(inputs[1] * inputs[2])
    outputs = [out] + sn.grad(sn.sum(out * out), inputs)
    arrays = [rng.normal(size=tuple(4 if d is None else d for d in shape)) for shape in shapes]
    reference = sn.function(inputs, outputs, backend="numpy")(*arrays)
    for r, c in zip(reference, sn.function(inputs, outputs)(*arrays)):
        np.testing.assert_allclose(c, r, rtol=1e-10, atol=1e-12)
