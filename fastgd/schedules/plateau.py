r"""Reduce the learning rate when a monitored metric stops improving (torch semantics).

Not a closed form: the rate depends on the metric history, so there is no ``lr_at``.
"""

import math
import numbers

from fastgd import _checks
from ._base import (LRScheduler, _check_optimizer, _per_group)

__all__ = ["ReduceLROnPlateau"]


def _metric_value(metrics):
    """``metrics`` as a float, checked before any counter moves."""
    size = getattr(metrics, "size", None)
    if size == 1 and getattr(metrics, "dtype", None) is not None and metrics.dtype.kind in "iuf":
        metrics = metrics.reshape(()).item()
    if isinstance(metrics, bool) or not isinstance(metrics, numbers.Real):
        raise TypeError(f"metrics: expected a real number, got {type(metrics).__name__}"
                        + (f" {metrics!r}" if isinstance(metrics, str) else ""))
    return float(metrics)


class ReduceLROnPlateau(LRScheduler):
    r"""torch's ``ReduceLROnPlateau``; ``step(metric)`` takes the monitored value.

    A metric :math:`m` improves on the best :math:`b` so far when (threshold :math:`\theta`)

    ====================  ================================  ===========================
    mode / threshold_mode ``rel``                           ``abs``
    ====================  ================================  ===========================
    ``min``               :math:`m < b\,(1 - \theta)`       :math:`m < b - \theta`
    ``max``               :math:`m > b\,(1 + \theta)`       :math:`m > b + \theta`
    ====================  ================================  ===========================

    Each ``step`` either records an improvement (``best = m``, bad count reset) or counts a
    bad epoch; bad epochs during cooldown are ignored (the cooldown counter drops by one).
    When the bad count exceeds ``patience``, every group is reduced,

    .. math::
        \eta \leftarrow \max(\eta \cdot f,\ \eta_{\min}) \quad\text{if the drop exceeds } \epsilon,

    then the cooldown restarts at ``cooldown`` and the bad count at 0. ``factor`` in
    [0, 1), ``patience``/``cooldown`` ints >= 0, ``threshold``/``eps`` >= 0, ``min_lr``
    >= 0, a scalar or one value per group.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8, *, interval=None):
        groups = _check_optimizer(optimizer)
        self.mode = _checks.choice(mode, "mode", ("min", "max"))
        self.factor = _checks.real(factor, "factor", low=0.0, high=1.0, high_open=True)
        self.patience = _checks.integer(patience, "patience", low=0)
        self.threshold = _checks.real(threshold, "threshold", low=0.0)
        self.threshold_mode = _checks.choice(threshold_mode, "threshold_mode", ("rel", "abs"))
        self.cooldown = _checks.integer(cooldown, "cooldown", low=0)
        self.min_lrs = _per_group(min_lr, "min_lr", len(groups), low=0.0)
        # A scalar min_lr follows groups added later, as in torch; a list cannot.
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else self.min_lrs[0]
        self.eps = _checks.real(eps, "eps", low=0.0)
        super().__init__(optimizer, interval=interval)
        self.last_epoch = 0
        self.best = self._worse()
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _worse(self):
        return math.inf if self.mode == "min" else -math.inf

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        """Whether metric ``a`` improves on ``best`` (table above)."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics):
        """Record one value of the monitored metric and reduce the rates if it plateaued.

        ``metrics`` is a real number (or a one-element array); NaN never improves on the
        best, so it counts as a bad epoch, as in torch.
        """
        current = _metric_value(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"the optimizer now has {len(groups)} param groups but "
                                   f"min_lr was given for {len(self.min_lrs)}")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
