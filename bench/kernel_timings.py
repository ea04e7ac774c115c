"""Single kernels at the workloads' shapes: staticnet's compiled code against the NumPy a user writes.

Each staticnet kernel is a small graph compiled with `sn.function`; the timed call is the
generated step on ready buffers (`CompiledFunction.bind`, its thread count chosen call by call as
sn.function's is), so both columns include one call's dispatch (a few microseconds) and nothing else.
Median over repeats of the mean over a loop.  `time_products` times the dense products alone.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from .numpy_baseline import max_pool, max_pool_gradient, patches, patches_gradient, sigmoid, softmax


def _per_call(run, calls):
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def dense_forward(batch, rng):
    import staticnet as sn
    x = sn.input("x", (None, 784))
    fn = sn.function([x], sn.dense(x, 100, activation="sigmoid"))
    w, b = (p.value for p in sn.Graph(fn.outputs[0]).params)
    xs = rng.random((batch, 784), np.float32)
    return f"dense 784->100 sigmoid, forward, batch {batch}", fn.bind(xs), lambda: sigmoid(xs @ w + b)


def dense_backward(batch, rng):
    import staticnet as sn
    x, a, g = sn.input("x", (None, 784)), sn.input("a", (None, 100)), sn.input("g", (None, 100))
    w = sn.param("w", value=rng.normal(0, 0.03, (784, 100)).astype(np.float32))
    d = g * a * (1.0 - a)
    fn = sn.function([x, a, g], [sn.matmul(sn.transpose(x), d), sn.sum(d, axis=0), sn.matmul(d, sn.transpose(w))])
    xs, acts, gs, wv = rng.random((batch, 784), np.float32), rng.random((batch, 100), np.float32), \
        rng.normal(0, 1, (batch, 100)).astype(np.float32), w.value

    def numpy():
        dv = gs * acts * (1 - acts)
        return xs.T @ dv, dv.sum(0), dv @ wv.T
    return f"dense 784->100 sigmoid, backward (dW, db, dx), batch {batch}", fn.bind(xs, acts, gs), numpy


def softmax_xent(batch, rng):
    import staticnet as sn
    z, y = sn.input("z", (None, 10)), sn.input("y", (None, 10))
    loss = sn.softmax_cross_entropy(z, y)
    fn = sn.function([z, y], [loss, sn.grad(loss, [z])[0]])
    zs = rng.normal(0, 3, (batch, 10)).astype(np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]

    def numpy():
        p = softmax(zs)
        return -np.mean(np.log(p[np.arange(batch), ys.argmax(1)])), (p - ys) / batch
    return f"softmax + cross-entropy, loss and gradient, batch {batch}", fn.bind(zs, ys), numpy


def conv_forward(batch, rng):
    import staticnet as sn
    x = sn.input("x", (None, 28, 28, 1))
    fn = sn.function([x], sn.conv2d(x, 20, 5, activation="sigmoid"))
    k, b = (p.value for p in sn.Graph(fn.outputs[0]).params)
    xs = rng.random((batch, 28, 28, 1), np.float32)
    return f"conv2d 5x5x20 sigmoid on 28x28, forward, batch {batch}", fn.bind(xs), \
        lambda: sigmoid(patches(xs) @ k + b)


def conv_backward(batch, rng):
    import staticnet as sn
    x, g = sn.input("x", (None, 28, 28, 1)), sn.input("g", (None, 24, 24, 20))
    conv = sn.conv2d(x, 20, 5)
    params = sn.Graph(conv).params
    fn = sn.function([x, g], sn.grad(sn.sum(conv * g), params))
    xs, gs = rng.random((batch, 28, 28, 1), np.float32), rng.normal(0, 1, (batch, 24, 24, 20)).astype(np.float32)
    return f"conv2d 5x5x20 on 28x28, backward (dW, db), batch {batch}", fn.bind(xs, gs), \
        lambda: (patches(xs).reshape(-1, 25).T @ gs.reshape(-1, 20), gs.sum((0, 1, 2)))


def second_conv_forward(batch, rng):
    """W5's second convolution: 20 maps of 12x12 to 40 maps of 8x8, ReLU."""
    import staticnet as sn
    x = sn.input("x", (None, 12, 12, 20))
    fn = sn.function([x], sn.conv2d(x, 40, 5, activation="relu"))
    k, b = (p.value for p in sn.Graph(fn.outputs[0]).params)
    xs = rng.random((batch, 12, 12, 20), np.float32)
    return f"conv2d 5x5 20->40 ReLU on 12x12, forward, batch {batch}", fn.bind(xs), \
        lambda: np.maximum(patches(xs) @ k + b, 0)


def second_conv_backward(batch, rng):
    """W5's second convolution's gradients: its weights', its bias' and its input's (the first layer's maps)."""
    import staticnet as sn
    x, g = sn.input("x", (None, 12, 12, 20)), sn.input("g", (None, 8, 8, 40))
    conv = sn.conv2d(x, 40, 5)
    k, b = sn.Graph(conv).params
    fn = sn.function([x, g], sn.grad(sn.sum(conv * g), [k, b, x]))
    xs, gs, kv = rng.random((batch, 12, 12, 20), np.float32), \
        rng.normal(0, 1, (batch, 8, 8, 40)).astype(np.float32), k.value
    return f"conv2d 5x5 20->40 on 12x12, backward (dW, db, dx), batch {batch}", fn.bind(xs, gs), \
        lambda: (patches(xs).reshape(-1, 500).T @ gs.reshape(-1, 40), gs.sum((0, 1, 2)),
                 patches_gradient(gs @ kv.T, 12, 12))


# (height = width, channels) of the maps each network pools: W3's and W5's first layer, W5's second
POOLED_MAPS = ((24, 20), (8, 40))


def pool_forward(batch, rng, size, channels):
    import staticnet as sn
    x = sn.input("x", (None, size, size, channels))
    xs = rng.random((batch, size, size, channels), np.float32)
    return f"max-pool 2x2 on {size}x{size}x{channels}, forward, batch {batch}", \
        sn.function([x], sn.max_pool2d(x, 2)).bind(xs), lambda: max_pool(xs)[0]


def pool_backward(batch, rng, size, channels):
    import staticnet as sn
    half = size // 2
    x, g = sn.input("x", (None, size, size, channels)), sn.input("g", (None, half, half, channels))
    fn = sn.function([x, g], sn.grad(sn.sum(sn.max_pool2d(x, 2) * g), [x])[0])
    xs = rng.random((batch, size, size, channels), np.float32)
    gs = rng.normal(0, 1, (batch, half, half, channels)).astype(np.float32)
    return f"max-pool 2x2 on {size}x{size}x{channels}, backward, batch {batch}", fn.bind(xs, gs), \
        lambda: max_pool_gradient(gs, *max_pool(xs))


def adam_update(rng, size=1_000_000):
    import staticnet as sn
    g = sn.input("g", (size,))
    w = sn.param("w", value=rng.normal(0, 1, size).astype(np.float32))
    fn = sn.function([g], [], updates=sn.Adam(lr=0.001).updates([w], [g]))
    gs = rng.normal(0, 1e-3, size).astype(np.float32)
    wv, m, v, t = w.value.copy(), np.zeros(size, np.float32), np.zeros(size, np.float32), [0]

    def numpy(b1=0.9, b2=0.999, eps=1e-8, lr=0.001):
        t[0] += 1
        m[:] = b1 * m + (1 - b1) * gs
        v[:] = b2 * v + (1 - b2) * gs * gs
        wv[:] -= lr * (m / (1 - b1 ** t[0])) / (np.sqrt(v / (1 - b2 ** t[0])) + eps)
    return "Adam update of 1,000,000 parameters", fn.bind(gs), numpy


def kernel_cases(batches):
    rng = np.random.default_rng(0)
    for batch in batches:
        for make in (dense_forward, dense_backward, softmax_xent, conv_forward, conv_backward, second_conv_forward,
                     second_conv_backward):
            yield make(batch, rng)
        for size, channels in POOLED_MAPS:
            yield pool_forward(batch, rng, size, channels)
            yield pool_backward(batch, rng, size, channels)
    yield adam_update(rng)


WARM_CALLS = 8  # untimed calls first: a user's loop of calls runs on the thread count sn.function has chosen by then


def time_kernels(batches, repeats, budget_s=0.05):
    """One row per kernel: microseconds per call of staticnet and NumPy, and their ratio."""
    from staticnet.denormals import flushed_to_zero
    rows = []
    for label, compiled, numpy in kernel_cases(batches):
        with flushed_to_zero():
            for _ in range(WARM_CALLS):
                compiled()
        numpy()
        once = max(_per_call(compiled, 1), _per_call(numpy, 1), 1e-6)
        calls = max(1, int(budget_s / once))
        times = {"staticnet": [], "numpy": []}
        for _ in range(repeats):
            with flushed_to_zero():
                times["staticnet"].append(_per_call(compiled, calls))
            times["numpy"].append(_per_call(numpy, calls))
        row = {"kernel": label, "staticnet_us": statistics.median(times["staticnet"]) * 1e6,
               "numpy_us": statistics.median(times["numpy"]) * 1e6, "calls": calls}
        row["ratio"] = row["numpy_us"] / row["staticnet_us"]
        rows.append(row)
    return rows


# The dense products of a training step at the workloads' shapes (W1 and W2: 784-100-10; W3: 2880-100-10;
# W5's 1000 x 1000 layer, whose 4 MB of weights no longer fit in L2),
# for a batch of n: (label, op(a) is a.T, op(b) is b.T, m, n, k, beta); beta 1 is the SGD step fused into a
# weight gradient (W += alpha x.T @ delta), beta 0 a weight gradient written out for another optimizer.
def product_shapes(batch):
    return [(f"x @ W, {batch}x784 @ 784x100", False, False, batch, 100, 784, 0.0),
            (f"h @ W, {batch}x100 @ 100x10", False, False, batch, 10, 100, 0.0),
            (f"W += x.T @ d, 784x{batch} @ {batch}x100", True, False, 784, 100, batch, 1.0),
            (f"W += h.T @ d, 100x{batch} @ {batch}x10", True, False, 100, 10, batch, 1.0),
            (f"dW = x.T @ d (Adam), 784x{batch} @ {batch}x100", True, False, 784, 100, batch, 0.0),
            (f"dW = h.T @ d (Adam), 100x{batch} @ {batch}x10", True, False, 100, 10, batch, 0.0),
            (f"d @ W.T, {batch}x10 @ 10x100", False, True, batch, 100, 10, 0.0),
            (f"W3: x @ W, {batch}x2880 @ 2880x100", False, False, batch, 100, 2880, 0.0),
            (f"W3: W += x.T @ d, 2880x{batch} @ {batch}x100", True, False, 2880, 100, batch, 1.0),
            (f"W3: d @ W.T, {batch}x100 @ 100x2880", False, True, batch, 2880, 100, 0.0),
            (f"W5: x @ W, {batch}x1000 @ 1000x1000", False, False, batch, 1000, 1000, 0.0),
            (f"W5: W += x.T @ d, 1000x{batch} @ {batch}x1000", True, False, 1000, 1000, batch, 1.0),
            (f"W5: d @ W.T, {batch}x1000 @ 1000x1000", False, True, batch, 1000, 1000, 0.0)]


def _product_loops():
    """Jitted loops of `calls` products on one thread: staticnet's (kernels/gemm.py as a step calls it:
    its microkernels where they win, else BLAS) and the BLAS call alone, so no dispatch is timed."""
    from numba import njit
    from staticnet.kernels.blas import blas_threads_local, cblas_gemm_at
    from staticnet.kernels.gemm import product_at

    @njit(nogil=True)
    def staticnet_loop(calls, a, b, out, trans_a, trans_b, m, n, k, alpha, beta):
        previous = blas_threads_local(1)
        for _ in range(calls):
            product_at(out, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
                       beta, out.ctypes.data, n)
        blas_threads_local(previous)

    @njit(nogil=True)
    def blas_loop(calls, a, b, out, trans_a, trans_b, m, n, k, alpha, beta):
        previous = blas_threads_local(1)
        for _ in range(calls):
            cblas_gemm_at(out, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, a.shape[1], b.ctypes.data,
                          b.shape[1], beta, out.ctypes.data, n)
        blas_threads_local(previous)
    return staticnet_loop, blas_loop


def time_products(batches, repeats, budget_s=0.02):
    """One row per product: GFLOP/s of staticnet's product (on the routine chosen for its shape on this machine,
    codegen/product_choice.py) and of one BLAS call, both on one thread, and of
    NumPy's `np.matmul(a, b, out=)` (BLAS on all threads, as a user's product runs), each the median over
    repeats of a loop's mean, the three taken in turn."""
    from staticnet.codegen import product_choice
    staticnet_loop, blas_loop = _product_loops()
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        for label, trans_a, trans_b, m, n, k, beta in product_shapes(batch):
            # the routine a step would run it on: this machine's stored choice, or timed now as a step's would be
            chosen = product_choice.chosen_for({(m, n, k, trans_a, trans_b, beta == 0.0)}, {})
            product_choice.install(chosen)
            a = rng.random((k, m) if trans_a else (m, k), np.float32)
            b = rng.random((n, k) if trans_b else (k, n), np.float32)
            out = np.zeros((m, n), np.float32)
            op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
            numpy_out = np.zeros_like(out)
            args = (a, b, out, trans_a, trans_b, m, n, k, 1e-3, beta)
            runs = {"staticnet": lambda c: staticnet_loop(c, *args), "blas": lambda c: blas_loop(c, *args),
                    "numpy": lambda c: [np.matmul(op_a, op_b, out=numpy_out) for _ in range(c)]}
            for run in runs.values():
                run(1)
            calls = max(1, int(budget_s / max(_per_call(lambda: runs["blas"](1), 1), 1e-7)))
            times = {name: [] for name in runs}
            for _ in range(repeats):
                for name, run in runs.items():
                    start = time.perf_counter()
                    run(calls)
                    times[name].append((time.perf_counter() - start) / calls)
            flop = 2 * m * n * k
            rows.append({"product": label, "batch": batch, "calls": calls,
                         "routine": next(iter(chosen.values()), product_choice.policy()),
                         **{f"{name}_gflops": flop / statistics.median(t) / 1e9 for name, t in times.items()}})
    return rows
