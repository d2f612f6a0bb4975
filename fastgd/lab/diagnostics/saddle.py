r"""Saddle points and plateaus: how long each update rule needs to leave one (LESSON.md §1, §5).

On :math:`f(x, y) = x^2 - y^2` plain gradient descent multiplies the y coordinate by
:math:`1 + 2\alpha` per step, so from :math:`y_0` it needs about
:math:`\ln(1/y_0)/\ln(1+2\alpha)` steps to get away (698 for :math:`y_0 = 10^{-6}`,
:math:`\alpha = 0.01`): the plateau. RMSprop and Adam divide by the running RMS of the
gradient, so the tiny y gradient gets a step of about :math:`\alpha` and y grows
linearly at first rather than geometrically from 1e-6.

Momentum is subtler. The lesson's form :math:`v = \beta v + (1-\beta)\,dW`,
:math:`W = W - \alpha v` takes, once v has caught up, exactly gradient descent's step, so
with the *same* α it leaves the plateau no sooner (a little later: v starts at 0). It
helps because damping oscillations lets α grow; with :math:`\alpha/(1-\beta)` it is
torch's ``SGD(momentum=β, lr=α)`` (:math:`v = \beta v + dW`) and is ~5x faster here.
Both rows are in :func:`saddle_optimizers` so the report shows the difference.

Escape criterion: the value drops below ``threshold`` (default -1). The start has
f ≈ 1 and the plateau sits at f ≈ 0, so f < -1 means the iterate is at least one unit
down the negative-curvature direction (on the 2-D saddle: :math:`y^2 > 1 + x^2`,
so :math:`|y| > 1`). It works unchanged on :class:`~fastgd.lab.surfaces.HighDimSaddle`.
"""
from dataclasses import dataclass, field

import numpy as np

import fastgd
from fastgd.lab.surfaces import HighDimSaddle, Saddle, trajectory

__all__ = ["saddle_optimizers", "EscapeResult", "escape_iterations", "SaddleExperiment",
           "saddle_experiment", "DEFAULT_START"]

DEFAULT_START = (1.0, 1e-6)


def saddle_optimizers(lr=0.01, beta=0.9):
    """name -> factory ``f(params) -> optimizer``, every rule at learning rate ``lr``
    (and momentum's second row at ``lr / (1 - beta)``, see the module docstring)."""
    return {
        "GD": lambda p: fastgd.SGD(p, lr=lr),
        "Momentum (α)": lambda p: fastgd.Momentum(p, lr=lr, beta=beta),
        "Momentum (α/(1-β))": lambda p: fastgd.Momentum(p, lr=lr / (1.0 - beta), beta=beta),
        "RMSprop": lambda p: fastgd.RMSprop(p, lr=lr),
        "Adam": lambda p: fastgd.Adam(p, lr=lr),
    }


@dataclass
class EscapeResult:
    """``steps``: optimizer steps until f < threshold (None: not within ``max_steps``)."""

    name: str
    steps: int
    path: np.ndarray
    values: np.ndarray

    @property
    def escaped(self):
        return self.steps is not None


def escape_iterations(function, optimizers=None, start=None, *, max_steps=5000,
                      threshold=-1.0):
    """Run each optimizer from ``start`` until ``function.value < threshold``.

    Returns ``{name: EscapeResult}`` in the order of ``optimizers`` (default
    :func:`saddle_optimizers`); ``start`` defaults to ``function.default_start``.
    """
    optimizers = saddle_optimizers() if optimizers is None else optimizers
    start = function.default_start if start is None else np.asarray(start, dtype=np.float64)
    out = {}
    for name, factory in optimizers.items():
        t = trajectory(function, factory, start, max_steps, stop=lambda p, v: v < threshold)
        escaped = bool(t.values[-1] < threshold)
        out[name] = EscapeResult(name, t.steps_run if escaped else None, t.path, t.values)
    return out


@dataclass
class SaddleExperiment:
    lr: float
    start: tuple
    threshold: float
    max_steps: int
    saddle: dict = field(default_factory=dict)       # name -> EscapeResult on x² - y²
    high_dim: dict = field(default_factory=dict)     # name -> EscapeResult on HighDimSaddle
    high_dim_surface: object = None

    def table(self):
        """Rows (optimizer, steps on the 2-D saddle, steps on the high-dimensional one)."""
        return [(name, self.saddle[name].steps, self.high_dim[name].steps)
                for name in self.saddle]


def saddle_experiment(lr=0.01, start=DEFAULT_START, *, max_steps=5000, threshold=-1.0,
                      dim=100, seed=0):
    """Escape iterations of :func:`saddle_optimizers` on f = x² - y² from ``start`` and on
    ``HighDimSaddle(dim, seed=seed)`` from its default start (1 along positive-curvature
    eigenvectors, 1e-3 along the negative ones)."""
    hd = HighDimSaddle(dim, seed=seed)
    exp = SaddleExperiment(lr=lr, start=tuple(start), threshold=threshold,
                           max_steps=max_steps, high_dim_surface=hd)
    opts = saddle_optimizers(lr)
    exp.saddle = escape_iterations(Saddle(), opts, start, max_steps=max_steps,
                                   threshold=threshold)
    exp.high_dim = escape_iterations(hd, opts, None, max_steps=max_steps, threshold=threshold)
    return exp
