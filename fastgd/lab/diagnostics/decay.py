r"""Learning-rate decay side by side (LESSON.md §6).

The same network, data, batches and initial weights are trained once per schedule; only
:math:`\alpha_t` differs. With :math:`\alpha_0` the base rate and t the epoch:

==============================  =====================================================
constant                        :math:`\alpha_t = \alpha_0`
1/(1 + k t)  (InverseTimeDecay) :math:`\alpha_0 / (1 + k\,t)`, k = 0.5
0.95^t  (ExponentialDecay)      :math:`0.95^t\,\alpha_0`
k/√t  (InverseSqrtDecay)        :math:`k\,\alpha_0/\sqrt{\max(t, 1)}`, k = 1
staircase                       :math:`0.5^{\lfloor t/5\rfloor}\alpha_0` (staircase Exp.Decay)
StepLR                          :math:`0.1^{\lfloor t/(E/2)\rfloor}\alpha_0` (drop x10 halfway)
cosine                          :math:`\tfrac12\alpha_0(1 + \cos(\pi t / E))` over E epochs
==============================  =====================================================

A large constant rate leaves mini-batch noise in the cost (the iterate wanders around
the minimum); the decays shrink the steps so it settles. Every schedule is one of
``fastgd.schedules``, stepped per epoch by ``fastgd.fit``.
"""
from dataclasses import dataclass, field

import numpy as np

from fastgd import optim, schedules

from fastgd._runtime import threads as _threads
from fastgd.lab.diagnostics.batch import _model, _n_classes, full_loss
from fastgd.training.train import fit

__all__ = ["default_schedules", "lr_curves", "DecayRun", "DecayComparison", "decay_comparison"]


def default_schedules(epochs):
    """name -> factory ``f(optimizer) -> schedule`` (None: constant rate)."""
    return {
        "constant": None,
        "1/(1+0.5t)": lambda o: schedules.InverseTimeDecay(o, decay_rate=0.5),
        "0.95^t": lambda o: schedules.ExponentialDecay(o, gamma=0.95),
        "1/sqrt(t)": lambda o: schedules.InverseSqrtDecay(o, k=1.0),
        "staircase 0.5/5": lambda o: schedules.ExponentialDecay(o, gamma=0.5, staircase=True,
                                                                step_size=5),
        "StepLR x0.1": lambda o: schedules.StepLR(o, step_size=max(1, epochs // 2), gamma=0.1),
        "cosine": lambda o: schedules.CosineAnnealingLR(o, T_max=epochs),
    }


def lr_curves(schedule_factories, epochs, base_lr=1.0):
    """The rate each schedule gives epochs 0 .. epochs-1, from its pure ``lr_at`` (no
    training): ``{name: array}``."""
    out = {}
    for name, factory in schedule_factories.items():
        if factory is None:
            out[name] = np.full(epochs, float(base_lr))
            continue
        sched = factory(optim.SGD([np.zeros(1)], lr=base_lr))
        out[name] = np.array([sched.lr_at(t, base_lr) for t in range(epochs)])
    return out


@dataclass
class DecayRun:
    """``loss[e]``: full training cost J after epoch e (index 0 = before training);
    ``lr[e]``: rate used in epoch e; ``val_metric``: held-out accuracy at the end."""

    name: str
    lr: np.ndarray
    loss: np.ndarray
    epoch_loss: np.ndarray
    val_metric: float = None


@dataclass
class DecayComparison:
    base_lr: float
    batch_size: int
    epochs: int
    runs: list = field(default_factory=list)

    def table(self):
        """Rows (schedule, final lr, final J, mean |ΔJ| over the last 5 epochs, val accuracy)."""
        rows = []
        for r in self.runs:
            tail = np.abs(np.diff(r.loss[-6:])) if len(r.loss) > 1 else np.zeros(1)
            rows.append((r.name, float(r.lr[-1]), float(r.loss[-1]), float(np.mean(tail)),
                         r.val_metric))
        return rows


def decay_comparison(X, y, *, validation_data=None, schedule_factories=None, epochs=30,
                     batch_size=64, lr=0.5, hidden=(64,), seed=0, n_threads=1,
                     dtype=np.float32):
    """Train with plain mini-batch SGD at ``lr`` under each schedule (default
    :func:`default_schedules`) and record J after every epoch and the rates used."""
    X = np.ascontiguousarray(X, dtype=dtype)
    factories = default_schedules(epochs) if schedule_factories is None else schedule_factories
    sizes = [X.shape[1], *hidden, _n_classes(y)]
    comp = DecayComparison(base_lr=float(lr), batch_size=batch_size, epochs=epochs)
    with _threads.single_threaded_blas():
        for name, factory in factories.items():
            model = _model(sizes, seed, dtype)
            opt = optim.SGD(model.parameters(), lr=lr)
            sched = None if factory is None else factory(opt)
            losses = [full_loss(model, X, y)]
            h = fit(model, X, y, opt, epochs=epochs, batch_size=batch_size, seed=seed,
                    schedule=sched, n_threads=n_threads,
                    callbacks=[lambda e, logs, m=model, acc=losses: acc.append(full_loss(m, X, y))])
            val = model.score(*validation_data) if validation_data is not None else None
            comp.runs.append(DecayRun(name, np.array(h.lr), np.array(losses),
                                      np.array(h.loss), val))
    return comp
