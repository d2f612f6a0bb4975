"""Engine.run_epoch(alphas=): one L2 coefficient per batch (fastgd.sklearn's convention,
scikit-learn's alpha / batch weight sum) and the penalty sum it reports in ``l2_sum``."""
import numpy as np
import pytest

import fastgd
from fastgd import batching
from fastgd.training import train
from fastgd.training.averaging import WeightAverage
from fastgd.training.fitcall import prepare_fit


def _setup(alpha=0.0, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((53, 6)).astype(dtype)
    y = rng.integers(0, 3, 53)
    model = fastgd.MLP([6, 9, 3], activation="tanh", dtype=dtype, seed=seed)
    model.alpha = alpha
    opt = fastgd.Adam(model.parameters(), lr=1e-2)
    run = prepare_fit(model, X, y, opt, epochs=1, batch_size=20, seed=seed)
    return model, opt, run


def _epoch(model, opt, run, alphas, b0=0, b1=None, alpha=None):
    if alpha is not None:
        model.alpha = alpha
    engine = model._engine(run.batch_size, 1)
    order = batching.epoch_order(run.n, run.seed, 0)
    out = train._engine_epoch(engine, run, opt, order, b0, b1 or run.n_batches, None,
                              WeightAverage(run), alphas)
    return out, engine


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_alphas_equal_to_the_model_alpha_change_no_bit(dtype):
    a = _setup(0.03, dtype=dtype)
    b = _setup(0.03, dtype=dtype)
    _epoch(*a, None)
    _epoch(*b, np.full(3, 0.03))
    np.testing.assert_array_equal(a[0]._flat, b[0]._flat)


def test_each_batch_gets_its_own_alpha_and_l2_sum_is_the_penalty():
    """Batches of 20, 20 and 13 rows with alphas (a0, a1, a2) give the bits of three one-
    batch epochs on engines whose model alpha is a0, a1 and a2."""
    alphas = np.array([0.05, 0.01, 0.2])
    model, opt, run = _setup()
    squares = []
    expected = 0.0
    twin, topt, trun = _setup()
    for b, (a, rows) in enumerate(zip(alphas, (20, 20, 13))):
        w2 = sum(float(np.sum(p * p)) for p in twin.parameters()[0::2])
        expected += rows * 0.5 * a * w2
        squares.append(w2)
        _epoch(twin, topt, trun, None, b, b + 1, alpha=a)
    model.alpha = 0.0
    (loss_sum, rows, bad), engine = _epoch(model, opt, run, alphas)
    assert bad == -1 and rows == 53
    np.testing.assert_array_equal(model._flat, twin._flat)
    assert engine.l2_sum == pytest.approx(expected, rel=1e-12)
    assert model.alpha == 0.0
    # an epoch run in two calls (batches [0, 1) then [1, 3)) reads each batch's own alpha
    split, sopt, srun = _setup()
    split.alpha = 0.0
    _epoch(split, sopt, srun, alphas, 0, 1)
    (_, _, bad), second = _epoch(split, sopt, srun, alphas, 1, 3)
    assert bad == -1
    np.testing.assert_array_equal(split._flat, twin._flat)
    assert second.l2_sum == pytest.approx(expected - 20 * 0.5 * alphas[0] * squares[0],
                                          rel=1e-12)


@pytest.mark.parametrize("bad", [[0.1, 0.1], [0.1, -1.0, 0.1], [0.1, np.nan, 0.1]])
def test_bad_alphas_are_refused_before_any_update(bad):
    model, opt, run = _setup()
    before = model._flat.copy()
    with pytest.raises(ValueError, match="alphas"):
        _epoch(model, opt, run, np.array(bad))
    np.testing.assert_array_equal(model._flat, before)
