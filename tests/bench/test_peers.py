"""PyTorch's and JAX's W5 take the NumPy baseline's step from the same weights, dropout off (each test runs
where its peer is installed: the bench measures a peer only then), and each draws its dropout masks."""
import numpy as np
import pytest

from staticnet.bench import numpy_baseline, peers

from .same_step import assert_same_step


def torch_weights(params):
    """The baseline's NHWC weights in PyTorch's layout: conv kernels (filters, channels, 5, 5), linear weights
    (out, in), the first one's inputs in NCHW flattening order (channel, row, column)."""
    K1, c1, K2, c2, W1, b1, W2, b2, W3, b3 = params
    conv = [K.reshape(5, 5, -1, K.shape[1]).transpose(3, 2, 0, 1) for K in (K1, K2)]
    first = W1.reshape(4, 4, 40, 1000).transpose(2, 0, 1, 3).reshape(640, 1000).T
    return [conv[0], c1, conv[1], c2, first, b1, W2.T, b2, W3.T, b3]


def from_torch_weights(weights):
    k1, c1, k2, c2, w1, b1, w2, b2, w3, b3 = weights
    conv = [k.transpose(2, 3, 1, 0).reshape(-1, k.shape[0]) for k in (k1, k2)]
    first = w1.T.reshape(40, 4, 4, 1000).transpose(1, 2, 0, 3).reshape(640, 1000)
    return [conv[0], c1, conv[1], c2, first, b1, w2.T, b2, w3.T, b3]


def torch_step(x, y, params, dropout):
    torch = pytest.importorskip("torch")
    runner = peers.TorchRunner("W5", len(x), x, y, threads=1, dropout=dropout)
    with torch.no_grad():
        for p, value in zip(runner.model.parameters(), torch_weights(params)):
            p.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    runner.step(np.arange(len(x)))
    return from_torch_weights([p.detach().numpy() for p in runner.model.parameters()])


def jax_step(x, y, params, dropout):
    jnp = pytest.importorskip("jax.numpy")
    runner = peers.JaxRunner("W5", len(x), x, y, dropout=dropout)
    shapes = [p.shape for p in runner.state[0]]
    runner.state = ([jnp.asarray(p.reshape(shape)) for p, shape in zip(params, shapes)], runner.state[1])
    runner.step(np.arange(len(x)))
    return [np.asarray(p).reshape(q.shape) for p, q in zip(runner.state[0], params)]


STEPS = {"pytorch": torch_step, "jax": jax_step}


@pytest.mark.parametrize("peer", peers.PEERS)
def test_w5_peer_takes_the_numpy_step(peer, w5_batch):
    x, y, params, expected = w5_batch
    assert_same_step(params, STEPS[peer](x, y, params, dropout=0.0), expected)


@pytest.mark.parametrize("peer", peers.PEERS)
def test_w5_peer_drops_units(peer, w5_batch):
    """With dropout the last layer takes another step, in which more of its input units (those zero for both
    images: ReLU's zeros, and with dropout the dropped ones too) leave their weights where they were (here 47%
    without dropout, 56-58% with it)."""
    x, y, params, expected = w5_batch
    dropped = STEPS[peer](x, y, params, dropout=0.5)

    def unmoved(after):
        return (np.abs(after[8] - params[8]).max(axis=1) == 0).mean()
    assert unmoved(dropped) > unmoved(expected) + 0.05
    with pytest.raises(AssertionError):
        assert_same_step(params[8:9], dropped[8:9], expected[8:9])


def w3bn_batch():
    """(images, labels, float32 weights, the weights after one NumPy step in float64, the moving statistics after
    it: the batch's mean and unbiased variance of each map, written here from the formula)."""
    rng = np.random.default_rng(4)
    x = rng.random((3, 28, 28, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 3)]
    params = numpy_baseline.initial_params("W3BN", seed=4)
    for p in params[1:4]:  # bias, gamma and beta away from their initial values
        p += rng.normal(0, 0.3, p.shape).astype(np.float32)
    params64 = [p.astype(np.float64) for p in params]
    z = (numpy_baseline.patches(x.astype(np.float64)) @ params64[0] + params64[1]).reshape(-1, 20)
    momentum = numpy_baseline.BN_MOMENTUM
    moving = ((1 - momentum) * z.mean(0), momentum + (1 - momentum) * z.var(0, ddof=1))
    numpy_baseline.epoch_runner("W3BN", len(x), x.astype(np.float64), y.astype(np.float64), params64)()
    return x, y, params, params64, moving


def w3bn_torch_step(x, y, params):
    torch = pytest.importorskip("torch")
    runner = peers.TorchRunner("W3BN", len(x), x, y, threads=1)
    K, bk, gamma, beta, W1, b1, W2, b2 = params
    first = W1.reshape(12, 12, 20, 100).transpose(2, 0, 1, 3).reshape(2880, 100).T  # NCHW flattening
    weights = [K.reshape(5, 5, 1, 20).transpose(3, 2, 0, 1), bk, gamma, beta, first, b1, W2.T, b2]
    with torch.no_grad():
        for p, value in zip(runner.model.parameters(), weights):
            p.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    runner.step(np.arange(len(x)))
    k, c, g, b, w1, c1, w2, c2 = [p.detach().numpy() for p in runner.model.parameters()]
    back = w1.T.reshape(20, 12, 12, 100).transpose(1, 2, 0, 3).reshape(2880, 100)
    norm = runner.model[1]
    return ([k.transpose(2, 3, 1, 0).reshape(25, 20), c, g, b, back, c1, w2.T, c2],
            (norm.running_mean.numpy(), norm.running_var.numpy()))


def w3bn_jax_step(x, y, params):
    jnp = pytest.importorskip("jax.numpy")
    runner = peers.JaxRunner("W3BN", len(x), x, y)
    shapes = [p.shape for p in runner.state[0]]
    runner.state = ([jnp.asarray(p.reshape(shape)) for p, shape in zip(params, shapes)], *runner.state[1:])
    runner.step(np.arange(len(x)))
    after, mean, var = runner.state
    return [np.asarray(p).reshape(q.shape) for p, q in zip(after, params)], (np.asarray(mean), np.asarray(var))


@pytest.mark.parametrize("peer", peers.PEERS)
def test_w3bn_peer_takes_the_numpy_step_and_updates_the_moving_statistics(peer):
    x, y, params, expected, moving = w3bn_batch()
    after, statistics = {"pytorch": w3bn_torch_step, "jax": w3bn_jax_step}[peer](x, y, params)
    others = [i for i in range(len(params)) if i != 1]  # the conv bias before a batch norm has no gradient:
    np.testing.assert_allclose(after[1], params[1], atol=1e-6)  # rounding alone moves it
    assert_same_step([params[i] for i in others], [after[i] for i in others], [expected[i] for i in others])
    for got, want in zip(statistics, moving):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def torch_w4_step(x, y, params):
    torch = pytest.importorskip("torch")
    W, U, b, V, c = params
    runner = peers.TorchRunner("W4", len(x), x, y, threads=1)
    with torch.no_grad():
        lstm, linear = runner.model.lstm, runner.model.linear
        for p, value in ((lstm.weight_ih_l0, W.T), (lstm.weight_hh_l0, U.T), (lstm.bias_ih_l0, b),
                         (lstm.bias_hh_l0, np.zeros_like(b)), (linear.weight, V.T), (linear.bias, c)):
            p.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    runner.step(np.arange(len(x)))
    ih, hh = lstm.bias_ih_l0.detach().numpy(), lstm.bias_hh_l0.detach().numpy()
    return [lstm.weight_ih_l0.detach().numpy().T, lstm.weight_hh_l0.detach().numpy().T, ih + hh,
            linear.weight.detach().numpy().T, linear.bias.detach().numpy()]


def jax_w4_step(x, y, params):
    jnp = pytest.importorskip("jax.numpy")
    runner = peers.JaxRunner("W4", len(x), x, y)
    _, m, v, t = runner.state
    runner.state = ([jnp.asarray(p) for p in params], m, v, t)
    runner.step(np.arange(len(x)))
    return [np.asarray(p) for p in runner.state[0]]


@pytest.mark.parametrize("step", [torch_w4_step, jax_w4_step])
def test_w4_peer_takes_the_numpy_step(step):
    """Adam's first step moves each weight by lr g / (|g| + 1e-8), about lr whatever its gradient, so the step is
    compared as its direction: the same sign of change wherever the baseline moved a weight by more than 0.99 lr
    (|g| above about 1e-6, far above float32's rounding of these gradients)."""
    from staticnet.bench import numpy_baseline
    from .test_numpy_baseline import w4_batch
    x, y, params = w4_batch()
    expected = [p.copy() for p in params]
    numpy_baseline.epoch_runner("W4", len(x), x, y, expected)()
    lr = numpy_baseline.LEARNING_RATES["W4"]
    for before, got, want in zip(params, step(x, y, params), expected):
        moved = np.abs(want - before) > 0.99 * lr
        assert moved.mean() > 0.5
        np.testing.assert_array_equal(np.sign(got - before)[moved], np.sign(want - before)[moved])
