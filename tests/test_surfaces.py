"""fastgd.lab.diagnostics.convergence: steps to converge on Rosenbrock, Beale and the ravine."""
import math

import numpy as np
import pytest

from fastgd import diagnostics as D
from fastgd import functions as F
from fastgd.lab.diagnostics.convergence import DEFAULT_LRS, step_microseconds

RULES = ["GD", "Momentum", "RMSprop", "Adam"]


@pytest.fixture(scope="module")
def quick():
    """The demo's --quick budget: 3000 steps, well under a second."""
    return D.convergence_experiment(max_steps=3000)


def test_every_claimed_convergence_ends_within_tol(quick):
    assert list(quick.runs) == ["rosenbrock", "beale", "ravine"]
    for sname, runs in quick.runs.items():
        m = quick.surfaces[sname].minimum
        assert list(runs) == RULES
        for r in runs.values():
            dist = np.linalg.norm(r.path - m, axis=1)
            assert r.steps_run == len(r.path) - 1 and len(r.values) == len(r.path)
            assert r.distance == pytest.approx(dist[-1], rel=1e-12)
            if r.converged:
                assert r.steps == r.steps_run and dist[-1] < quick.tol, (sname, r.name)
                assert np.all(dist[:-1] >= quick.tol), "stopped at the first step within tol"
            else:
                assert r.steps_run == quick.max_steps and dist[-1] >= quick.tol
                assert not r.diverged, (sname, r.name)


def test_adaptive_and_momentum_beat_gd_on_the_ravine(quick):
    steps = {k: r.steps for k, r in quick.runs["ravine"].items()}
    assert all(v is not None for v in steps.values()), steps
    lrs = DEFAULT_LRS["ravine"]
    # RMSprop at GD's own α; Momentum at α/(1−β), Adam at 0.1 (documented in the module).
    assert lrs["RMSprop"] == lrs["GD"]
    for rule in ("Momentum", "RMSprop", "Adam"):
        assert steps[rule] < steps["GD"], steps
    assert steps["Adam"] < steps["GD"] / 2 and steps["Momentum"] < steps["GD"] / 2


def test_gd_on_the_ravine_matches_the_formula(quick):
    # x_t = -4·(1 − α)^t dominates (y_t = (1 − 50α)^t = (−0.5)^t dies at once):
    # ||x_t|| < 1e-3 from t = ln(4000) / ln(1/0.97).
    expect = math.ceil(math.log(4.0 / quick.tol) / -math.log(1.0 - DEFAULT_LRS["ravine"]["GD"]))
    assert abs(quick.runs["ravine"]["GD"].steps - expect) <= 1


def test_momentum_at_equal_lr_still_beats_gd_on_the_ravine():
    # Near critical damping (documented): the lesson's momentum at GD's own α is faster.
    exp = D.convergence_experiment(["ravine"], ["GD", "Momentum"],
                                   lrs={"ravine": {"Momentum": DEFAULT_LRS["ravine"]["GD"]}})
    runs = exp.runs["ravine"]
    assert runs["Momentum"].lr == runs["GD"].lr
    assert runs["Momentum"].steps < runs["GD"].steps


def test_gd_crawls_on_rosenbrock(quick):
    # The quick budget is too short for GD along the valley; the adaptive rules and
    # momentum get there.
    runs = quick.runs["rosenbrock"]
    assert not runs["GD"].converged and runs["GD"].distance > 10 * quick.tol
    assert runs["Momentum"].converged and runs["Adam"].converged
    assert ("rosenbrock", "GD", "not within 3000") in quick.not_converged()
    assert all(r.steps is None for s in quick.runs.values() for r in s.values()
               if (r.surface, r.name) in {(a, b) for a, b, _ in quick.not_converged()})


def test_microseconds_per_step_are_positive_and_ordered(quick):
    for runs in quick.runs.values():
        for r in runs.values():
            assert 0 < r.us_per_opt_step < 1e3 and 0 < r.us_per_step < 1e4
            # the loop does the update and a Python gradient, value and check on top
            assert r.us_per_opt_step < r.us_per_step, (r.surface, r.name)
    us = step_microseconds(lambda p: D.surface_optimizers({"GD": 0.1})["GD"](p),
                           [1.0, -1.0], [0.0, 0.0], n=100, repeat=2)
    assert 0 < us < 1e3


def test_table_is_ready_to_print(quick):
    rows = quick.table()
    assert len(rows) == 12 and all(len(r) == len(quick.headers) for r in rows)
    assert rows[0][:3] == ("rosenbrock", "GD", DEFAULT_LRS["rosenbrock"]["GD"])
    for surface, rule, lr, steps, dist, us, us_opt in rows:
        assert steps is None or isinstance(steps, int)
        assert lr == DEFAULT_LRS[surface][rule]


def test_surface_optimizers_bind_each_rate():
    opts = D.surface_optimizers({"GD": 0.5, "Adam": 0.25})
    p = np.zeros(2)
    assert opts["GD"]([p]).defaults["lr"] == 0.5
    assert opts["Adam"]([p]).defaults["lr"] == 0.25
    with pytest.raises(ValueError, match="unknown update rule"):
        D.surface_optimizers({"LBFGS": 1.0})


def test_divergence_is_recorded_not_raised():
    exp = D.convergence_experiment(["ravine"], ["GD"], lrs={"ravine": {"GD": 1.0}},
                                   max_steps=2000)
    r = exp.runs["ravine"]["GD"]
    assert r.diverged and not r.converged and r.steps_run < 2000
    assert exp.not_converged() == [("ravine", "GD", "diverged")]


def test_custom_surface_and_factories():
    fac = {"plain": lambda p: D.surface_optimizers({"GD": 0.1})["GD"](p)}
    exp = D.convergence_experiment([F.Ravine(condition=4.0)], fac, max_steps=500)
    r = exp.runs["ravine"]["plain"]
    assert r.converged and math.isnan(r.lr)


@pytest.mark.parametrize("kwargs, match", [
    (dict(surfaces=["saddle"]), "unknown surface"),
    (dict(surfaces=[F.Saddle()]), "no minimum"),
    (dict(optimizers=["NAdam"]), "no learning rate"),
    (dict(max_steps=0), "max_steps"),
    (dict(tol=0.0), "tol"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.convergence_experiment(**kwargs)


def test_plot_renders():
    pytest.importorskip("matplotlib")
    from fastgd.lab.diagnostics import plots
    exp = D.convergence_experiment(max_steps=300, lrs={"ravine": {"GD": 1.0}})  # one diverges
    png = plots.png_bytes(plots.plot_surfaces(exp), dpi=40)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
