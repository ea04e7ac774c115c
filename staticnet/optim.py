"""Optimizers as update rules on the graph.

Each optimizer turns (parameters, gradients) into (leaf, new value) updates built
from ordinary ops, with its state (velocities, moment estimates, step count) as
explicit leaves.  The backend fuses each parameter's updates into one in-place
pass.  The learning rate is a leaf too, set by the runtime every epoch from the
schedule, so changing it never recompiles.  A per-step schedule multiplies it by a
factor the step computes from the step count (a leaf, saved with the optimizer state),
its numbers leaves too.

Every optimizer clips gradients on request, before its rule reads them (`clipped`): clipvalue= each
element into [-v, v], clipnorm= each parameter's gradient to norm at most c (Keras's clipnorm), or
global_clipnorm= all of them together (PyTorch's clip_grad_norm_).  The clipped gradients are ordinary graph
values, so the fusion passes put the scaling into each parameter's update loop.
"""
from __future__ import annotations

import math

import numpy as np

from . import checks
from .errors import ArgumentError
from .checks import FACTOR, FRACTION, NON_NEGATIVE, OPEN_FRACTION, POSITIVE, UNIT
from .graph import Tensor, derived_from, param
from .ops.elementwise import cos, exp, less_equal, maximum, minimum, sqrt, square, where
from .ops.reduce import sum_of_squares


def _state(p: Tensor, role: str, value=0.0) -> Tensor:
    return param(f"{p.name}/{role}", value=np.full(p.shape, value, p.dtype), regularize=False)


class Optimizer:
    """Base: keeps the hyperparameters, the learning-rate schedule and the gradient clipping.

    Every optimizer takes one of clipvalue=, clipnorm= or global_clipnorm= (positive finite numbers; see
    `clipped`).  With clipping on, fit's history records grad_norm per epoch: the mean, over the epoch's steps,
    of the global norm of all gradients before clipping (the value clip_grad_norm_ returns)."""

    name = "optimizer"
    counts_steps = False  # whether the rule itself needs the step count (Adam's bias corrections)

    CLIPPING = ("clipvalue", "clipnorm", "global_clipnorm")
    CLIP_EPSILON = 1e-6  # global_clipnorm divides by the norm plus this, as torch.nn.utils.clip_grad_norm_

    def __init__(self, lr: float, schedule=None, **clipping):
        self.lr = self.checked("lr", lr, POSITIVE)
        for key in clipping:
            if key not in self.CLIPPING:
                known = ("lr",) + self.hyper + ("schedule",) + self.CLIPPING
                checks.refuse(type(self).__name__, f"unexpected argument {key}; {checks.did_you_mean(key, known)}"
                                                   f"it takes {', '.join(known)}", ArgumentError)
        given = {k: clipping[k] for k in self.CLIPPING if clipping.get(k) is not None}
        if len(given) > 1:
            checks.refuse(type(self).__name__, f"give one of clipvalue, clipnorm and global_clipnorm, not "
                                               f"{' and '.join(given)} (as Keras)", ArgumentError)
        self.clipping = {k: self.checked(k, v, POSITIVE) for k, v in given.items()}
        if schedule is not None and not isinstance(schedule, Schedule):
            checks.refuse(type(self).__name__, "schedule must be sn.step_decay(...), sn.exponential_decay(...), "
                                               "sn.warmup(...), sn.cosine_decay(...), sn.one_cycle(...) or "
                                               f"sn.constant_lr(), got {checks.shown(schedule)}", ArgumentError)
        self.schedule = schedule or constant()
        self.lr_leaf = None
        self.step_leaf = None  # the number of steps done, where the rule or the schedule needs it
        self.next_step = None  # step_leaf + 1: the count after this step (Adam's t)
        self.rate_leaf = None  # with a per-step schedule: the rate of the last step
        self.norm_leaves = None  # with clipping: (the sum of the epoch's global gradient norms, its step count)
        self.state: list[Tensor] = []

    def checked(self, name, value, allowed):
        """A real hyperparameter inside `allowed`; an error naming this optimizer and the user's line otherwise
        (a NaN or infinite rate would turn every weight into NaN while the loss still looked finite)."""
        return checks.real(type(self).__name__, name, value, allowed, error=ArgumentError)

    def lr_at(self, epoch: int) -> float:
        """The rate of the epoch (from 0) before any per-step factor: lr times the schedule's epoch factor."""
        return self.lr * self.schedule(epoch)

    def last_rate(self) -> float:
        """The rate the last step trained with, as the compiled step computed it (per-step schedules), or the
        epoch's rate."""
        return float((self.lr_leaf if self.rate_leaf is None else self.rate_leaf).value)

    def formula(self) -> list[str]:
        """The update of one parameter {w} with gradient {g}, as comment lines (eta the learning rate)."""
        return [f"{type(self).__name__}  {{w}} <- its update from {{g}}"]

    def updates(self, params, grads):
        """The (leaf, new value) pairs of one step; creates the state leaves."""
        dtype = params[0].dtype
        self.lr_leaf = param("optimizer/lr", value=np.array(self.lr, dtype), regularize=False)
        rate, shared = self.lr_leaf, []
        if self.counts_steps or self.schedule.per_step:
            self.step_leaf = param("optimizer/step", value=np.array(0.0, dtype), regularize=False)
            self.state.append(self.step_leaf)
            self.next_step = self.step_leaf + 1.0
            shared.append((self.step_leaf, self.next_step))
        if self.schedule.per_step:
            rate = self.lr_leaf * self.schedule.step_factor(self.step_leaf, ScheduleLeaves(dtype, self.lr))
            self.rate_leaf = param("optimizer/last_rate", value=np.array(self.lr, dtype), regularize=False)
            self.state.append(self.rate_leaf)
            shared.append((self.rate_leaf, rate))
        grads = self.clipped(list(grads), dtype, shared)
        self.prepare()
        pairs = []
        for p, g in zip(params, grads):
            with derived_from(p.loc):
                pairs += self.rule(p, g, rate)
        return pairs + shared

    def prepare(self) -> None:
        """What every parameter's rule shares, made once per step (after the step leaf, before the rules)."""

    def clipped(self, grads: list, dtype, shared: list) -> list:
        """The gradients clipped as asked, and into `shared` the updates that add the global gradient norm
        (before clipping: PyTorch's clip_grad_norm_ returns it) and one to the epoch's sum and count.

        clipvalue v: each element into [-v, v] (NaN stays NaN).  clipnorm c: each gradient g times
        c / max(||g||, c), Keras's clip_by_norm.  global_clipnorm c: every gradient times
        min(1, c / (N + 1e-6)), N the norm of all of them together, as torch.nn.utils.clip_grad_norm_."""
        if not self.clipping:
            return grads
        squares = [sum_of_squares(g) for g in grads]
        total = squares[0]
        for s in squares[1:]:
            total = total + s
        global_norm = sqrt(total)
        norm_sum = param("optimizer/grad_norm_sum", value=np.array(0.0, dtype), regularize=False)
        steps = param("optimizer/grad_norm_steps", value=np.array(0.0, dtype), regularize=False)
        self.norm_leaves = (norm_sum, steps)
        self.state += [norm_sum, steps]
        shared += [(norm_sum, norm_sum + global_norm), (steps, steps + 1.0)]
        (kind, c), = self.clipping.items()
        if kind == "clipvalue":
            return [minimum(maximum(g, -c), c) for g in grads]
        if kind == "clipnorm":
            return [g * c / maximum(sqrt(s), c) for g, s in zip(grads, squares)]
        factor = minimum(c / (global_norm + self.CLIP_EPSILON), 1.0)
        return [g * factor for g in grads]

    def start_epoch(self, epoch: int) -> None:
        """Before an epoch's steps: its learning rate, and the gradient norms' sum and count from zero."""
        self.lr_leaf.value[...] = self.lr_at(epoch)
        if self.norm_leaves is not None:
            for leaf in self.norm_leaves:
                leaf.value[...] = 0.0

    def epoch_record(self) -> dict:
        """What the epoch's history record gets from the optimizer: the rate of the last step, and with
        clipping grad_norm, the mean over the epoch's steps of the global gradient norm before clipping."""
        record = {"lr": self.last_rate()}
        if self.norm_leaves is not None:
            norm_sum, steps = (float(leaf.value) for leaf in self.norm_leaves)
            record["grad_norm"] = norm_sum / steps if steps else float("nan")
        return record

    def config(self) -> dict:
        return {"name": type(self).__name__, "lr": self.lr, "schedule": self.schedule.config,
                **{k: getattr(self, k) for k in self.hyper}, **self.clipping}

    hyper: tuple = ()

    def __repr__(self):
        """As it would be written: SGD(lr=3, momentum=0.9), with schedule= where there is one."""
        settings = [f"lr={self.lr:g}"] + [f"{k}={getattr(self, k)!r}" for k in self.hyper]
        if self.schedule.kind != "constant":
            settings.append(f"schedule={self.schedule!r}")
        settings += [f"{k}={v:g}" for k, v in self.clipping.items()]
        return f"{type(self).__name__}({', '.join(settings)})"


class SGD(Optimizer):
    """Stochastic gradient descent.

    plain:    w <- w - lr g
    momentum: v <- mu v - lr g;  w <- w + v
    Nesterov: v <- mu v - lr g;  w <- w + mu v - lr g   (v the new velocity)
    """

    hyper = ("momentum", "nesterov")

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False, schedule=None, **clipping):
        super().__init__(lr, schedule, **clipping)
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

    def __init__(self, lr: float = 0.01, eps: float = 1e-8, schedule=None, **clipping):
        super().__init__(lr, schedule, **clipping)
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

    def __init__(self, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-8, schedule=None, **clipping):
        super().__init__(lr, schedule, **clipping)
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
    counts_steps = True

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, schedule=None,
                 **clipping):
        super().__init__(lr, schedule, **clipping)
        self.beta1, self.beta2 = self.checked("beta1", beta1, FRACTION), self.checked("beta2", beta2, FRACTION)
        self.eps = self.checked("eps", eps, POSITIVE)

    def prepare(self):
        t = self.next_step
        self.corrections = (_bias_correction(t, self.beta1), _bias_correction(t, self.beta2))

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
                 weight_decay: float = 0.01, schedule=None, **clipping):
        super().__init__(lr, beta1, beta2, eps, schedule, **clipping)
        self.weight_decay = self.checked("weight_decay", weight_decay, NON_NEGATIVE)

    def formula(self):
        first, _ = super().formula()
        return [first.replace("Adam (", "AdamW (weight decay lambda = {:g}, ".format(self.weight_decay)),
                "  {w} <- {w} - eta (m_hat / (sqrt(v_hat) + eps) + lambda {w}),  m_hat = m / (1 - b1^t), "
                "v_hat = v / (1 - b2^t)"]

    def rule(self, p, g, lr):
        state_updates, step = self.direction(p, g)
        return state_updates + [(p, p - lr * (step + self.weight_decay * p))]


# ---------------------------------------------------------------- learning-rate schedules

class Schedule:
    """A learning-rate schedule: a factor of the optimizer's lr per epoch, which fit sets before each epoch
    (`schedule(epoch)`), and for the per-step schedules a factor per step, which the compiled training step
    computes from the step count (`step_factor`).  A per-step schedule's numbers are leaves of the graph, as
    the lr is, so two schedules of one kind with different numbers run the same compiled code."""

    kind = "constant"
    per_step = False

    def __call__(self, epoch: int) -> float:
        """The factor of the epoch (from 0)."""
        return 1.0

    def step_factor(self, step: Tensor, leaves: "ScheduleLeaves") -> Tensor:
        """The factor of the step numbered `step` (from 0, a scalar of the graph), built from graph ops."""
        raise TypeError(f"{self.kind} is a schedule per epoch: it has no factor per step")

    def settings(self) -> dict:
        """The numbers that make this schedule, as its builder takes them."""
        return {}

    @property
    def config(self) -> dict:
        settings = {k: v.config if isinstance(v, Schedule) else v for k, v in self.settings().items()}
        return {"kind": self.kind, **settings}

    def __repr__(self):
        return f"sn.{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"


class ScheduleLeaves:
    """Makes the leaves holding a per-step schedule's numbers, named after where they sit in the schedule
    (optimizer/schedule/then/total_steps), in the graph's dtype; `lr` is the optimizer's rate, which one_cycle
    divides its own rates by."""

    def __init__(self, dtype, lr: float, prefix: str = "optimizer/schedule/"):
        self.dtype, self.lr, self.prefix = dtype, lr, prefix

    def __call__(self, name: str, value: float) -> Tensor:
        return param(self.prefix + name, value=np.array(value, self.dtype), regularize=False)

    def within(self, name: str) -> "ScheduleLeaves":
        return ScheduleLeaves(self.dtype, self.lr, f"{self.prefix}{name}/")


class ConstantLR(Schedule):
    """The learning rate as given, every epoch and step."""


class StepDecay(Schedule):
    """lr * drop ** (epoch // every)."""

    kind = "step_decay"

    def __init__(self, drop: float, every: int):
        self.drop, self.every = drop, every

    def __call__(self, epoch):
        return self.drop ** (epoch // self.every)

    def settings(self):
        return {"drop": self.drop, "every": self.every}


class ExponentialDecay(Schedule):
    """lr * rate ** epoch."""

    kind = "exponential_decay"

    def __init__(self, rate: float):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate ** epoch

    def settings(self):
        return {"rate": self.rate}


class Warmup(Schedule):
    """Step s (from 0) trains at min(1, (s + 1) / steps) times `then`'s rate at step max(0, s - steps): the
    rate rises linearly to then's first rate over `steps` steps, and `then` starts counting its steps after
    the warm-up; then's factor per epoch, if it has one, applies throughout."""

    kind = "warmup"
    per_step = True

    def __init__(self, steps: int, then: Schedule):
        self.steps, self.then = steps, then

    def __call__(self, epoch):
        return self.then(epoch)

    def step_factor(self, step, leaves):
        steps = leaves("steps", self.steps)
        ramp = minimum((step + 1.0) / steps, 1.0)
        if not self.then.per_step:
            return ramp
        return ramp * self.then.step_factor(maximum(step - steps, 0.0), leaves.within("then"))

    def settings(self):
        return {"steps": self.steps, "then": self.then}


class CosineDecay(Schedule):
    """Step s trains at final + (1 - final) (1 + cos(pi min(s, total_steps) / total_steps)) / 2 times the rate:
    from the rate down to `final` times it at step total_steps, and there after (Keras's CosineDecay, its alpha
    named final)."""

    kind = "cosine_decay"
    per_step = True

    def __init__(self, total_steps: int, final: float):
        self.total_steps, self.final = total_steps, final

    def step_factor(self, step, leaves):
        total, final = leaves("total_steps", self.total_steps), leaves("final", self.final)
        return final + (1.0 - final) * (0.5 * (1.0 + cos(math.pi * minimum(step, total) / total)))

    def settings(self):
        return {"total_steps": self.total_steps, "final": self.final}


class OneCycle(Schedule):
    """PyTorch's OneCycleLR (cosine annealing, two phases), without its momentum cycle: the rate rises from
    max_lr / div_factor to max_lr over the first pct_start of total_steps, then falls to
    max_lr / div_factor / final_div_factor at step total_steps - 1, and stays there.  Its rates are its own:
    the factor is its rate divided by the optimizer's lr, so that alone it gives PyTorch's rates whatever the
    lr; a per-epoch schedule or ReduceLROnPlateau scales them."""

    kind = "one_cycle"
    per_step = True

    def __init__(self, max_lr: float, total_steps: int, pct_start: float, div_factor: float,
                 final_div_factor: float):
        self.max_lr, self.total_steps, self.pct_start = max_lr, total_steps, pct_start
        self.div_factor, self.final_div_factor = div_factor, final_div_factor

    def step_factor(self, step, leaves):
        peak = leaves("peak", self.max_lr / leaves.lr)
        start = leaves("start", self.max_lr / self.div_factor / leaves.lr)
        end = leaves("end", self.max_lr / self.div_factor / self.final_div_factor / leaves.lr)
        rise_end = leaves("rise_end", self.pct_start * self.total_steps - 1.0)  # the step at the peak
        last = leaves("last", self.total_steps - 1.0)
        s = minimum(step, last)
        rising = _annealed(start, peak, s / rise_end)
        falling = _annealed(peak, end, (s - rise_end) / (last - rise_end))
        return where(less_equal(s, rise_end), rising, falling)

    def settings(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}


def _annealed(start, end, fraction):
    """From start (fraction 0) to end (fraction 1) along half a cosine, as PyTorch's _annealing_cos."""
    return end + (start - end) * (0.5 * (1.0 + cos(math.pi * fraction)))


def constant():
    """The learning rate as given, every epoch."""
    return ConstantLR()


def step_decay(drop: float = 0.5, every: int = 10):
    """lr * drop ** (epoch // every)."""
    drop = checks.real("step_decay", "drop", drop, FACTOR, error=ArgumentError)
    every = checks.count("step_decay", "every", every, error=ArgumentError)
    return StepDecay(drop, every)


def exponential_decay(rate: float = 0.95):
    """lr * rate ** epoch."""
    rate = checks.real("exponential_decay", "rate", rate, FACTOR, error=ArgumentError)
    return ExponentialDecay(rate)


def warmup(steps: int, then: Schedule | None = None):
    """A linear warm-up over `steps` steps (the first at lr / steps), then the schedule `then` (by default
    the rate as given), which counts its steps from the warm-up's end; see Warmup."""
    steps = checks.count("warmup", "steps", steps, error=ArgumentError)
    if then is not None and not isinstance(then, Schedule):
        checks.refuse("warmup", f"then must be a schedule such as sn.cosine_decay(...) or sn.step_decay(...), got "
                                f"{checks.shown(then)}", ArgumentError)
    return Warmup(steps, then or ConstantLR())


def cosine_decay(total_steps: int, final: float = 0.0):
    """The rate falls along half a cosine to `final` times itself at step total_steps; see CosineDecay."""
    total_steps = checks.count("cosine_decay", "total_steps", total_steps, error=ArgumentError)
    final = checks.real("cosine_decay", "final", final, UNIT, error=ArgumentError)
    return CosineDecay(total_steps, final)


def one_cycle(max_lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4):
    """PyTorch's one-cycle policy over total_steps steps, peaking at max_lr; see OneCycle."""
    max_lr = checks.real("one_cycle", "max_lr", max_lr, POSITIVE, error=ArgumentError)
    total_steps = checks.count("one_cycle", "total_steps", total_steps, error=ArgumentError)
    pct_start = checks.real("one_cycle", "pct_start", pct_start, OPEN_FRACTION, error=ArgumentError)
    div_factor = checks.real("one_cycle", "div_factor", div_factor, POSITIVE, error=ArgumentError)
    final_div_factor = checks.real("one_cycle", "final_div_factor", final_div_factor, POSITIVE, error=ArgumentError)
    if pct_start * total_steps <= 1:
        checks.refuse("one_cycle", f"the rise lasts pct_start * total_steps = {pct_start * total_steps:g} steps; it "
                                   "must last more than 1 (as PyTorch's OneCycleLR requires)", ArgumentError)
    return OneCycle(max_lr, total_steps, pct_start, div_factor, final_div_factor)


SCHEDULES = {"constant": constant, "step_decay": step_decay, "exponential_decay": exponential_decay,
             "warmup": warmup, "cosine_decay": cosine_decay, "one_cycle": one_cycle}


def schedule_from_config(config: dict) -> Schedule:
    """The schedule a config describes (Schedule.config), a warm-up's `then` included."""
    config = dict(config)
    kind = config.pop("kind")
    if isinstance(config.get("then"), dict):
        config["then"] = schedule_from_config(config["then"])
    return SCHEDULES[kind](**config)


OPTIMIZERS = {"sgd": SGD, "adagrad": AdaGrad, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}


def from_config(config: dict) -> Optimizer:
    config = dict(config)
    cls = OPTIMIZERS[config.pop("name").lower()]
    schedule = schedule_from_config(config.pop("schedule", {"kind": "constant"}))
    return cls(schedule=schedule, **config)
