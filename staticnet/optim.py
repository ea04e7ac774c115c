"""Optimizers as update rules on the graph.

Each optimizer turns (parameters, gradients) into (leaf, new value) updates built
from ordinary ops, with its state (velocities, moment estimates, step count) as
explicit leaves.  The backend fuses each parameter's updates into one in-place
pass.  The learning rate is a leaf too, set by the runtime every epoch from the
schedule, so changing it never recompiles.
"""
from __future__ import annotations

import math

import numpy as np

from .graph import Tensor, derived_from, param
from .ops.elementwise import exp, sqrt, square


def _state(p: Tensor, role: str, value=0.0) -> Tensor:
    return param(f"{p.name}/{role}", value=np.full(p.shape, value, p.dtype), regularize=False)


class Optimizer:
    """Base: keeps the hyperparameters and the learning-rate schedule."""

    name = "optimizer"

    def __init__(self, lr: float, schedule=None):
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: the learning rate must be positive, got {lr}")
        self.lr = float(lr)
        self.schedule = schedule or constant()
        self.lr_leaf = None
        self.state: list[Tensor] = []

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.schedule(epoch)

    def updates(self, params, grads):
        """The (leaf, new value) pairs of one step; creates the state leaves."""
        dtype = params[0].dtype
        self.lr_leaf = param("optimizer/lr", value=np.array(self.lr, dtype), regularize=False)
        pairs = []
        for p, g in zip(params, grads):
            with derived_from(p.loc):
                pairs += self.rule(p, g, self.lr_leaf)
        return pairs + self.shared_updates(dtype)

    def shared_updates(self, dtype):
        return []

    def config(self) -> dict:
        return {"name": type(self).__name__, "lr": self.lr, "schedule": self.schedule.config,
                **{k: getattr(self, k) for k in self.hyper}}

    hyper: tuple = ()


class SGD(Optimizer):
    """Stochastic gradient descent.

    plain:    w <- w - lr g
    momentum: v <- mu v - lr g;  w <- w + v
    Nesterov: v <- mu v - lr g;  w <- w + mu v - lr g   (v the new velocity)
    """

    hyper = ("momentum", "nesterov")

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False, schedule=None):
        super().__init__(lr, schedule)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def rule(self, p, g, lr):
        if not self.momentum:
            return [(p, p - lr * g)]
        v = _state(p, "velocity")
        self.state.append(v)
        v_new = self.momentum * v - lr * g
        w_new = p + (self.momentum * v_new - lr * g if self.nesterov else v_new)
        return [(v, v_new), (p, w_new)]


class AdaGrad(Optimizer):
    """G <- G + g^2;  w <- w - lr g / (sqrt(G) + eps)   (eps outside the square root)."""

    hyper = ("eps",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-8, schedule=None):
        super().__init__(lr, schedule)
        self.eps = float(eps)

    def rule(self, p, g, lr):
        acc = _state(p, "sum_squares")
        self.state.append(acc)
        acc_new = acc + square(g)
        return [(acc, acc_new), (p, p - lr * g / (sqrt(acc_new) + self.eps))]


class RMSProp(Optimizer):
    """s <- rho s + (1 - rho) g^2;  w <- w - lr g / (sqrt(s) + eps)   (eps outside the square root)."""

    hyper = ("rho", "eps")

    def __init__(self, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-8, schedule=None):
        super().__init__(lr, schedule)
        self.rho, self.eps = float(rho), float(eps)

    def rule(self, p, g, lr):
        s = _state(p, "mean_square")
        self.state.append(s)
        s_new = self.rho * s + (1 - self.rho) * square(g)
        return [(s, s_new), (p, p - lr * g / (sqrt(s_new) + self.eps))]


class Adam(Optimizer):
    """Kingma and Ba's Adam, with t counted from 1:

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t)
    w <- w - lr m_hat / (sqrt(v_hat) + eps)   (eps outside the square root)
    """

    hyper = ("beta1", "beta2", "eps")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, schedule=None):
        super().__init__(lr, schedule)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.step_leaf = None

    def updates(self, params, grads):
        dtype = params[0].dtype
        self.step_leaf = param("optimizer/step", value=np.array(0.0, dtype), regularize=False)
        self.state.append(self.step_leaf)
        t = self.step_leaf + 1.0
        self.corrections = (1.0 - exp(t * math.log(self.beta1)), 1.0 - exp(t * math.log(self.beta2)))
        return super().updates(params, grads) + [(self.step_leaf, t)]

    def direction(self, p, g):
        m, v = _state(p, "m"), _state(p, "v")
        self.state += [m, v]
        m_new = self.beta1 * m + (1 - self.beta1) * g
        v_new = self.beta2 * v + (1 - self.beta2) * square(g)
        c1, c2 = self.corrections
        return [(m, m_new), (v, v_new)], (m_new / c1) / (sqrt(v_new / c2) + self.eps)

    def rule(self, p, g, lr):
        state_updates, step = self.direction(p, g)
        return state_updates + [(p, p - lr * step)]


class AdamW(Adam):
    """Adam with decoupled weight decay: w <- w - lr (m_hat / (sqrt(v_hat) + eps) + weight_decay w)."""

    hyper = ("beta1", "beta2", "eps", "weight_decay")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, schedule=None):
        super().__init__(lr, beta1, beta2, eps, schedule)
        self.weight_decay = float(weight_decay)

    def rule(self, p, g, lr):
        state_updates, step = self.direction(p, g)
        return state_updates + [(p, p - lr * (step + self.weight_decay * p))]


# ---------------------------------------------------------------- learning-rate schedules (factor per epoch)

def constant():
    """The learning rate as given, every epoch."""
    f = lambda epoch: 1.0  # noqa: E731
    f.config = {"kind": "constant"}
    return f


def step_decay(drop: float = 0.5, every: int = 10):
    """lr * drop ** (epoch // every)."""
    f = lambda epoch: drop ** (epoch // every)  # noqa: E731
    f.config = {"kind": "step_decay", "drop": drop, "every": every}
    return f


def exponential_decay(rate: float = 0.95):
    """lr * rate ** epoch."""
    f = lambda epoch: rate ** epoch  # noqa: E731
    f.config = {"kind": "exponential_decay", "rate": rate}
    return f


SCHEDULES = {"constant": constant, "step_decay": step_decay, "exponential_decay": exponential_decay}
OPTIMIZERS = {"sgd": SGD, "adagrad": AdaGrad, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}


def from_config(config: dict) -> Optimizer:
    config = dict(config)
    cls = OPTIMIZERS[config.pop("name").lower()]
    schedule_config = dict(config.pop("schedule", {"kind": "constant"}))
    schedule = SCHEDULES[schedule_config.pop("kind")](**schedule_config)
    return cls(schedule=schedule, **config)
