"""The same workloads in PyTorch (eager, same thread count) and JAX (the whole train step under
jit), when they are importable; `available()` says which are, and why not.

Each `*_runner` returns an object with `warm_up()` (one full and one last-partial step, so that
lazy initialisation and JAX's tracing of both batch shapes happen before timing) and `epoch()`.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from .numpy_baseline import BN_EPS, BN_MOMENTUM, LEARNING_RATES, W5_DROPOUT

PEERS = ("pytorch", "jax")


def available() -> dict[str, str | None]:
    """peer -> None when importable, else the reason it is not measured."""
    found = {"pytorch": "torch", "jax": "jax"}
    return {peer: None if importlib.util.find_spec(module) else "not installed" for peer, module in found.items()}


def _batches(order, batch):
    return [order[s:s + batch] for s in range(0, len(order), batch)]


class _Runner:
    def __init__(self, n_rows, batch):
        self.n_rows, self.batch = n_rows, batch
        self.rng = np.random.default_rng(0)

    def warm_up(self):
        order = np.arange(self.n_rows)
        steps = _batches(order, self.batch)
        for idx in {len(s): s for s in (steps[0], steps[-1])}.values():
            self.step(idx)

    def epoch(self):
        for idx in _batches(self.rng.permutation(self.n_rows), self.batch):
            self.step(idx)


def _last_state_model(lstm, linear):
    """W4's network in PyTorch: the LSTM's last hidden state into the linear layer."""
    from torch import nn

    class LastState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.linear = lstm, linear

        def forward(self, x):
            states, _ = self.lstm(x)
            return self.linear(states[:, -1])
    return LastState()


class TorchRunner(_Runner):
    def __init__(self, workload, batch, x, y, threads, dropout=W5_DROPOUT):
        import torch
        from torch import nn
        super().__init__(len(x), batch)
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        labels = y.argmax(1)
        if workload in ("W3", "W3BN", "W5"):
            self.x = torch.from_numpy(np.ascontiguousarray(x.reshape(-1, 1, 28, 28)))
        if workload == "W4":
            self.x = torch.from_numpy(np.ascontiguousarray(x.reshape(-1, 28, 28)))
            self.model = _last_state_model(nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10))
        elif workload in ("W3", "W3BN"):  # PyTorch's momentum is 1 - sn.batch_norm's
            normalise = [nn.BatchNorm2d(20, eps=BN_EPS, momentum=1 - BN_MOMENTUM)] if workload == "W3BN" else []
            self.model = nn.Sequential(nn.Conv2d(1, 20, 5), *normalise, nn.Sigmoid(), nn.MaxPool2d(2), nn.Flatten(),
                                       nn.Linear(2880, 100), nn.Sigmoid(), nn.Linear(100, 10))
        elif workload == "W5":
            self.model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
                                       nn.Conv2d(20, 40, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                       nn.Dropout(dropout), nn.Linear(640, 1000), nn.ReLU(),
                                       nn.Dropout(dropout), nn.Linear(1000, 1000), nn.ReLU(),
                                       nn.Dropout(dropout), nn.Linear(1000, 10))
        else:
            self.x = torch.from_numpy(x)
            act = nn.Sigmoid() if workload == "W1" else nn.ReLU()
            self.model = nn.Sequential(nn.Linear(784, 100), act, nn.Linear(100, 10))
        self.y = torch.from_numpy(y)
        self.labels = torch.from_numpy(labels)
        self.mse = workload == "W1"
        lr = LEARNING_RATES[workload]
        params = self.model.parameters()
        adam = workload in ("W2", "W4")
        self.opt = torch.optim.Adam(params, lr=lr) if adam else torch.optim.SGD(params, lr=lr)

    def step(self, idx):
        index = self.torch.from_numpy(idx)
        out = self.model(self.x[index])
        if self.mse:
            loss = 0.5 * ((self.torch.sigmoid(out) - self.y[index]) ** 2).sum(1).mean()
        else:
            loss = self.torch.nn.functional.cross_entropy(out, self.labels[index])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class JaxRunner(_Runner):
    def __init__(self, workload, batch, x, y, dropout=W5_DROPOUT):
        import jax
        import jax.numpy as jnp
        super().__init__(len(x), batch)
        self.jax = jax
        keys = iter(jax.random.split(jax.random.PRNGKey(0), 8))

        def init(*shape):
            return jax.random.normal(next(keys), shape, jnp.float32) / np.sqrt(np.prod(shape[:-1]))

        def dense_net(params, h):
            w1, b1, w2, b2 = params
            act = jax.nn.sigmoid if workload != "W2" else jax.nn.relu
            return act(h @ w1 + b1) @ w2 + b2

        def conv_pool(h, k, bk, act):
            conv = jax.lax.conv_general_dilated(h, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return jax.lax.reduce_window(act(conv + bk), -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

        if workload in ("W3", "W3BN", "W5"):
            self.x = jnp.asarray(x.reshape(-1, 28, 28, 1))
        if workload == "W4":
            self.x = jnp.asarray(x.reshape(-1, 28, 28))
            params = [init(28, 512), init(128, 512), jnp.zeros(512).at[128:256].set(1.0), init(128, 10), jnp.zeros(10)]

            def logits(params, xb, key):
                """The LSTM (gates i, f, g, o) under lax.scan over the steps, its last state into the dense layer."""
                w, u, b, v, c = params
                inputs = jnp.swapaxes(xb, 0, 1) @ w + b  # (steps, n, 4h): the input's share of every step at once

                def cell(carry, z):
                    h, memory = carry
                    i, f, g, o = jnp.split(z + h @ u, 4, axis=1)
                    memory = jax.nn.sigmoid(f) * memory + jax.nn.sigmoid(i) * jnp.tanh(g)
                    return (jax.nn.sigmoid(o) * jnp.tanh(memory), memory), None

                zeros = jnp.zeros((xb.shape[0], 128), jnp.float32)
                (h, _), _ = jax.lax.scan(cell, (zeros, zeros), inputs)
                return h @ v + c
        elif workload == "W3BN":
            params = [init(5, 5, 1, 20), jnp.zeros(20), jnp.ones(20), jnp.zeros(20), init(2880, 100), jnp.zeros(100),
                      init(100, 10), jnp.zeros(10)]

            def logits(params, xb, key):
                """Also returns the batch's mean and biased variance, for the moving statistics."""
                k, bk, gamma, beta = params[:4]
                z = jax.lax.conv_general_dilated(xb, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")) + bk
                mean, var = jnp.mean(z, (0, 1, 2)), jnp.var(z, (0, 1, 2))
                a = jax.nn.sigmoid((z - mean) / jnp.sqrt(var + BN_EPS) * gamma + beta)
                pooled = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
                return dense_net(params[4:], pooled.reshape(xb.shape[0], -1)), (mean, var)
        elif workload == "W3":
            params = [init(5, 5, 1, 20), jnp.zeros(20), init(2880, 100), jnp.zeros(100), init(100, 10), jnp.zeros(10)]

            def logits(params, xb, key):
                pooled = conv_pool(xb, *params[:2], jax.nn.sigmoid)
                return dense_net(params[2:], pooled.reshape(xb.shape[0], -1))
        elif workload == "W5":
            params = [init(5, 5, 1, 20), jnp.zeros(20), init(5, 5, 20, 40), jnp.zeros(40), init(640, 1000),
                      jnp.zeros(1000), init(1000, 1000), jnp.zeros(1000), init(1000, 10), jnp.zeros(10)]

            def logits(params, xb, key):
                """Inverted dropout on the inputs of the three dense layers, masks drawn from `key`."""
                h = conv_pool(conv_pool(xb, *params[:2], jax.nn.relu), *params[2:4], jax.nn.relu)
                h = h.reshape(xb.shape[0], -1)
                for layer, layer_key in enumerate(jax.random.split(key, 3)):
                    if dropout:
                        h = h * jax.random.bernoulli(layer_key, 1 - dropout, h.shape) / (1 - dropout)
                    w, b = params[4 + 2 * layer:6 + 2 * layer]
                    h = h @ w + b
                    if layer < 2:
                        h = jax.nn.relu(h)
                return h
        else:
            self.x = jnp.asarray(x)
            params = [init(784, 100), jnp.zeros(100), init(100, 10), jnp.zeros(10)]

            def logits(params, xb, key):
                return dense_net(params, xb)
        self.y = jnp.asarray(y)

        def loss(params, xb, yb, key):
            z = logits(params, xb, key)
            if workload == "W1":
                return 0.5 * jnp.mean(jnp.sum((jax.nn.sigmoid(z) - yb) ** 2, axis=1))
            return -jnp.mean(jnp.sum(yb * jax.nn.log_softmax(z), axis=1))

        lr = LEARNING_RATES[workload]
        if workload in ("W2", "W4"):
            def step(state, xb, yb, key, b1=0.9, b2=0.999, eps=1e-8):
                params, m, v, t = state
                grads = jax.grad(loss)(params, xb, yb, key)
                t = t + 1
                m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
                v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
                params = [p - lr * (mi / (1 - b1 ** t)) / (jnp.sqrt(vi / (1 - b2 ** t)) + eps)
                          for p, mi, vi in zip(params, m, v)]
                return params, m, v, t
            zeros = [jnp.zeros_like(p) for p in params]
            self.state = (params, zeros, zeros, jnp.float32(0))
        else:
            def step(state, xb, yb, key):
                grads = jax.grad(loss)(state, xb, yb, key)
                return [p - lr * g for p, g in zip(state, grads)]
            self.state = params
        if workload == "W3BN":  # the state carries the moving statistics, updated from each batch's
            def bn_loss(params, xb, yb):
                z, statistics = logits(params, xb, None)
                return -jnp.mean(jnp.sum(yb * jax.nn.log_softmax(z), axis=1)), statistics

            def train_step(state, x, y, idx):
                params, moving_mean, moving_var = state
                grads, (mean, var) = jax.grad(bn_loss, has_aux=True)(params, x[idx], y[idx])
                count = idx.shape[0] * 24 * 24  # values per channel: the batch's 24 x 24 maps
                return ([p - lr * g for p, g in zip(params, grads)],
                        BN_MOMENTUM * moving_mean + (1 - BN_MOMENTUM) * mean,
                        BN_MOMENTUM * moving_var + (1 - BN_MOMENTUM) * var * count / (count - 1))
            self.state = (params, jnp.zeros(20), jnp.ones(20))
        elif workload == "W5":  # the state carries the key that each step splits for its dropout masks
            def train_step(state, x, y, idx):
                key, step_key = jax.random.split(state[1])
                return step(state[0], x[idx], y[idx], step_key), key
            self.state = (self.state, next(keys))
        else:
            def train_step(state, x, y, idx):
                return step(state, x[idx], y[idx], None)
        self.train_step = jax.jit(train_step)  # the gather inside too

    def step(self, idx):
        self.state = self.train_step(self.state, self.x, self.y, idx)

    def epoch(self):
        super().epoch()
        self.jax.block_until_ready(self.state)


def runner(peer, workload, batch, x, y, threads):
    if peer == "pytorch":
        return TorchRunner(workload, batch, x, y, threads)
    return JaxRunner(workload, batch, x, y)
