"""Batch-parallel segments: which nodes they take, memory they do not share, and results equal to
the reference executor and to the one-thread path."""
import numba
import numpy as np
import pytest

import staticnet as sn
from staticnet.codegen.driver import code_only, free_names
from staticnet.codegen.kernel_layer import RUN_PARTS
from staticnet.codegen.memory import plan_memory
from staticnet.codegen.parallel import PARALLEL_ROWS, SEGMENT_TILE, SHARED_WEIGHTS, threads_matter
from staticnet.kernels.gemm import SPLIT_WORK
from staticnet.passes import optimize
from staticnet.program import Program


def conv_net():
    sn.seed(0)
    x = sn.input("x", (None, 8, 8, 2), dtype="float64")
    g = sn.input("g", (None, 5), dtype="float64")
    h = sn.max_pool2d(sn.conv2d(x, 3, 3, activation="sigmoid", name="c"), 2)
    out = sn.dense(sn.flatten(sn.avg_pool2d(sn.conv2d(h, 4, 2, padding="same", name="c2"), 1)), 5, name="d")
    loss = sn.sum(out * g)
    params = sn.Graph(loss).params
    return x, g, out, loss, params


def test_segments_take_the_row_wise_convolution_runs_and_stop_at_batch_reductions():
    x, g, out, loss, params = conv_net()
    program = optimize(Program(outputs=(out, loss, *sn.grad(loss, params))))
    plan = plan_memory(program)
    assert plan.segments
    ops = [[n.op for n in segment] for segment in plan.segments]
    assert ops[0][:3] == ["im2col", "gemm", "max_pool2d"]
    in_segments = [n for segment in plan.segments for n in segment]
    assert not any(n.op in ("gemm_update", "sum", "fused_multi", "softmax_xent_multi") for n in in_segments)
    assert not any(n.op == "gemm" and n.attrs["trans_a"] for n in in_segments)
    assert any(n.op == "max_pool2d_grad" for n in in_segments)


def test_buffers_made_in_one_segment_never_share_memory():
    x, g, out, loss, params = conv_net()
    plan = plan_memory(optimize(Program(outputs=(out, loss, *sn.grad(loss, params)))))
    offsets, _ = plan.layout(64)
    for segment in plan.segments:
        slots = {plan.slot_of[n.id] for n in segment if n.id in plan.slot_of}
        spans = sorted((offsets[s], offsets[s] + plan.buffers[s].elements(64)) for s in slots)
        assert all(hi <= lo for (_, hi), (lo, _) in zip(spans, spans[1:]))


@pytest.mark.parametrize("batch", [PARALLEL_ROWS - 1, PARALLEL_ROWS + 5, 4 * SEGMENT_TILE + 3])  # the last: tiles
def test_split_rows_give_the_reference_values_and_the_one_thread_values(batch):
    x, g, out, loss, params = conv_net()
    outputs = [out, loss, *sn.grad(loss, params), *sn.grad(loss, [x])]
    compiled = sn.function([x, g], outputs)
    assert any(k.stem == "segment" for k in compiled.driver.kernels.values())
    rng = np.random.default_rng(batch)
    feed = rng.normal(size=(batch, 8, 8, 2)), rng.normal(size=(batch, 5))
    reference = sn.function([x, g], outputs, backend="numpy")(*feed)
    threads = numba.get_num_threads()
    numba.set_num_threads(2)  # CI and this machine have 2 cores
    try:
        split = compiled(*feed)
        numba.set_num_threads(1)
        alone = compiled(*feed)
    finally:
        numba.set_num_threads(threads)
    for r, s, a in zip(reference, split, alone):
        np.testing.assert_allclose(s, r, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(s, a)  # the same tiles, whichever threads ran them


def test_threads_matter_from_the_split_batch_or_a_large_product():
    x, g, out, loss, params = conv_net()
    conv_plan = plan_memory(optimize(Program(outputs=(out, loss, *sn.grad(loss, params)))))
    assert not threads_matter(conv_plan, PARALLEL_ROWS - 1) and threads_matter(conv_plan, PARALLEL_ROWS)
    sn.seed(0)
    x = sn.input("x", (None, 784))
    loss = sn.sum(sn.dense(x, 100, name="d"))
    mlp_plan = plan_memory(optimize(Program(outputs=(loss, *sn.grad(loss, sn.Graph(loss).params)))))
    assert not mlp_plan.segments
    smallest = -(-SPLIT_WORK // (784 * 100))  # the batch whose products reach the threshold
    assert not threads_matter(mlp_plan, smallest - 1) and threads_matter(mlp_plan, smallest)


def test_products_with_large_weights_stay_out_of_segments():
    sn.seed(0)
    x = sn.input("x", (None, 16, 16, 4))
    features = sn.flatten(sn.max_pool2d(sn.conv2d(x, 8, 3, activation="relu"), 1))  # 14 * 14 * 8 = 1568 values
    wide = -(-SHARED_WEIGHTS // 1568)  # the fewest units whose weights reach the limit
    loss = sn.sum(sn.dense(features, 3, name="small")) + sn.sum(sn.dense(features, wide, name="large"))
    plan = plan_memory(optimize(Program(outputs=(loss,))))
    in_segments = {n.id for segment in plan.segments for n in segment}
    units = {n.inputs[1].shape[1]: n.id in in_segments for n in plan.order if n.op == "gemm" and n.inputs[1].shape[0] == 1568}
    assert units == {3: True, wide: False}


def test_free_names_are_what_a_block_reads_from_outside_in_order_of_use():
    block = ["    for chunk in range(chunks):",
             "        rows = v3 + chunk * s1",
             "        gemm_1a2b3c(rows, p_W, out, 0, 0, 1.0, 0.0)",
             "        total = f32(abi.load_f32(rows)) + scale"]
    assert free_names(block) == ["chunks", "v3", "s1", "gemm_1a2b3c", "p_W", "out", "scale"]


def all_kernels(kernels):
    found = {}
    for kernel in kernels:
        found[kernel.symbol] = kernel
        found.update(all_kernels(kernel.calls))
    return found


def test_segments_are_kernels_and_only_one_kernel_is_parallel(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICNET_CACHE", str(tmp_path))
    x, g, out, loss, params = conv_net()
    net = sn.compile(loss, outputs=out)
    segments = {loop: [k.symbol for k in kernels if k.stem == "segment"]
                for loop, kernels in net.generated.kernels_of.items()}
    assert len(segments["train_epoch"]) == 2  # training: forward and backward
    assert len(segments["eval_epoch"]) == len(segments["predict_all"]) == 1  # the forward alone
    everything = all_kernels(k for kernels in net.generated.kernels_of.values() for k in kernels)
    assert [k.symbol for k in everything.values() if k.parallel] == [RUN_PARTS.symbol]
    assert "parallel=True" not in code_only(net.source)  # the loops are plain serial functions
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(20, 8, 8, 2)), "g": rng.normal(size=(20, 5))}
    net.fit(data, epochs=1, batch_size=10, verbose=False, seed=0)
    reference = sn.function([x, g], out, backend="numpy")(data["x"], data["g"])
    np.testing.assert_allclose(net.predict({"x": data["x"]}), reference, rtol=1e-10)


@pytest.mark.parametrize("m,k,n", [(300, 100, 101), (7, 40_000, 10), (7, 100, 3_000)])  # by rows, by k, by columns
def test_products_cut_among_the_threads_match_the_reference_on_any_thread_count(m, k, n):
    rng = np.random.default_rng(m + k + n)
    x, g = sn.input("x", (None, k), dtype="float64"), sn.input("g", (None, n), dtype="float64")
    W = sn.param("W", value=rng.normal(size=(k, n)))
    out = x @ W
    outputs = [out, *sn.grad(sn.sum(out * g), [W, x])]  # a b, a^T g and g b^T: every layout
    feed = rng.normal(size=(m, k)), rng.normal(size=(m, n))
    assert threads_matter(plan_memory(optimize(Program(outputs=tuple(outputs)))), m)
    compiled = sn.function([x, g], outputs)
    reference = sn.function([x, g], outputs, backend="numpy")(*feed)
    previous = numba.get_num_threads()
    try:
        results = []
        for count in (2, 1):
            numba.set_num_threads(count)
            results.append(compiled(*feed))
    finally:
        numba.set_num_threads(previous)
    for r, two, one in zip(reference, *results):
        np.testing.assert_allclose(two, r, rtol=1e-10, atol=1e-9)
        np.testing.assert_array_equal(two, one)


def test_slices_and_joins_inside_split_rows_give_the_reference_values():
    """Channels sliced, reversed and joined between convolutions, inside the segments split among threads."""
    sn.seed(0)
    x = sn.input("x", (None, 8, 8, 2), dtype="float64")
    g = sn.input("g", (None, 3), dtype="float64")
    h = sn.conv2d(x, 4, 3, activation="tanh", name="c")
    joined = sn.concat([h[..., 1:3], h[:, ::-1, :, ::3], sn.stack([h[..., 0], h[..., 3]], axis=3)])
    pooled = sn.max_pool2d(sn.conv2d(joined, 3, 3, name="c2"), 2)
    out = sn.dense(sn.flatten(pooled), 3, name="d")
    loss = sn.sum(out * g)
    outputs = [out, loss, *sn.grad(loss, sn.Graph(loss).params), *sn.grad(loss, [x])]
    compiled = sn.function([x, g], outputs)
    plan_ops = [n.op for k in compiled.driver.plan.segments for n in k]
    assert "slice" in plan_ops and "concat" in plan_ops  # the copies run inside the split rows
    rng = np.random.default_rng(3)
    feed = rng.normal(size=(PARALLEL_ROWS + 5, 8, 8, 2)), rng.normal(size=(PARALLEL_ROWS + 5, 3))
    reference = sn.function([x, g], outputs, backend="numpy")(*feed)
    threads = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        split = compiled(*feed)
        numba.set_num_threads(1)
        alone = compiled(*feed)
    finally:
        numba.set_num_threads(threads)
    for r, s, a in zip(reference, split, alone):
        np.testing.assert_allclose(s, r, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(s, a)
