r"""Linear warm-up, alone or in front of another closed-form schedule."""

from fastgd import _checks
from ._base import (ClosedFormScheduler, _check_interval, _check_optimizer)

__all__ = ["LinearWarmup"]


class LinearWarmup(ClosedFormScheduler):
    r"""Ramp linearly from ``start_factor`` · base rate to the base rate, then hand over.

    With :math:`W` = ``warmup_steps`` (int >= 0) and :math:`c` = ``start_factor`` in [0, 1]:

    .. math::
        \eta_t = \begin{cases}
            \eta_0 \left(c + (1 - c)\,\dfrac{t}{W}\right) & t < W \\
            g(t - W, \eta_0) & t \ge W
        \end{cases}

    where :math:`g` is ``after.lr_at`` (the constant :math:`\eta_0` when ``after`` is None).
    The follower's clock starts when the warm-up ends, so
    ``LinearWarmup(opt, 5, after=CosineAnnealingLR(opt, T_max=95))`` anneals over steps
    5..100. Without ``after`` this is torch's ``LinearLR(start_factor=c, total_iters=W)``
    (whose default ``c = 1/3`` is ours too).

    ``after`` is a :class:`ClosedFormScheduler` already built on the same optimizer, or a
    factory ``optimizer -> ClosedFormScheduler`` called once here (after this schedule's own
    arguments are checked). The warm-up then owns it: do not step it yourself; its state
    travels inside this schedule's ``state_dict()["after"]``. ``interval`` defaults to the
    follower's.
    """

    _not_state = ("optimizer", "after")

    def __init__(self, optimizer, warmup_steps, start_factor=1.0 / 3, after=None,
                 last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        self.warmup_steps = _checks.integer(warmup_steps, "warmup_steps", low=0)
        self.start_factor = _checks.real(start_factor, "start_factor", low=0.0, high=1.0)
        _checks.integer(last_epoch, "last_epoch", low=-1)
        _check_interval(interval)
        if after is not None and not isinstance(after, ClosedFormScheduler):
            if not callable(after):
                raise TypeError("after: expected a ClosedFormScheduler, a factory "
                                f"optimizer -> ClosedFormScheduler, or None; got "
                                f"{type(after).__name__}")
            after = after(optimizer)
            if not isinstance(after, ClosedFormScheduler):
                raise TypeError("after: expected the factory to return a ClosedFormScheduler, got "
                                f"{type(after).__name__}")
        if after is not None:
            if after.optimizer is not optimizer:
                raise ValueError("after: expected a schedule built on the warm-up's optimizer, got one on another")
            if interval is not None and interval != after.interval:
                raise ValueError(f"interval={interval!r} differs from after.interval="
                                 f"{after.interval!r}")
            interval = after.interval
        self.after = after
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        if step < self.warmup_steps:
            c = self.start_factor
            return float(base_lr) * (c + (1.0 - c) * step / self.warmup_steps)
        if self.after is None:
            return float(base_lr)
        return self.after.lr_at(step - self.warmup_steps, base_lr)

    def state_dict(self):
        state = super().state_dict()
        state["after"] = None if self.after is None else self.after.state_dict()
        return state

    def load_state_dict(self, state_dict):
        if not isinstance(state_dict, dict) or "after" not in state_dict:
            raise ValueError("state_dict does not fit LinearWarmup: missing ['after']")
        after_state = state_dict["after"]
        if (after_state is None) != (self.after is None):
            raise ValueError("state_dict['after'] does not match this warm-up's follower")
        own = {k: v for k, v in state_dict.items() if k != "after"}
        if self.after is None:
            super().load_state_dict(own)
            return
        # Check both before changing either, so a bad dict changes nothing.
        backup = self.after.state_dict()
        rates = [g["lr"] for g in self.optimizer.param_groups]   # loading writes rates
        self.after.load_state_dict(after_state)
        try:
            super().load_state_dict(own)
        except Exception:
            self.after.load_state_dict(backup)
            for group, lr in zip(self.optimizer.param_groups, rates):
                group["lr"] = lr
            raise
