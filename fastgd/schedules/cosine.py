r"""Annealing schedules: cosine, cosine with warm restarts, and one-cycle.

All are torch's schedules with torch's arguments, computed in closed form. Where torch
updates recursively (``CosineAnnealingLR``) its values agree with ours to rounding only.
"""

import math

from fastgd import _checks
from ._base import (ClosedFormScheduler, _check_interval, _check_optimizer,
                    _per_group)

__all__ = ["CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR"]


def _cosine(base_lr, eta_min, t, period):
    # Same operation order as torch's closed forms, so the two round alike.
    return eta_min + (float(base_lr) - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


class CosineAnnealingLR(ClosedFormScheduler):
    r"""torch's ``CosineAnnealingLR`` (SGDR without restarts), in closed form.

    .. math::
        \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
                 \left(1 + \cos\frac{\pi t}{T_{\max}}\right)

    ``T_max`` (int >= 1), ``eta_min`` >= 0. Past ``T_max`` the cosine continues: the rate
    climbs back to :math:`\eta_0` at :math:`2T_{\max}`, as torch's does.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        self.T_max = _checks.integer(T_max, "T_max", low=1)
        self.eta_min = _checks.real(eta_min, "eta_min", low=0.0)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return _cosine(base_lr, self.eta_min, step, self.T_max)


class CosineAnnealingWarmRestarts(ClosedFormScheduler):
    r"""torch's ``CosineAnnealingWarmRestarts`` (SGDR).

    .. math::
        \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
                 \left(1 + \cos\frac{\pi T_{cur}}{T_i}\right)

    Cycle :math:`i = 0, 1, \dots` lasts :math:`T_i = T_0\,T_{mult}^{\,i}` steps and starts at
    :math:`T_0 (T_{mult}^{\,i} - 1)/(T_{mult} - 1)` (at :math:`i\,T_0` when
    :math:`T_{mult} = 1`); :math:`T_{cur}` is ``t`` minus that start. Found with integer
    arithmetic, so restarts fall exactly where torch's step-by-step counter puts them.
    ``T_0`` int >= 1, ``T_mult`` int >= 1, ``eta_min`` >= 0.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1, *,
                 interval=None):
        _check_optimizer(optimizer)
        self.T_0 = _checks.integer(T_0, "T_0", low=1)
        self.T_mult = _checks.integer(T_mult, "T_mult", low=1)
        self.eta_min = _checks.real(eta_min, "eta_min", low=0.0)
        super().__init__(optimizer, last_epoch, interval=interval)

    def cycle_at(self, step):
        """``(T_cur, T_i)`` at ``step``: position in the current cycle and its length."""
        if self.T_mult == 1:
            return step % self.T_0, self.T_0
        start, length = 0, self.T_0
        while step >= start + length:
            start += length
            length *= self.T_mult
        return step - start, length

    @property
    def T_cur(self):
        return self.cycle_at(self.last_epoch)[0]

    @property
    def T_i(self):
        return self.cycle_at(self.last_epoch)[1]

    def lr_at(self, step, base_lr):
        t_cur, t_i = self.cycle_at(step)
        return _cosine(base_lr, self.eta_min, t_cur, t_i)


class OneCycleLR(ClosedFormScheduler):
    r"""torch's ``OneCycleLR`` (Smith's 1cycle policy); steps once per mini-batch by default.

    With :math:`\eta_0` = ``max_lr / div_factor`` (written as the group's ``initial_lr``),
    :math:`\eta_{\max}` = ``max_lr`` and :math:`\eta_{\min} = \eta_0` / ``final_div_factor``,
    and :math:`p` = ``pct_start``, :math:`N` = ``total_steps``, the phases end at steps

    * two phases: :math:`e_1 = pN - 1` (:math:`\eta_0 \to \eta_{\max}`),
      :math:`e_2 = N - 1` (:math:`\eta_{\max} \to \eta_{\min}`);
    * ``three_phase``: :math:`e_1 = pN - 1`, :math:`e_2 = 2pN - 2`
      (:math:`\eta_{\max} \to \eta_0`), :math:`e_3 = N - 1` (:math:`\eta_0 \to \eta_{\min}`).

    In the phase :math:`(e_{k-1}, e_k]` (:math:`e_0 = 0`) going from :math:`a` to :math:`b`,
    with :math:`u = (t - e_{k-1}) / (e_k - e_{k-1})`:

    .. math::
        \eta_t = b + \tfrac12 (a - b)(1 + \cos \pi u) \quad\text{(cos)}, \qquad
        \eta_t = a + (b - a)\,u \quad\text{(linear)}.

    The last phase extends to :math:`t = N`; stepping past ``total_steps`` raises
    ``ValueError``. A zero-length phase takes :math:`u = 1`. With ``cycle_momentum`` the
    group's ``momentum`` (or ``betas[0]``) follows the same phases between
    ``max_momentum`` and ``base_momentum``, inversely to the rate (torch's behaviour).
    ``lr_at(t, base_lr)`` takes the group's :math:`\eta_0` as ``base_lr``.
    """

    interval = "batch"

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None,
                 steps_per_epoch=None, pct_start=0.3, anneal_strategy="cos",
                 cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1,
                 *, interval=None):
        groups = _check_optimizer(optimizer)
        if total_steps is not None:
            total_steps = _checks.integer(total_steps, "total_steps", low=1)
        elif epochs is not None and steps_per_epoch is not None:
            total_steps = (_checks.integer(epochs, "epochs", low=1)
                           * _checks.integer(steps_per_epoch, "steps_per_epoch", low=1))
        else:
            raise ValueError("total_steps: expected total_steps, or both epochs and steps_per_epoch, got neither")
        self.total_steps = total_steps
        pct_start = _checks.real(pct_start, "pct_start", low=0.0, high=1.0)
        self.anneal_strategy = _checks.choice(anneal_strategy, "anneal_strategy", ("cos", "linear"))
        self.div_factor = _checks.real(div_factor, "div_factor", low=0.0, low_open=True)
        self.final_div_factor = _checks.real(final_div_factor, "final_div_factor",
                                      low=0.0, low_open=True)
        self.three_phase = _checks.flag(three_phase, "three_phase")
        self.cycle_momentum = _checks.flag(cycle_momentum, "cycle_momentum")
        max_lrs = _per_group(max_lr, "max_lr", len(groups), low=0.0, low_open=True)
        if self.cycle_momentum:
            max_ms = _per_group(max_momentum, "max_momentum", len(groups), low=0.0, high=1.0)
            base_ms = _per_group(base_momentum, "base_momentum", len(groups),
                                 low=0.0, high=1.0)
            if not all("momentum" in g or "betas" in g for g in groups):
                raise ValueError("cycle_momentum=True needs a 'momentum' or 'betas' entry in "
                                 "every param group; pass cycle_momentum=False")
        last_epoch = _checks.integer(last_epoch, "last_epoch", low=-1)
        _check_interval(interval)
        keys = ("initial_lr", "max_lr", "min_lr") + (
            ("max_momentum", "base_momentum") if self.cycle_momentum else ())
        if last_epoch != -1 and not all(k in g for g in groups for k in keys):
            raise ValueError(f"last_epoch={last_epoch} resumes a schedule, but the param "
                             f"groups lack some of {keys}; load the optimizer's state first")

        # Same float expressions as torch, so phase boundaries agree bit for bit.
        if self.three_phase:
            self.phase_ends = [float(pct_start * total_steps) - 1,
                               float(2 * pct_start * total_steps) - 2,
                               float(total_steps - 1)]
        else:
            self.phase_ends = [float(pct_start * total_steps) - 1, float(total_steps - 1)]
        self.pct_start = pct_start

        if last_epoch == -1:  # torch writes these into the groups, not setdefault
            for i, group in enumerate(groups):
                group["initial_lr"] = max_lrs[i] / self.div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / self.final_div_factor
                if self.cycle_momentum:
                    group["max_momentum"] = max_ms[i]
                    group["base_momentum"] = base_ms[i]
        self.momentum_bounds = ([[float(g["max_momentum"]), float(g["base_momentum"])]
                                 for g in groups] if self.cycle_momentum else [])
        super().__init__(optimizer, last_epoch, interval=interval)

    def _phase(self, step):
        if step > self.total_steps:
            raise ValueError(f"step {step} is past total_steps={self.total_steps}")
        start = 0.0
        last = len(self.phase_ends) - 1
        for i, end in enumerate(self.phase_ends):
            if step <= end or i == last:
                return i, ((step - start) / (end - start) if end != start else 1.0)
            start = end
        raise AssertionError("unreachable")

    def _anneal(self, a, b, u):
        if self.anneal_strategy == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * u) + 1)
        return (b - a) * u + a

    def lr_at(self, step, base_lr):
        i, u = self._phase(step)
        low, peak = float(base_lr), float(base_lr) * self.div_factor
        end = low / self.final_div_factor
        if self.three_phase:
            a, b = ((low, peak), (peak, low), (low, end))[i]
        else:
            a, b = ((low, peak), (peak, end))[i]
        return self._anneal(a, b, u)

    def momentum_at(self, step, max_momentum, base_momentum):
        """The cycled momentum at ``step`` (pure); the inverse of the rate's shape."""
        i, u = self._phase(step)
        hi, lo = float(max_momentum), float(base_momentum)
        a, b = ((hi, lo), (lo, hi), (hi, hi))[i]
        return self._anneal(a, b, u)

    def advance(self, n_steps):
        super().advance(n_steps)
        if self.cycle_momentum:
            for group, (hi, lo) in zip(self.optimizer.param_groups, self.momentum_bounds):
                m = self.momentum_at(self.last_epoch, hi, lo)
                if "betas" in group:
                    group["betas"] = (m, *group["betas"][1:])
                else:
                    group["momentum"] = m
