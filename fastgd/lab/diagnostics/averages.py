r"""Exponentially weighted averages on a noisy, temperature-like series (LESSON.md §4).

.. math::
    v_0 = 0, \qquad v_t = \beta v_{t-1} + (1-\beta)\,\theta_t, \qquad
    \hat v_t = \frac{v_t}{1-\beta^t}

v averages roughly the last :math:`1/(1-\beta)` values (β = 0.9: ~10 days, β = 0.98:
~50), so a larger β is smoother but lags the series more. Starting from 0 pulls the first
values toward 0 (on day 1, :math:`v_1 = (1-\beta)\theta_1`: 2 % of the temperature for
β = 0.98); :math:`\hat v` removes that bias, which matters only while :math:`\beta^t` is not
small. Computed with :func:`fastgd.ewa`.

How long the bias lasts follows from β alone: :math:`v_t = (1-\beta^t)\,\hat v_t`, so
the zero start removes the fraction :math:`\beta^t` of the average. After the window
:math:`W = 1/(1-\beta)` steps (10 for β = 0.9, 50 for β = 0.98) that is still
:math:`\beta^W \approx e^{-1}` = 37 %; only after about 3W steps is it below 5 %
(:math:`e^{-3}`). The table therefore reads the error over the first W days, over days
W+1 .. 3W, and after 3W, each window derived from β -- not a fixed "first 10 days",
which for β = 0.98 would stop long before the bias does.
"""
import math
from dataclasses import dataclass, field

import numpy as np

import fastgd

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

    @staticmethod
    def window(beta):
        """W = 1/(1 − β) rounded: the number of steps the average spans (and the bias
        decays by e per W steps)."""
        return max(1, int(round(1.0 / (1.0 - beta))))

    def errors(self, beta, corrected):
        """Mean |v − truth| over days 1..W, W+1..3W and after 3W (W = window(β); nan
        where the series is too short)."""
        w = self.window(beta)
        err = np.abs(self.averages[(beta, corrected)] - self.truth)
        parts = (err[:w], err[w:3 * w], err[3 * w:])
        return tuple(float(p.mean()) if p.size else math.nan for p in parts)

    def table(self):
        """Rows (β, corrected, W = 1/(1−β), day-1 value, mean |error| days 1..W,
        days W+1..3W, after 3W) against the true curve."""
        return [(beta, corrected, self.window(beta), float(v[0]),
                 *self.errors(beta, corrected))
                for (beta, corrected), v in self.averages.items()]


def ewa_experiment(betas=(0.9, 0.98), *, n_days=365, seed=0):
    """The series and its average for each β, with and without bias correction."""
    truth, readings = temperature_series(n_days, seed=seed)
    exp = EWAExperiment(truth=truth, readings=readings)
    for beta in betas:
        for corrected in (False, True):
            exp.averages[(float(beta), corrected)] = fastgd.ewa(readings, beta,
                                                         bias_correction=corrected)
    return exp
