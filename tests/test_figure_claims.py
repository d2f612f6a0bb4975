"""What each figure of the demo report says, asserted on the numbers behind it.

One test per claim a figure (or its caption) makes, so that a change of settings, rates or
code that makes a figure stop teaching its lesson fails here instead of shipping. The
claims are checked on the demo's own settings where that is cheap (saddle, decay, EWA) and
on smaller seeded settings of the same experiment elsewhere; none of them reads a clock
(throughput panels are measurements of the machine, not claims).
"""
import numpy as np
import pytest

import fastgd
from fastgd import datasets
from fastgd import diagnostics as D
from fastgd.lab.report.demo import DemoSettings


# ----------------------------------------------------------------- training.png
@pytest.fixture(scope="module")
def training_runs():
    """compare_training's default configurations at a third of the demo's epochs, on
    three splits/seeds of the digits (no reference runs: no timing)."""
    X, y = datasets.load_digits(dtype=np.float32, return_X_y=True)
    out = {}
    for seed in range(3):
        Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.2, seed=seed, stratify=True)
        res = D.compare_training(Xtr, ytr, Xte, yte, configs=D.default_configs(1 / 3),
                                 reference_seconds=0, seed=seed)
        out[seed] = {r.config.name: r for r in res}
    return out


def test_per_epoch_smaller_batches_get_further(training_runs):
    # "batch size" panel: per pass over the data, SGD < mini-batch < batch GD.
    for seed, by in training_runs.items():
        sgd, mini, full = (by[k].epoch_loss for k in ("SGD (batch 1)", "mini-batch 64",
                                                       "batch GD"))
        k = len(sgd)
        assert np.all(sgd < mini[:k]) and np.all(mini[:k] < full[:k]), seed


def test_momentum_rmsprop_adam_beat_gd_per_update(training_runs):
    # "update rule" panel: same batches (so epochs are updates), every rule below GD from
    # the second epoch on, and clearly below at the end.
    for seed, by in training_runs.items():
        gd = by["GD"].epoch_loss
        for rule in ("Momentum β=0.9", "RMSprop", "Adam"):
            r = by[rule].epoch_loss
            assert by[rule].updates_per_epoch == by["GD"].updates_per_epoch
            assert np.all(r[1:] < gd[1:]), (seed, rule, r, gd)
            assert r[-1] < gd[-1] / 1.5, (seed, rule, r[-1], gd[-1])


# ----------------------------------------------------------------- saddle.png
@pytest.fixture(scope="module")
def saddle():
    s = DemoSettings()
    return D.saddle_experiment(start=D.saddle.DEFAULT_START, max_steps=s.saddle_steps)


def test_adaptive_rules_leave_the_saddle_in_fewer_steps_than_gd(saddle):
    for results in (saddle.saddle, saddle.high_dim):
        gd = results["GD"].steps
        assert gd is not None
        assert results["Adam"].steps < gd / 5 and results["RMSprop"].steps < gd / 5
        assert results["Momentum (α/(1-β))"].steps < gd / 3


def test_gd_and_lesson_momentum_share_a_path_the_others_do_not(saddle):
    # The path panel's legend (computed with plots.same_path) says so, and the caption.
    from fastgd.lab.diagnostics.plots import same_path
    paths = {k: r.path for k, r in saddle.saddle.items()}
    assert same_path(paths["GD"], paths["Momentum (α)"])
    for other in ("Momentum (α/(1-β))", "RMSprop", "Adam"):
        assert not same_path(paths["GD"], paths[other]), other
    # ... and along it Momentum (α) is the slower: its markers lag.
    assert saddle.saddle["Momentum (α)"].steps > saddle.saddle["GD"].steps


def test_high_dim_panel_shows_every_curve_from_its_start(saddle):
    pytest.importorskip("matplotlib")
    from fastgd.lab.diagnostics import plots
    fig = plots.plot_saddle(saddle)
    ax = fig.axes[2]
    lo, hi = ax.get_ylim()
    for r in saddle.high_dim.values():
        assert lo <= r.values.min() and r.values.max() <= hi
    assert all(ax.get_legend() is not None for ax in fig.axes)


# ----------------------------------------------------------------- cost_curves.png
def test_cost_per_epoch_orders_sgd_mini_batch_gd():
    X, y = datasets.load_digits(dtype=np.float32, return_X_y=True)
    for seed in (0, 1):
        curves = D.cost_curves(X[:600], y[:600], hidden=(16,), steps=30, epochs=3,
                               seed=seed)
        full, mini, sgd = (c.epoch_loss[1:] for c in curves)
        assert np.all(sgd < mini) and np.all(mini < full), seed
    # (the left panel's noise ordering: tests/test_diagnostics.py)


# ----------------------------------------------------------------- batch_sweep.png
def test_sweep_epochs_grow_and_updates_shrink_with_the_batch():
    s = DemoSettings.quick()
    n, d = s.sweep_shape
    X, y = datasets.make_classification(n, d, 10, n_informative=min(16, d), seed=0)
    sweep = D.batch_size_sweep(X, y, target_loss=s.sweep_target, hidden=s.sweep_hidden,
                               sizes=[2, 8, 32, 64, n], max_epochs=s.sweep_max_epochs)
    reached = [r for r in sweep.rows if r.reached]
    assert [r.batch_size for r in reached] == [2, 8, 32, 64]
    assert not sweep.row(n).reached, "one update per epoch: batch GD should not get there"
    epochs = [r.epochs for r in reached]
    steps = [r.steps for r in reached]
    assert epochs == sorted(epochs) and epochs[0] < epochs[-1]
    assert steps == sorted(steps, reverse=True) and steps[0] > steps[-1]


# ----------------------------------------------------------------- decay.png
@pytest.fixture(scope="module")
def decay():
    """The demo's own decay settings (5 seeds)."""
    s = DemoSettings()
    return D.decay_comparison(epochs=s.decay_epochs, seeds=s.decay_seeds)


def test_every_decay_ends_below_the_constant_rate_on_every_seed(decay):
    assert len(decay.seeds) == 5
    for name in decay.runs:
        if name != "constant":
            assert decay.wins_over_constant(name) == 5, name
    # the strongest decays settle over 10x lower
    for name in ("1/(1+0.5t)", "staircase 0.5/5", "cosine"):
        ratio = np.median(decay.final_excess(name)) / np.median(decay.final_excess("constant"))
        assert ratio < 0.1, (name, ratio)


def test_the_constant_rate_stalls_at_its_noise_floor(decay):
    ex = np.median(decay.excess("constant"), axis=0)
    floor = ex[1]                       # reached in the first epoch
    assert ex[0] > 100 * floor
    # no further progress: the rest of the run stays within a factor 3 of that floor
    assert np.all(ex[2:] > floor / 3) and np.all(ex[2:] < floor * 3), ex


# ----------------------------------------------------------------- ewa.png
@pytest.fixture(scope="module")
def ewa():
    return D.ewa_experiment(betas=(0.9, 0.98))


def test_bias_window_follows_from_beta(ewa):
    days = np.arange(1, len(ewa.readings) + 1)
    for beta in (0.9, 0.98):
        w = ewa.window(beta)
        assert w == round(1 / (1 - beta))
        raw, fixed = ewa.averages[(beta, False)], ewa.averages[(beta, True)]
        # the right panel: (v̂ − v)/v̂ is exactly β^t
        np.testing.assert_allclose((fixed - raw) / fixed, beta ** days, rtol=1e-9, atol=1e-12)
        assert 0.3 < beta ** w < 0.4 and beta ** (3 * w) < 0.055
        e_raw, e_fixed = ewa.errors(beta, False), ewa.errors(beta, True)
        assert e_fixed[0] < e_raw[0] / 4, (beta, e_raw, e_fixed)     # first W days
        assert e_fixed[1] < e_raw[1], (beta, e_raw, e_fixed)         # days W+1 .. 3W
        np.testing.assert_allclose(raw[3 * w:], fixed[3 * w:], rtol=0.055)


def test_larger_beta_lags_more(ewa):
    assert ewa.errors(0.98, True)[2] > 2 * ewa.errors(0.9, True)[2]


# ----------------------------------------------------------------- every figure
def test_every_panel_of_every_figure_has_a_legend_and_labels(tmp_path):
    pytest.importorskip("matplotlib")
    from fastgd.lab.diagnostics import plots
    X, y = datasets.load_digits(dtype=np.float32, return_X_y=True)
    X, y = X[:300], y[:300]
    figs = {
        "layer_norms": plots.plot_layer_norms(D.deep_network_experiment(10, 8)),
        "saddle": plots.plot_saddle(D.saddle_experiment(max_steps=1000)),
        "surfaces": plots.plot_surfaces(D.convergence_experiment(max_steps=200)),
        "cost_curves": plots.plot_cost_curves(D.cost_curves(X, y, hidden=(8,), steps=10,
                                                            epochs=1)),
        "batch_sweep": plots.plot_batch_sweep(D.batch_size_sweep(
            X, y, target_loss=1.0, hidden=(8,), sizes=[8, 300], max_epochs=2)),
        "decay": plots.plot_decay(D.decay_comparison(epochs=3, n_samples=100,
                                                     n_features=3, seeds=(0,))),
        "ewa": plots.plot_ewa(D.ewa_experiment(n_days=120)),
        "training": plots.plot_training(D.compare_training(
            X[:200], y[:200], X[200:], y[200:], hidden=(8,), reference_seconds=0,
            configs=[D.TrainConfig("a", 32, "SGD", 0.1, 2, "g"),
                     D.TrainConfig("b", 32, "Adam", 1e-3, 2, "g")])),
    }
    for name, fig in figs.items():
        for k, ax in enumerate(fig.axes):
            assert ax.get_legend() is not None, (name, k)
            assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(), (name, k)
    # No two curves of a panel share colour *and* line style.
    for name, fig in figs.items():
        for ax in fig.axes:
            keys = [(ln.get_color(), ln.get_linestyle(), ln.get_marker())
                    for ln in ax.get_lines() if not ln.get_label().startswith("_")]
            assert len(keys) == len(set(keys)), (name, keys)


def test_the_public_api_is_all_the_lab_needs():
    # the lab must keep working while fastgd's internals move: no private module imports
    import ast
    import pathlib
    lab = pathlib.Path(fastgd.__file__).parent / "lab"
    allowed = {"fastgd", "fastgd.datasets", "fastgd.schedules", "fastgd.batching",
               "fastgd.reference"}
    for path in lab.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("fastgd") and not node.module.startswith("fastgd.lab"):
                names = {node.module + "." + a.name for a in node.names}
                assert node.module in allowed or names & allowed == names, (path, node.module)
