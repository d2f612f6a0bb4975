"""fastgd.lab.diagnostics: the lesson's claims as experiments that return numbers.

============================  ===========================================================
gradients (LESSON §1, §2)     :func:`layer_stats`, :func:`deep_network_experiment`:
                              norms per layer; W = s·I scales them like s^L, Xavier/He
                              keeps them level
saddle (§1, §5)               :func:`saddle_experiment`, :func:`escape_iterations`:
                              steps each update rule needs to leave a saddle's plateau
surfaces (§5)                 :func:`convergence_experiment`: steps GD / Momentum /
                              RMSprop / Adam need on Rosenbrock, Beale, a ravine; µs/step
batch (§3)                    :func:`cost_curves`, :func:`batch_size_sweep`: batch vs
                              mini-batch vs SGD cost per update and per epoch; epochs,
                              updates and time to a target per size
averages (§4)                 :func:`ewa_experiment`: EWA with and without bias
                              correction, the bias window W = 1/(1 − β)
decay (§6)                    :func:`decay_comparison`, :func:`lr_curves`: schedules on
                              noisy least squares, where SGD has a noise floor; 5 seeds
training                      :func:`compare_training`: batch sizes and update rules on a
                              real set, per epoch; throughput against fastgd.reference
plots                         ``fastgd.lab.diagnostics.plots``: one figure per experiment
                              (matplotlib, imported only there)
============================  ===========================================================

Every experiment is seeded and returns plain dataclasses of NumPy arrays; the demo
(``python -m fastgd demo``) runs them all and writes one report. Progress is counted in
epochs and updates, never seconds; throughput is a median over epochs (:func:`median_rate`).
What each figure claims is asserted in tests/test_figure_claims.py.
"""
from fastgd.lab.diagnostics.averages import EWAExperiment, ewa_experiment, temperature_series
from fastgd.lab.diagnostics.batch import (CostCurve, Sweep, SweepRow, batch_size_sweep,
                                      cost_curves, full_loss, median_rate,
                                      powers_of_two)
from fastgd.lab.diagnostics.decay import (DecayComparison, DecayRun, decay_comparison,
                                      default_schedules, lr_curves)
from fastgd.lab.diagnostics.gradients import (DepthExperiment, DepthSetting, LayerStats,
                                          deep_network_experiment, default_settings,
                                          layer_stats)
from fastgd.lab.diagnostics.saddle import (EscapeResult, SaddleExperiment, escape_iterations,
                                       saddle_experiment, saddle_optimizers)
from fastgd.lab.diagnostics.convergence import (ConvergenceExperiment, ConvergenceRun,
                                         convergence_experiment, surface_optimizers)
from fastgd.lab.diagnostics.training import (TrainConfig, TrainResult, compare_training,
                                         default_configs)

__all__ = [
    "layer_stats", "LayerStats", "deep_network_experiment", "DepthExperiment",
    "DepthSetting", "default_settings",
    "saddle_experiment", "escape_iterations", "saddle_optimizers", "EscapeResult",
    "SaddleExperiment",
    "convergence_experiment", "ConvergenceExperiment", "ConvergenceRun", "surface_optimizers",
    "cost_curves", "CostCurve", "batch_size_sweep", "Sweep", "SweepRow", "powers_of_two",
    "full_loss", "median_rate",
    "decay_comparison", "default_schedules", "lr_curves", "DecayComparison", "DecayRun",
    "ewa_experiment", "EWAExperiment", "temperature_series",
    "compare_training", "TrainConfig", "TrainResult", "default_configs",
]
