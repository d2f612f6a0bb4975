"""fastgd.lab.diagnostics: every experiment's numbers against what the lesson (and algebra) say."""
import math

import numpy as np
import pytest

import fastgd
from fastgd import diagnostics as D
from fastgd.lab.diagnostics.gradients import DepthSetting
from fastgd.reference import mlp as ref

SCALES = (0.5, 0.9, 1.0, 1.1, 1.5)


# ----------------------------------------------------------------- layer_stats
def test_layer_stats_shapes_and_values_match_the_reference():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((17, 6)).astype(np.float32)
    y = rng.integers(0, 3, 17)
    model = fastgd.MLP([6, 5, 4, 3], activation="tanh", seed=1, alpha=0.01)
    before = model._flat.copy()
    st = D.layer_stats(model, X, y)
    assert np.array_equal(model._flat, before), "layer_stats must not touch the model"
    assert st.n_layers == 3
    assert st.activation_norms.shape == (4,) and st.delta_norms.shape == (3,)
    assert st.weight_grad_norms.shape == (3,) and st.bias_grad_norms.shape == (3,)
    params = [p.astype(np.float64) for p in model.parameters()]
    loss, grads = ref.loss_and_grads(params, X.astype(np.float64), y, "tanh", "softmax", 0.01)
    assert st.loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(st.weight_grad_norms, [np.linalg.norm(g) for g in grads[0::2]],
                               rtol=1e-12)
    np.testing.assert_allclose(st.bias_grad_norms, [np.linalg.norm(g) for g in grads[1::2]],
                               rtol=1e-12)
    assert st.activation_norms[0] == pytest.approx(np.sqrt(np.sum(X.astype(np.float64) ** 2)
                                                           / 17))
    # The last delta is dJ/dlogits = (P - Y)/B, and db_L is its column sum.
    assert st.delta_norms[-1] > 0


def test_layer_stats_rejects_a_non_model():
    with pytest.raises(TypeError, match="fastgd.MLP"):
        D.layer_stats(object(), np.zeros((2, 2)), np.zeros(2))


# ----------------------------------------------------------------- depth experiment
@pytest.fixture(scope="module")
def depth50():
    return D.deep_network_experiment(depth=50, width=32, seed=0)


@pytest.mark.parametrize("scale", SCALES)
def test_scaled_identity_norms_grow_like_scale_to_the_depth(depth50, scale):
    L = depth50.depth
    i = [s.scale for s in depth50.settings].index(scale)
    st = depth50.stats[i]
    layers = np.arange(L + 1)
    # Forward: A_l = s^l X exactly (identity activation, zero biases).
    np.testing.assert_allclose(st.activation_norms / st.activation_norms[0], scale ** layers,
                               rtol=1e-9, err_msg=f"scale {scale}")
    # Backward: delta_l = s^(L-l) delta_L, and db_l (the column sum of delta_l) too.
    expect = scale ** (L - np.arange(1, L + 1))
    np.testing.assert_allclose(st.delta_norms / st.delta_norms[-1], expect, rtol=1e-9)
    np.testing.assert_allclose(st.bias_grad_norms / st.bias_grad_norms[-1], expect, rtol=1e-9)
    # dW_l = A_{l-1}^T delta_l ~ s^(l-1) s^(L-l): the same in every layer.
    np.testing.assert_allclose(st.weight_grad_norms / st.weight_grad_norms[0], 1.0, rtol=1e-9)
    assert st.per_layer_factor("activation") == pytest.approx(scale, rel=1e-9)
    assert st.per_layer_factor("delta") == pytest.approx(scale, rel=1e-9)
    label, fwd, bwd, total, back_total = depth50.summary()[i]
    assert total == pytest.approx(scale ** L, rel=1e-9)
    assert back_total == pytest.approx(scale ** (L - 1), rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_xavier_keeps_norms_in_a_bounded_band(seed):
    exp = D.deep_network_experiment(50, 32, [DepthSetting("x", "identity", "xavier")],
                                    seed=seed)
    st = exp.stats[0]
    a = st.activation_norms / st.activation_norms[0]
    d = st.delta_norms / st.delta_norms[-1]
    # 0.5^50 ~ 1e-15 and 1.5^50 ~ 6e8 for comparison.
    assert 1e-2 < a.min() and a.max() < 1e2, a
    assert 1e-2 < d.min() and d.max() < 1e2, d


def test_he_suits_relu_and_xavier_does_not(depth50):
    by = {s.label: st for s, st in zip(depth50.settings, depth50.stats)}
    he = by["he, relu"].per_layer_factor("activation")
    xav = by["xavier, relu"].per_layer_factor("activation")
    assert 0.85 < he < 1.15
    # Xavier under ReLU keeps half the variance per layer: factor ~ 1/sqrt(2).
    assert xav < 0.8


def test_depth_is_checked():
    with pytest.raises(ValueError, match="depth"):
        D.deep_network_experiment(depth=200)


# ----------------------------------------------------------------- saddle
@pytest.fixture(scope="module")
def saddle():
    return D.saddle_experiment(lr=0.01, start=(1.0, 1e-6), max_steps=3000)


def test_gd_is_slowest_to_leave_the_saddle(saddle):
    for results in (saddle.saddle, saddle.high_dim):
        steps = {k: r.steps for k, r in results.items()}
        assert all(v is not None for v in steps.values()), steps
        for fast in ("Momentum (α/(1-β))", "RMSprop", "Adam"):
            assert steps[fast] < steps["GD"], steps
        # The lesson's EWA momentum at the same alpha takes GD's step once v caught up:
        # no faster (documented in diagnostics.saddle).
        assert steps["Momentum (α)"] >= steps["GD"]


def test_gd_escape_time_matches_the_formula(saddle):
    # y_t = y_0 (1 + 2 lr)^t and f = x^2 - y^2 < -1 once |y| > ~1 (x is ~0 by then).
    expect = math.log(1.0 / 1e-6) / math.log(1.02)
    assert abs(saddle.saddle["GD"].steps - expect) < 5


def test_escape_criterion(saddle):
    for r in saddle.saddle.values():
        assert r.values[-1] < -1 and abs(r.path[-1, 1]) > 1
        assert np.all(r.values[:-1] >= -1), "stopped at the first step below the threshold"
    assert [row[0] for row in saddle.table()] == list(D.saddle_optimizers())


def test_escape_not_reached_is_none():
    res = D.escape_iterations(fastgd.lab.surfaces.Saddle(), start=(1.0, 1e-6), max_steps=50)
    assert res["GD"].steps is None and not res["GD"].escaped


# ----------------------------------------------------------------- batch size
@pytest.fixture(scope="module")
def digits_small():
    X, y = fastgd.datasets.load_digits(dtype=np.float32, return_X_y=True)
    return X[:400], y[:400]


def test_cost_curves_noise_grows_as_the_batch_shrinks(digits_small):
    X, y = digits_small
    curves = D.cost_curves(X, y, hidden=(16,), steps=60, epochs=2)
    assert [c.batch_size for c in curves] == [400, 64, 1]
    assert [c.updates_per_epoch for c in curves] == [1, 7, 400]
    for c in curves:
        assert len(c.batch_loss) == 60 and np.all(np.isfinite(c.batch_loss))
        assert len(c.epoch_loss) == 3 and c.samples_per_second > 0
        assert c.seconds_per_step == pytest.approx(c.batch_size / c.samples_per_second)
    batch, mini, sgd = curves
    assert batch.noise < mini.noise < sgd.noise
    assert batch.batch_loss[-1] < batch.batch_loss[0]


def test_median_rate_ignores_a_stalled_epoch():
    h = fastgd.History()
    for t in (0.01, 0.01, 5.0, 0.01, 0.0):       # one stall, one untimed epoch
        h.append({"epoch": 0, "loss": 1.0, "time": t, "samples": 100})
    assert D.median_rate(h) == pytest.approx(100 / 0.01)
    assert np.isnan(D.median_rate(fastgd.History()))


def test_powers_of_two():
    assert D.powers_of_two(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert D.powers_of_two(64) == [1, 2, 4, 8, 16, 32, 64]


def test_batch_size_sweep_structure(digits_small):
    X, y = digits_small
    sweep = D.batch_size_sweep(X, y, target_loss=0.5, hidden=(16,), sizes=[1, 8, 64, 400],
                               max_epochs=40)
    assert [r.batch_size for r in sweep.rows] == [1, 8, 64, 400]
    for r in sweep.rows:
        assert (r.seconds is None) == (r.epochs is None) == (r.steps is None)
        assert r.samples_per_second > 0
        if r.reached:
            assert r.final_loss <= 0.5
            assert r.steps == r.epochs * -(-400 // r.batch_size)
            assert r.seconds == pytest.approx(r.epochs * 400 / r.samples_per_second)
    reached = [r for r in sweep.rows if r.reached]
    assert reached, "a mini-batch should reach J <= 0.5 on 400 digits"
    assert sweep.best.seconds == min(r.seconds for r in reached)
    assert sweep.row(8) is sweep.rows[1]


# ----------------------------------------------------------------- decay
def test_lr_curves_follow_the_formulas():
    E = 12
    curves = D.lr_curves(D.default_schedules(E), E, base_lr=0.5)
    t = np.arange(E)
    np.testing.assert_allclose(curves["constant"], 0.5)
    np.testing.assert_allclose(curves["1/(1+0.5t)"], 0.5 / (1 + 0.5 * t))
    np.testing.assert_allclose(curves["0.95^t"], 0.5 * 0.95 ** t)
    np.testing.assert_allclose(curves["1/sqrt(t)"], 0.5 / np.sqrt(np.maximum(t, 1)))
    np.testing.assert_allclose(curves["staircase 0.5/5"], 0.5 * 0.5 ** (t // 5))
    np.testing.assert_allclose(curves["StepLR x0.1"], 0.5 * 0.1 ** (t // (E // 2)))
    np.testing.assert_allclose(curves["cosine"], 0.25 * (1 + np.cos(np.pi * t / E)))
    for name, c in curves.items():
        assert np.all(np.diff(c) <= 1e-15), name


def test_decay_comparison_trains_with_those_rates():
    E = 4
    comp = D.decay_comparison(epochs=E, n_samples=200, n_features=5, seeds=(0, 1))
    expect = D.lr_curves(D.default_schedules(E), E, base_lr=comp.base_lr)
    assert list(comp.runs) == list(expect)
    for name, runs in comp.runs.items():
        assert [r.seed for r in runs] == [0, 1]
        for r in runs:
            np.testing.assert_allclose(r.lr, expect[name], err_msg=name)
            assert len(r.loss) == E + 1 and r.loss[-1] < r.loss[0]
            # J* is the least-squares minimum: no run goes below it
            assert np.all(r.excess > -1e-12), (name, r.excess)
    assert comp.excess("constant").shape == (2, E + 1)
    rows = comp.table()
    assert len(rows) == len(comp.runs) and all(len(row) == 5 for row in rows)
    assert rows[0][3] == 1.0 and rows[0][4] == "-"


# ----------------------------------------------------------------- ewa
def test_ewa_bias_correction():
    exp = D.ewa_experiment(betas=(0.9, 0.98))
    theta1 = exp.readings[0]
    for beta in (0.9, 0.98):
        raw, fixed = exp.averages[(beta, False)], exp.averages[(beta, True)]
        assert raw[0] == pytest.approx((1 - beta) * theta1)
        assert fixed[0] == pytest.approx(theta1)
    assert [row[:3] for row in exp.table()] == [(0.9, False, 10), (0.9, True, 10),
                                                 (0.98, False, 50), (0.98, True, 50)]


# ----------------------------------------------------------------- training comparison
def test_compare_training_reports_speed_and_accuracy(digits_small):
    X, y = digits_small
    cfgs = [D.TrainConfig("mini", 32, "SGD", 0.1, 2, "g"),
            D.TrainConfig("adam", 32, "Adam", 1e-3, 2, "g"),
            D.TrainConfig("full", None, "SGD", 0.5, 3, "h")]
    res = D.compare_training(X[:300], y[:300], X[300:], y[300:], hidden=(16,), configs=cfgs,
                             reference_seconds=0.01)
    assert [r.config.name for r in res] == ["mini", "adam", "full"]
    assert res[2].batch_size == 300
    for r in res:
        assert 0 <= r.test_accuracy <= 1 and np.isfinite(r.final_loss)
        assert r.samples_per_second > 0 and r.reference_samples_per_second > 0
        assert r.speedup == pytest.approx(r.samples_per_second / r.reference_samples_per_second)
        assert len(r.epoch_loss) == r.config.epochs
        np.testing.assert_array_equal(r.epochs, np.arange(1, r.config.epochs + 1))
    assert [r.updates_per_epoch for r in res] == [10, 10, 1]
    res = D.compare_training(X[:300], y[:300], X[300:], y[300:], hidden=(16,),
                             configs=cfgs[:1], reference_seconds=0)
    assert res[0].reference_samples_per_second is None and res[0].speedup is None
