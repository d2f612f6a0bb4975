"""History's per-epoch training metric, by default the running one (Keras-style): over the
epoch's batches, each measured on the logits its loss was computed from, before its update
-- counted in the C loss pass, specified by fastgd.reference.fit (metric_terms,
running_metric), and changing no bit of training."""
import numpy as np
import pytest

import fastgd
from fastgd import reference
from problems import random_problem

CASES = {"softmax": [6, 12, 4], "sigmoid": [6, 12, 3], "linear": [6, 12, 2]}


def _run(fit, output, dtype, batch_size, **kw):
    sizes = CASES[output]
    X, y = random_problem(90, sizes, output, dtype=np.float64, seed=1)
    model = fastgd.MLP(sizes, output=output, dtype=dtype, seed=4)
    opt_cls = fastgd.Adam if fit is fastgd.fit else reference.Adam
    opt = opt_cls(model.parameters(), lr=1e-2)
    h = fit(model, X, y, opt, epochs=3, batch_size=batch_size, seed=2, **kw)
    return model, h


@pytest.mark.parametrize("output", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 7, 90])
def test_running_metric_is_the_references(output, dtype, batch_size):
    _, fast = _run(fastgd.fit, output, dtype, batch_size)
    _, spec = _run(reference.fit, output, dtype, batch_size)
    assert fast.fast_path and all(v is not None for v in fast.train_metric)
    if output == "linear":       # a float sum: the engine's GEMMs round unlike matmul
        rtol = 1e-10 if dtype == np.float64 else 1e-4
        np.testing.assert_allclose(fast.train_metric, spec.train_metric, rtol=rtol)
    elif dtype == np.float64:    # counts: equal unless a logit tie falls within rounding
        assert fast.train_metric == spec.train_metric
    else:                        # float32: allow one row (output) to flip per epoch
        step = 1 / (90 * (1 if output == "softmax" else CASES[output][-1]))
        np.testing.assert_allclose(fast.train_metric, spec.train_metric, atol=step * 1.01)


def test_full_batch_running_metric_is_the_score_before_each_update():
    # one batch per epoch: its logits are those of the model at the epoch's start
    X, y = random_problem(60, CASES["softmax"], "softmax", seed=3)
    model = fastgd.MLP(CASES["softmax"], dtype=np.float64, seed=4)
    opt = fastgd.Adam(model.parameters(), lr=5e-2)
    scores = []
    for epoch in range(3):
        scores.append(model.score(X, y))
        h = fastgd.fit(model, X, y, opt, epochs=1, batch_size=60, seed=0,
                       initial_epoch=epoch)
        assert h.train_metric == [scores[-1]]


@pytest.mark.parametrize("loss", [None, "custom", "subclass"])
def test_every_path_counts_the_same(loss):
    """The C loop, the per-batch fallback on the engine's loss (an optimizer subclass that
    overrides step) and a custom loss (NumPy logits) give the same running metric."""
    from fastgd.reference import mlp as ref
    X, y = random_problem(120, CASES["softmax"], "softmax", seed=5)
    model = fastgd.MLP(CASES["softmax"], dtype=np.float64, seed=4)
    kw = {}
    if loss == "custom":
        kw["loss"] = lambda z, t: ref.data_loss_and_dlogits(z, t, "softmax")

    class Stepped(fastgd.Adam):
        def step(self, grads=None):
            return super().step(grads)
    opt = (Stepped if loss == "subclass" else fastgd.Adam)(model.parameters(), lr=1e-2)
    h = fastgd.fit(model, X, y, opt, epochs=3, batch_size=8, seed=1, **kw)
    assert h.fast_path == (loss is None)
    plain = fastgd.MLP(CASES["softmax"], dtype=np.float64, seed=4)
    hp = fastgd.fit(plain, X, y, fastgd.Adam(plain.parameters(), lr=1e-2), epochs=3,
                    batch_size=8, seed=1)
    assert h.train_metric == hp.train_metric


def test_the_metric_changes_no_bit_and_is_unweighted():
    X, y = random_problem(100, CASES["softmax"], "softmax", seed=6)
    w = np.linspace(0.1, 2.0, 100)
    out = {}
    for tm in ("running", False, True):
        model = fastgd.MLP(CASES["softmax"], dtype=np.float32, seed=4)
        h = fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=1e-2), epochs=2,
                       batch_size=16, seed=1, train_metric=tm, sample_weight=w)
        out[tm] = (model._flat.copy(), h)
    np.testing.assert_array_equal(out["running"][0], out[False][0])
    np.testing.assert_array_equal(out["running"][0], out[True][0])
    assert out[False][1].train_metric == [None, None]
    spec_model = fastgd.MLP(CASES["softmax"], dtype=np.float32, seed=4)
    hs = reference.fit(spec_model, X, y, reference.Adam(spec_model.parameters(), lr=1e-2),
                       epochs=2, batch_size=16, seed=1, sample_weight=w)
    np.testing.assert_allclose(out["running"][1].train_metric, hs.train_metric, atol=0.0101)


def test_resumed_mid_epoch_counts_only_the_batches_it_ran():
    X, y = random_problem(80, CASES["softmax"], "softmax", seed=7)
    fits = {}
    for fit, opt_cls in ((fastgd.fit, fastgd.Adam), (reference.fit, reference.Adam)):
        model = fastgd.MLP(CASES["softmax"], dtype=np.float64, seed=4)
        h = fit(model, X, y, opt_cls(model.parameters(), lr=1e-2), epochs=1, batch_size=8,
                seed=1, initial_batch=6)
        fits[fit] = h
    assert fits[fastgd.fit].samples == [32]
    assert fits[fastgd.fit].train_metric == fits[reference.fit].train_metric
    value = fits[fastgd.fit].train_metric[0]
    assert value * 32 == pytest.approx(round(value * 32))    # a count over 32 rows


def test_bad_train_metric():
    X, y = random_problem(20, CASES["softmax"], "softmax")
    model = fastgd.MLP(CASES["softmax"], seed=0)
    for bad, error in (("yes", TypeError), ("Running", TypeError), (1, TypeError)):
        with pytest.raises(error, match="train_metric"):
            fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=1, batch_size=4,
                       train_metric=bad)


def test_big_layers_by_columns_count_the_same():
    # step 1 of a small batch with a big later layer runs by columns (_wide_step), whose
    # loss pass is its own call of the loss kernel
    from test_deterministic import WIDE
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((128, WIDE[0])), rng.integers(0, WIDE[-1], 128)
    fast = fastgd.MLP(WIDE, dtype=np.float64, seed=4)
    assert fast._engine(64, 2).step1_split(64) == (2, "big layers by columns")
    spec = fast.copy()
    h = fastgd.fit(fast, X, y, fastgd.SGD(fast.parameters(), lr=0.01), epochs=2,
                   batch_size=64, seed=3, n_threads=2)
    hs = reference.fit(spec, X, y, reference.SGD(spec.parameters(), lr=0.01), epochs=2,
                       batch_size=64, seed=3)
    assert h.fast_path and h.train_metric == hs.train_metric
