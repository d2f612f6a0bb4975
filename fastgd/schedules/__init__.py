"""Learning-rate schedules: pure closed forms attached to an optimizer, torch style.

Every schedule except :class:`ReduceLROnPlateau` is a :class:`ClosedFormScheduler`: a pure
``lr_at(step, base_lr) -> float`` plus ``step()`` / ``advance(n)`` that write
``lr_at(last_epoch, base_lr)`` into each ``optimizer.param_groups[i]["lr"]``.
``interval`` ("epoch" or "batch") says how often the training loop steps it; with "batch"
the loop precomputes a whole epoch of rates with ``lr_at`` and then calls
``advance(n_batches)``. See :mod:`fastgd.schedules._base` for the conventions.

Schedules are cheap and run once per epoch, so they exist only here, in Python floats, and
both the fast and the reference training paths use them (STYLE.md, "exists once").

==============================  ==================================================
lesson (LESSON.md section 6)    ``InverseTimeDecay``, ``ExponentialDecay``,
                                ``InverseSqrtDecay``
torch's, same arguments         ``StepLR``, ``MultiStepLR``, ``ExponentialLR``,
                                ``ConstantLR``, ``LambdaLR``, ``CosineAnnealingLR``,
                                ``CosineAnnealingWarmRestarts``, ``OneCycleLR``,
                                ``ReduceLROnPlateau``
composition                     ``LinearWarmup(opt, n, after=...)``
==============================  ==================================================
"""

from ._base import ClosedFormScheduler, LRScheduler
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR
from .decay import (ConstantLR, ExponentialDecay, ExponentialLR, InverseSqrtDecay,
                    InverseTimeDecay, LambdaLR, MultiStepLR, StepLR)
from .plateau import ReduceLROnPlateau
from .warmup import LinearWarmup

__all__ = [
    "LRScheduler", "ClosedFormScheduler",
    "InverseTimeDecay", "ExponentialDecay", "InverseSqrtDecay",
    "StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LambdaLR",
    "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
    "ReduceLROnPlateau", "LinearWarmup",
]
