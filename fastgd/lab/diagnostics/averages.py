r"""Exponentially weighted averages on a noisy, temperature-like series (LESSON.md §4).

.. math::
    v_0 = 0, \qquad v_t = \beta v_{t-1} + (1-\beta)\,\theta_t, \qquad
    \hat v_t = \frac{v_t}{1-\beta^t}

v averages roughly the last :math:`1/(1-\beta)` values (β = 0.9: ~10 days, β = 0.98:
~50), so a larger β is smoother but lags the series more. Starting from 0 pulls the first
values toward 0 (on day 1, :math:`v_1 = (1-\beta)\theta_1`: 2 % of the temperature for
β = 0.98); :math:`\hat v` removes that bias, which matters only while :math:`\beta^t` is not
small. Computed with :func:`fastgd.ewa`.
"""
from dataclasses import dataclass, field

import numpy as np

from fastgd.ewa import ewa

__all__ = ["temperature_series", "EWAExperiment", "ewa_experiment"]


def temperature_series(n_days=365, *, mean=15.0, amplitude=10.0, noise=4.0, seed=0):
    """(true seasonal curve, noisy daily readings) in °C, a year starting in spring (at the
    mean, far from 0, so the zero-start bias is plain to see)."""
    t = np.arange(n_days)
    truth = mean + amplitude * np.sin(2 * np.pi * t / 365.0)
    readings = truth + noise * np.random.default_rng(seed).standard_normal(n_days)
    return truth, readings


@dataclass
class EWAExperiment:
    truth: np.ndarray
    readings: np.ndarray
    averages: dict = field(default_factory=dict)   # (beta, bias_correction) -> series

    def table(self, first_days=10):
        """Rows (β, corrected, ~days averaged, day-1 value, mean |error| over the first
        ``first_days`` days, mean |error| over the rest) against the true curve."""
        rows = []
        for (beta, corrected), v in self.averages.items():
            err = np.abs(v - self.truth)
            rows.append((beta, corrected, 1.0 / (1.0 - beta), float(v[0]),
                         float(err[:first_days].mean()), float(err[first_days:].mean())))
        return rows


def ewa_experiment(betas=(0.9, 0.98), *, n_days=365, seed=0):
    """The series and its average for each β, with and without bias correction."""
    truth, readings = temperature_series(n_days, seed=seed)
    exp = EWAExperiment(truth=truth, readings=readings)
    for beta in betas:
        for corrected in (False, True):
            exp.averages[(float(beta), corrected)] = ewa(readings, beta,
                                                         bias_correction=corrected)
    return exp
