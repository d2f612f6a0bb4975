r"""Decays of the form :math:`\eta_t = \eta_0 \cdot f(t)`: the lesson's three and torch's.

Throughout, :math:`\eta_0` is the group's base rate (``initial_lr``) and :math:`t` the
step count ``last_epoch`` (epochs, or mini-batches with ``interval="batch"``).

Staircase convention (``InverseTimeDecay``, ``ExponentialDecay``): the continuous exponent
:math:`t / s` is replaced by the number of *completed* periods
:math:`\lfloor t / s \rfloor`, so the rate is flat for ``step_size`` steps, drops at
:math:`t = s, 2s, \dots`, and equals the continuous curve exactly at those steps.
"""

import math
from bisect import bisect_right

from fastgd import _checks
from ._base import ClosedFormScheduler, _check_optimizer

__all__ = ["InverseTimeDecay", "ExponentialDecay", "InverseSqrtDecay",
           "StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LambdaLR"]


def _periods(step, step_size, staircase):
    # Integer division for the staircase: float t / s can round just below an integer.
    return step // step_size if staircase else step / step_size


# ----------------------------------------------------------------------------- the lesson

class InverseTimeDecay(ClosedFormScheduler):
    r"""Inverse-time decay.

    .. math::
        \eta_t = \frac{\eta_0}{1 + k\,\tau}, \qquad
        \tau = \begin{cases} \lfloor t / s \rfloor & \text{staircase} \\
                             t / s & \text{otherwise} \end{cases}

    with :math:`k` = ``decay_rate`` (>= 0) and :math:`s` = ``step_size`` (int >= 1).
    """

    def __init__(self, optimizer, decay_rate, staircase=False, step_size=1, last_epoch=-1,
                 *, interval=None):
        _check_optimizer(optimizer)
        self.decay_rate = _checks.real(decay_rate, "decay_rate", low=0.0)
        self.staircase = _checks.flag(staircase, "staircase")
        self.step_size = _checks.integer(step_size, "step_size", low=1)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        tau = _periods(step, self.step_size, self.staircase)
        return float(base_lr) / (1.0 + self.decay_rate * tau)


class ExponentialDecay(ClosedFormScheduler):
    r"""Exponential decay (the lesson's :math:`0.95^{t}\,\eta_0`).

    .. math::
        \eta_t = \eta_0\,\gamma^{\tau}, \qquad
        \tau = \begin{cases} \lfloor t / s \rfloor & \text{staircase} \\
                             t / s & \text{otherwise} \end{cases}

    with :math:`\gamma` = ``gamma`` (> 0; < 1 decays) and :math:`s` = ``step_size``.
    ``staircase=True`` is torch's ``StepLR``.
    """

    def __init__(self, optimizer, gamma=0.95, staircase=False, step_size=1, last_epoch=-1,
                 *, interval=None):
        _check_optimizer(optimizer)
        self.gamma = _checks.real(gamma, "gamma", low=0.0, low_open=True)
        self.staircase = _checks.flag(staircase, "staircase")
        self.step_size = _checks.integer(step_size, "step_size", low=1)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * self.gamma ** _periods(step, self.step_size, self.staircase)


class InverseSqrtDecay(ClosedFormScheduler):
    r"""Inverse square-root decay.

    .. math::
        \eta_t = \frac{\eta_0\,k}{\sqrt{\max(t, 1)}}

    with :math:`k` = ``k`` (> 0). Step 0 uses :math:`\sqrt{1}` (the formula is undefined
    there), so steps 0 and 1 share the rate :math:`k\,\eta_0`.
    """

    def __init__(self, optimizer, k=1.0, last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        self.k = _checks.real(k, "k", low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * self.k / math.sqrt(max(step, 1))


# ----------------------------------------------------------------------------- torch's

class StepLR(ClosedFormScheduler):
    r"""torch's ``StepLR``: multiply by ``gamma`` every ``step_size`` steps.

    .. math::
        \eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        self.step_size = _checks.integer(step_size, "step_size", low=1)
        self.gamma = _checks.real(gamma, "gamma", low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * self.gamma ** (step // self.step_size)


class MultiStepLR(ClosedFormScheduler):
    r"""torch's ``MultiStepLR``: multiply by ``gamma`` at each milestone.

    .. math::
        \eta_t = \eta_0\,\gamma^{\#\{m \in M : m \le t\}}

    ``milestones`` (ints >= 0) are sorted; a milestone listed twice counts twice, as in
    torch.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        try:
            items = list(milestones)
        except TypeError:
            raise TypeError("milestones: expected an iterable of ints, got "
                            f"{type(milestones).__name__}") from None
        self.milestones = sorted(_checks.integer(m, f"milestones[{i}]", low=0)
                                 for i, m in enumerate(items))
        self.gamma = _checks.real(gamma, "gamma", low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * self.gamma ** bisect_right(self.milestones, step)


class ExponentialLR(ClosedFormScheduler):
    r"""torch's ``ExponentialLR``.

    .. math::
        \eta_t = \eta_0\,\gamma^{t}
    """

    def __init__(self, optimizer, gamma, last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        self.gamma = _checks.real(gamma, "gamma", low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * self.gamma ** step


class ConstantLR(ClosedFormScheduler):
    r"""torch's ``ConstantLR``: a constant factor for the first ``total_iters`` steps.

    .. math::
        \eta_t = \begin{cases} c\,\eta_0 & t < T \\ \eta_0 & t \ge T \end{cases}

    with :math:`c` = ``factor`` in [0, 1] and :math:`T` = ``total_iters`` (int >= 0).
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1,
                 *, interval=None):
        _check_optimizer(optimizer)
        self.factor = _checks.real(factor, "factor", low=0.0, high=1.0)
        self.total_iters = _checks.integer(total_iters, "total_iters", low=0)
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * self.factor if step < self.total_iters else float(base_lr)


class LambdaLR(ClosedFormScheduler):
    r"""torch's ``LambdaLR`` with one function for all groups.

    .. math::
        \eta_t = \eta_0\,\lambda(t)

    ``lr_lambda`` must be a pure function of the step for :meth:`lr_at` to be pure. A list
    of per-group functions (torch's other form) is not supported: ``lr_at`` takes only a
    base rate. The function is not saved in :meth:`state_dict`.
    """

    _not_state = ("optimizer", "lr_lambda")

    def __init__(self, optimizer, lr_lambda, last_epoch=-1, *, interval=None):
        _check_optimizer(optimizer)
        if not callable(lr_lambda):
            raise TypeError("lr_lambda: expected a callable step -> factor (one for all "
                            f"groups), got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch, interval=interval)

    def lr_at(self, step, base_lr):
        return float(base_lr) * float(self.lr_lambda(step))
