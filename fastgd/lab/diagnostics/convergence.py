r"""Classic test surfaces: steps each update rule needs to reach the minimum (LESSON.md §5).

GD, the lesson's Momentum (:math:`v = \beta v + (1-\beta)\,dW`, :math:`W = W - \alpha v`),
RMSprop and Adam start from each surface's ``default_start`` and run until

    :math:`\lVert x_t - x^\ast \rVert_2 < \mathrm{tol}`   (default tol = 1e-3),

the distance to the known minimiser, not the value gap: a run that "converged" really
ends within tol of :math:`x^\ast` (on Rosenbrock's flat valley f − f* < 1e-4 still
allows a distance of ~2e-2). A run that does not get there within ``max_steps`` is
recorded as not converged (steps None); one whose value overflows, as diverged.

Learning rates (:data:`DEFAULT_LRS`), one per surface and rule, picked on a grid
{1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 1} with 20000 steps
and backed off from the edge where a larger α stops converging:

* GD: the largest α that is stable along the whole path, below 2/λ_max of the Hessian.
  Ravine ½(x² + 50y²): λ = 1, 50, so α < 0.04; α = 0.03 zig-zags in y (factor
  1 − 50α = −0.5 per step) and crawls in x (factor 0.97: 273 steps to 1e-3, the formula
  ln(4000)/ln(1/0.97)). Rosenbrock: λ_max ≈ 1480 at the start (−1.2, 1), so α = 1e-3;
  along the valley λ_min ≈ 0.4, a factor 1 − 4e-4 per step: ~17000 steps (the GD
  crawl; 3e-3 no longer converges, 1e-2 diverges). Beale: α = 0.01 (0.05 fails).
* Momentum: α_GD/(1 − β) with β = 0.9. With the lesson's v = βv + (1−β)dW this is
  exactly torch's ``SGD(lr=α_GD, momentum=β)``: GD's step on each gradient plus β times
  the previous step. Heavy-ball momentum stays stable up to (1−β)·α·λ_max < 2(1 + β),
  ~4x GD's limit, and the slow directions move ~1/(1−β) = 10x faster. At *equal* α it
  takes GD's step once v has caught up and gains little on Rosenbrock (16982 vs 17082
  steps; fastgd.lab.diagnostics.saddle makes the same point on a saddle), though on the
  ravine, where (1−β)·α·λ_min = 0.003 sits near critical damping (1 − √β)² ≈ 0.0026,
  it still halves GD's 273 steps (137).
* RMSprop and Adam divide by the running RMS of the gradient, so their step is about α
  *in parameter units* whatever the gradient's scale: α is a distance per step. Adam:
  0.1 on every surface. RMSprop has no averaging of the gradient's sign, so with a
  constant α it ends in a limit cycle of about α around the minimum once its v has
  forgotten the large early gradients: on the long Rosenbrock valley (thousands of
  steps) α must be near tol, 1e-3 (with 2e-3 it hovers 1.6e-3 to 2.2e-3 away);
  elsewhere 0.03.
  Adam's first moment averages the flipping gradient out, which is why it tolerates
  100x the α there (the lesson's "Adam = momentum + RMSprop").

Time per step (µs): ``time.perf_counter`` around each run's whole loop, divided by its
steps. Only setup (copying the start, allocating the path, building the optimizer) is
outside; inside are the Python gradient and value of the surface, ``opt.step``, recording
the path and the convergence check, so it is the cost of this experiment's Python loop,
not of fastgd's update. The update alone is timed separately: ``opt.step([g])`` on the
same 2-element float64 parameter with a fixed gradient, best of 3 batches (Python call,
argument checks and C kernel; at this size the call overhead is all there is).
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np

import fastgd
from fastgd.lab.surfaces import Beale, Ravine, Rosenbrock, trajectory

__all__ = ["DEFAULT_LRS", "surface_optimizers", "ConvergenceRun", "ConvergenceExperiment",
           "convergence_experiment", "step_microseconds"]

_SURFACES = {"rosenbrock": Rosenbrock, "beale": Beale, "ravine": Ravine}

DEFAULT_LRS = {
    "rosenbrock": {"GD": 1e-3, "Momentum": 1e-2, "RMSprop": 1e-3, "Adam": 0.1},
    "beale": {"GD": 1e-2, "Momentum": 0.1, "RMSprop": 0.03, "Adam": 0.1},
    "ravine": {"GD": 0.03, "Momentum": 0.3, "RMSprop": 0.03, "Adam": 0.1},
}
"""surface -> update rule -> learning rate (the reasons are in the module docstring)."""


def surface_optimizers(lrs, beta=0.9):
    """name -> factory ``f(params) -> optimizer`` for GD, Momentum, RMSprop and Adam, at the
    learning rates of ``lrs`` (a dict name -> α, e.g. ``DEFAULT_LRS["ravine"]``)."""
    rules = {
        "GD": lambda p, lr: fastgd.SGD(p, lr=lr),
        "Momentum": lambda p, lr: fastgd.Momentum(p, lr=lr, beta=beta),
        "RMSprop": lambda p, lr: fastgd.RMSprop(p, lr=lr),
        "Adam": lambda p, lr: fastgd.Adam(p, lr=lr),
    }
    unknown = set(lrs) - set(rules)
    if unknown:
        raise ValueError(f"unknown update rule(s) {sorted(unknown)}; known: {list(rules)}")
    # lr bound now: a late-binding lambda in a loop would give every rule the last lr
    return {name: (lambda p, make=rules[name], lr=lr: make(p, lr)) for name, lr in lrs.items()}


def step_microseconds(factory, grad, start, *, n=2000, repeat=3):
    """µs per ``opt.step([grad])`` on a float64 copy of ``start``: best of ``repeat``
    batches of ``n`` steps with a fixed gradient (the values do not change the cost)."""
    p = np.array(start, dtype=np.float64)
    g = np.array(grad, dtype=np.float64)
    opt = factory([p])
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            opt.step([g])
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


@dataclass
class ConvergenceRun:
    """One rule on one surface. ``steps``: steps until ||x − x*|| < tol (None: not within
    ``max_steps``, or diverged); ``distance``: ||x − x*|| after the last step run."""

    surface: str
    name: str
    lr: float
    steps: int
    steps_run: int
    distance: float
    diverged: bool
    us_per_step: float       # whole loop (Python gradient + value + opt.step + bookkeeping)
    us_per_opt_step: float   # opt.step alone on the same 2-element parameter
    path: np.ndarray
    values: np.ndarray

    @property
    def converged(self):
        return self.steps is not None


@dataclass
class ConvergenceExperiment:
    tol: float
    max_steps: int
    surfaces: dict = field(default_factory=dict)   # name -> surface object
    runs: dict = field(default_factory=dict)       # surface name -> {rule: ConvergenceRun}

    headers = ("surface", "update rule", "lr", "steps to converge", "final ||x − x*||",
               "µs per step (loop)", "µs per opt.step")

    def table(self):
        """Rows in ``headers``' order, one per (surface, rule); steps None: not converged."""
        return [(s, r.name, r.lr, r.steps, r.distance, r.us_per_step, r.us_per_opt_step)
                for s, runs in self.runs.items() for r in runs.values()]

    def not_converged(self):
        """(surface, rule, 'diverged' or 'not within max_steps') for every failed run."""
        return [(s, r.name, "diverged" if r.diverged else f"not within {self.max_steps}")
                for s, runs in self.runs.items() for r in runs.values() if not r.converged]


def _run(surface, name, factory, lr, tol, max_steps):
    m = tuple(float(v) for v in surface.minimum)
    marks = []

    def timed_factory(params):
        opt = factory(params)
        marks.append(time.perf_counter())   # the loop's clock starts after all setup
        return opt

    # math.dist on the 2-D row: a fraction of a µs, np.linalg.norm would be several
    t = trajectory(surface, timed_factory, surface.default_start, max_steps,
                   stop=lambda p, v: math.dist(p, m) < tol)
    seconds = time.perf_counter() - marks[0]
    distance = math.dist(t.path[-1], m) if np.all(np.isfinite(t.path[-1])) else math.inf
    diverged = not math.isfinite(t.values[-1])
    steps = t.steps_run if distance < tol else None
    g = surface.grad(surface.default_start)
    return ConvergenceRun(surface.name, name, lr, steps, t.steps_run, distance, diverged,
                          seconds / max(t.steps_run, 1) * 1e6,
                          step_microseconds(factory, g, surface.default_start),
                          t.path, t.values)


def convergence_experiment(surfaces=("rosenbrock", "beale", "ravine"), optimizers=None, *,
                           max_steps=20000, tol=1e-3, lrs=None):
    """Steps to ||x − x*|| < ``tol`` for each rule on each surface, from its default start.

    ``surfaces``: names (``"rosenbrock"``, ``"beale"``, ``"ravine"``) or surface objects
    with a ``minimum``. ``optimizers``: names to run (default GD, Momentum, RMSprop, Adam),
    or a dict name -> factory used on every surface. ``lrs``: overrides of
    :data:`DEFAULT_LRS`, surface name -> {rule: α}.
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) \
            or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be finite and > 0, got {tol}")
    exp = ConvergenceExperiment(tol=tol, max_steps=int(max_steps))
    for s in surfaces:
        if isinstance(s, str):
            if s not in _SURFACES:
                raise ValueError(f"unknown surface {s!r}; known: {list(_SURFACES)}")
            s = _SURFACES[s]()
        if s.minimum is None:
            raise ValueError(f"{s.name}: no minimum to converge to")
        table = dict(DEFAULT_LRS.get(s.name, {}), **(lrs or {}).get(s.name, {}))
        if isinstance(optimizers, dict):
            factories = optimizers
            rates = {n: table.get(n, math.nan) for n in factories}   # unknown to us: nan
        else:
            names = list(table) if optimizers is None else list(optimizers)
            missing = [n for n in names if n not in table]
            if missing:
                raise ValueError(f"{s.name}: no learning rate for {missing}; pass lrs=")
            rates = {n: table[n] for n in names}
            factories = surface_optimizers(rates)
        exp.surfaces[s.name] = s
        exp.runs[s.name] = {n: _run(s, n, f, rates[n], tol, exp.max_steps)
                            for n, f in factories.items()}
    return exp
