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

from . import checks
from .errors import ArgumentError
from .checks import FACTOR, FRACTION, NON_NEGATIVE, POSITIVE
from .graph import Tensor, derived_from, param
from .ops.elementwise import exp, sqrt, square


def _state(p: Tensor, role: str, value=0.0) -> Tensor:
    return param(f"{p.name}/{role}", value=np.full(p.shape, value, p.dtype), regularize=False)


class Optimizer:
    """Base: keeps the hyperparameters and the learning-rate schedule."""

    name = "optimizer"

    def __init__(self, lr: float, schedule=None):
        self.lr = self.checked("lr", lr, POSITIVE)
        if schedule is not None and not (callable(schedule) and hasattr(schedule, "config")):
            checks.refuse(type(self).__name__, "schedule must be sn.step_decay(...), sn.exponential_decay(...) or "
                                               f"sn.constant_lr(), got {checks.shown(schedule)}", ArgumentError)
        self.schedule = schedule or constant()
        self.lr_leaf = None
        self.state: list[Tensor] = []

    def checked(self, name, value, allowed):
        """A real hyperparameter inside `allowed`; an error naming this optimizer and the user's line otherwise
        (a NaN or infinite rate would turn every weight into NaN while the loss still looked finite)."""
        return checks.real(type(self).__name__, name, value, allowed, error=ArgumentError)

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.schedule(epoch)

    def formula(self) -> list[str]:
        """The update of one parameter {w} with gradient {g}, as comment lines (eta the learning rate)."""
        return [f"{type(self).__name__}  {{w}} <- its update from {{g}}"]

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

    def __repr__(self):
        """As it would be written: SGD(lr=3, momentum=0.9), with schedule= where there is one."""
        settings = [f"lr={self.lr:g}"] + [f"{k}={getattr(self, k)!r}" for k in self.hyper]
        schedule = dict(self.schedule.config)
        kind = schedule.pop("kind")
        if kind != "constant":
            settings.append(f"schedule=sn.{kind}({', '.join(f'{k}={v!r}' for k, v in schedule.items())})")
        return f"{type(self).__name__}({', '.join(settings)})"


class SGD(Optimizer):
    """Stochastic gradient descent.

    plain:    w <- w - lr g
    momentum: v <- mu v - lr g;  w <- w + v
    Nesterov: v <- mu v - lr g;  w <- w + mu v - lr g   (v the new velocity)
    """

    hyper = ("momentum", "nesterov")

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False, schedule=None):
        super().__init__(lr, schedule)
        self.momentum = self.checked("momentum", momentum, FRACTION)
        if not isinstance(nesterov, (bool, np.bool_)):
            checks.refuse("SGD", f"nesterov must be True or False, got {checks.shown(nesterov)}", ArgumentError)
        self.nesterov = bool(nesterov)

    def formula(self):
        if not self.momentum:
            return ["SGD  {w} <- {w} - eta {g}"]
        step = "{w} + mu v - eta {g}" if self.nesterov else "{w} + v"
        return [f"SGD with {'Nesterov ' if self.nesterov else ''}momentum (mu = {self.momentum:g})  "
                "v <- mu v - eta {g};  {w} <- " + step]

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
        self.eps = self.checked("eps", eps, POSITIVE)

    def formula(self):
        return [f"AdaGrad (eps = {self.eps:g})  G <- G + ({{g}})^2;  {{w}} <- {{w}} - eta {{g}} / (sqrt(G) + eps)"]

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
        self.rho, self.eps = self.checked("rho", rho, FRACTION), self.checked("eps", eps, POSITIVE)

    def formula(self):
        return [f"RMSProp (rho = {self.rho:g}, eps = {self.eps:g})  s <- rho s + (1 - rho) ({{g}})^2;  "
                "{w} <- {w} - eta {g} / (sqrt(s) + eps)"]

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
        self.beta1, self.beta2 = self.checked("beta1", beta1, FRACTION), self.checked("beta2", beta2, FRACTION)
        self.eps = self.checked("eps", eps, POSITIVE)
        self.step_leaf = None

    def updates(self, params, grads):
        dtype = params[0].dtype
        self.step_leaf = param("optimizer/step", value=np.array(0.0, dtype), regularize=False)
        self.state.append(self.step_leaf)
        t = self.step_leaf + 1.0
        self.corrections = (_bias_correction(t, self.beta1), _bias_correction(t, self.beta2))
        return super().updates(params, grads) + [(self.step_leaf, t)]

    def direction(self, p, g):
        m, v = _state(p, "m"), _state(p, "v")
        self.state += [m, v]
        m_new = self.beta1 * m + (1 - self.beta1) * g
        v_new = self.beta2 * v + (1 - self.beta2) * square(g)
        c1, c2 = self.corrections
        return [(m, m_new), (v, v_new)], (m_new / c1) / (sqrt(v_new / c2) + self.eps)

    def formula(self):
        return [f"Adam (b1 = {self.beta1:g}, b2 = {self.beta2:g}, eps = {self.eps:g})  m <- b1 m + (1 - b1) {{g}};  "
                "v <- b2 v + (1 - b2) ({g})^2",
                "  {w} <- {w} - eta m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)"]

    def rule(self, p, g, lr):
        state_updates, step = self.direction(p, g)
        return state_updates + [(p, p - lr * step)]


def _bias_correction(t, beta):
    """1 - beta^t, as exp(t ln beta); beta = 0 (no averaging) has nothing to correct."""
    return 1.0 - exp(t * math.log(beta)) if beta > 0 else 1.0


class AdamW(Adam):
    """Adam with decoupled weight decay: w <- w - lr (m_hat / (sqrt(v_hat) + eps) + weight_decay w)."""

    hyper = ("beta1", "beta2", "eps", "weight_decay")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, schedule=None):
        super().__init__(lr, beta1, beta2, eps, schedule)
        self.weight_decay = self.checked("weight_decay", weight_decay, NON_NEGATIVE)

    def formula(self):
        first, _ = super().formula()
        return [first.replace("Adam (", "AdamW (weight decay lambda = {:g}, ".format(self.weight_decay)),
                "  {w} <- {w} - eta (m_hat / (sqrt(v_hat) + eps) + lambda {w}),  m_hat = m / (1 - b1^t), "
                "v_hat = v / (1 - b2^t)"]

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
    drop = checks.real("step_decay", "drop", drop, FACTOR, error=ArgumentError)
    every = checks.count("step_decay", "every", every, error=ArgumentError)
    f = lambda epoch: drop ** (epoch // every)  # noqa: E731
    f.config = {"kind": "step_decay", "drop": drop, "every": every}
    return f


def exponential_decay(rate: float = 0.95):
    """lr * rate ** epoch."""
    rate = checks.real("exponential_decay", "rate", rate, FACTOR, error=ArgumentError)
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
