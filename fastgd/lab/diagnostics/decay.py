r"""Learning-rate decay side by side, where it matters (LESSON.md §6).

Decay helps when mini-batch noise is what stops the cost from going lower. That needs a
problem whose minimum does not fit every example: at such a minimum the batch gradients
do not vanish, so SGD with a constant rate never settles -- it wanders in a "noise ball"
whose cost above the minimum grows with α and with 1/B. A network that can fit its
training set exactly (an MLP on the digits) has no such floor, and there a constant rate
simply wins; that is not the lesson's case, so the experiment is least squares with noisy
targets (``datasets.make_regression``, ``fastgd.LinearRegression``): the minimum
:math:`J^\ast = \min_w \tfrac1{2m}\lVert Xw + b - y\rVert^2` (about noise²/2) is solved
exactly (``numpy.linalg.lstsq``), and the figure shows the excess cost :math:`J - J^\ast`.

With :math:`\alpha_0` the base rate and t the epoch, every schedule is one of
``fastgd.schedules``, stepped per epoch by ``fastgd.fit``:

==============================  =====================================================
constant                        :math:`\alpha_t = \alpha_0`
1/(1 + k t)  (InverseTimeDecay) :math:`\alpha_0 / (1 + k\,t)`, k = 0.5
0.95^t  (ExponentialDecay)      :math:`0.95^t\,\alpha_0`
k/√t  (InverseSqrtDecay)        :math:`k\,\alpha_0/\sqrt{\max(t, 1)}`, k = 1
staircase                       :math:`0.5^{\lfloor t/5\rfloor}\alpha_0` (staircase Exp.Decay)
StepLR                          :math:`0.1^{\lfloor t/(E/2)\rfloor}\alpha_0` (drop x10 halfway)
cosine                          :math:`\tfrac12\alpha_0(1 + \cos(\pi t / E))` over E epochs
==============================  =====================================================

Constant-rate SGD on least squares reaches its floor within the first epoch here (the
features are well scaled: each epoch is m/B steps of a contraction ~(1 − α) along every
direction), then its excess cost jitters around roughly
:math:`\alpha\,\sigma^2\,\mathrm{tr}(H)/(4B)` (σ the noise, H = XᵀX/m). A decayed α lowers
that floor in proportion, so every schedule above ends below the constant rate; the
claim is checked over several seeds (each seed draws the data, the noise and the batch
order) in tests/test_diagnostics.py.
"""
from dataclasses import dataclass, field

import numpy as np

import fastgd
from fastgd import datasets, schedules
from fastgd.lab.diagnostics.batch import full_loss, one_blas_thread

__all__ = ["default_schedules", "lr_curves", "DecayRun", "DecayComparison", "decay_comparison",
           "DEFAULT_SEEDS"]

DEFAULT_SEEDS = (0, 1, 2, 3, 4)


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
        sched = factory(fastgd.SGD([np.zeros(1)], lr=base_lr))
        out[name] = np.array([sched.lr_at(t, base_lr) for t in range(epochs)])
    return out


@dataclass
class DecayRun:
    """One schedule on one seed. ``loss[e]``: full training cost J after epoch e (index 0 =
    before training); ``lr[e]``: the rate used in epoch e; ``optimum``: J* of this seed's
    data."""

    name: str
    seed: int
    lr: np.ndarray
    loss: np.ndarray
    optimum: float

    @property
    def excess(self):
        """J − J* after each epoch (index 0 = the start)."""
        return self.loss - self.optimum


@dataclass
class DecayComparison:
    base_lr: float
    batch_size: int
    epochs: int
    n_samples: int
    n_features: int
    noise: float
    seeds: tuple
    runs: dict = field(default_factory=dict)   # schedule name -> [DecayRun per seed]

    def excess(self, name):
        """(seeds, epochs + 1) array of J − J* for one schedule."""
        return np.array([r.excess for r in self.runs[name]])

    def final_excess(self, name):
        """J − J* at the end, one value per seed."""
        return self.excess(name)[:, -1]

    def wins_over_constant(self, name):
        """On how many seeds ``name`` ends with a lower J than the constant rate."""
        return int(np.sum(self.final_excess(name) < self.final_excess("constant")))

    def table(self):
        """Rows (schedule, last lr, median final J − J*, its ratio to constant's, seeds
        where it ends below constant)."""
        const = float(np.median(self.final_excess("constant")))
        rows = []
        for name, runs in self.runs.items():
            med = float(np.median(self.final_excess(name)))
            rows.append((name, float(runs[0].lr[-1]), med, med / const,
                         f"{self.wins_over_constant(name)}/{len(runs)}"
                         if name != "constant" else "-"))
        return rows


def _optimum(model, X, y):
    """Set ``model`` (a LinearRegression) to the least-squares solution; return its J*."""
    W, b = model.parameters()
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    W[:, 0], b[0] = sol[:-1], sol[-1]
    return full_loss(model, X, y)


def decay_comparison(*, schedule_factories=None, epochs=30, batch_size=8, lr=0.05,
                     n_samples=2000, n_features=20, noise=1.0, seeds=DEFAULT_SEEDS,
                     n_threads=1):
    """Mini-batch SGD on noisy least squares under each schedule (default
    :func:`default_schedules`), for every seed in ``seeds``; J after every epoch.

    Each seed draws its own problem (``datasets.make_regression(n_samples, n_features,
    noise=noise, seed=seed)``) and batch order; within a seed every schedule starts from the
    same (zero) weights on the same data and batches: only α_t differs.
    """
    factories = default_schedules(epochs) if schedule_factories is None else schedule_factories
    seeds = tuple(int(s) for s in seeds)
    comp = DecayComparison(base_lr=float(lr), batch_size=int(batch_size), epochs=int(epochs),
                           n_samples=int(n_samples), n_features=int(n_features),
                           noise=float(noise), seeds=seeds)
    for name in factories:
        comp.runs[name] = []
    with one_blas_thread():
        for seed in seeds:
            _one_seed(comp, factories, seed, epochs, batch_size, lr, n_samples, n_features,
                      noise, n_threads)
    return comp


def _one_seed(comp, factories, seed, epochs, batch_size, lr, n_samples, n_features, noise,
              n_threads):
    X, y = datasets.make_regression(n_samples, n_features, noise=noise, seed=seed,
                                    dtype=np.float64)
    optimum = _optimum(fastgd.LinearRegression(n_features, dtype=np.float64), X, y)
    for name, factory in factories.items():
        model = fastgd.LinearRegression(n_features, dtype=np.float64)
        opt = fastgd.SGD(model.parameters(), lr=lr)
        sched = None if factory is None else factory(opt)
        losses = [full_loss(model, X, y)]
        h = fastgd.fit(model, X, y, opt, epochs=epochs, batch_size=batch_size, seed=seed,
                       schedule=sched, n_threads=n_threads,
                       callbacks=[lambda e, logs, m=model: losses.append(full_loss(m, X, y))])
        comp.runs[name].append(DecayRun(name, seed, np.array(h.lr), np.array(losses),
                                        optimum))
