"""fit(callback_every=N): the C loop returns to Python every N batches."""
import numpy as np
import pytest

import fastgd
from fastgd import reference, schedules


def _problem(seed=0, n=50):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = rng.integers(0, 3, n)
    model = fastgd.MLP([5, 8, 3], dtype=np.float64, seed=1)
    return X, y, model


class Recorder:
    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def on_batches_end(self, epoch, logs):
        self.calls.append((epoch, logs["batches"], logs["n_batches"], logs["loss"]))
        return self.stop_at is not None and len(self.calls) >= self.stop_at


@pytest.mark.parametrize("fit", [fastgd.fit, reference.fit], ids=["engine", "reference"])
def test_chunked_epochs_equal_whole_epochs(fit):
    X, y, model = _problem()
    twin = model.copy()
    cls = fastgd.Adam if fit is fastgd.fit else reference.Adam
    a, b = cls(model.parameters(), lr=0.01), cls(twin.parameters(), lr=0.01)
    sa = schedules.OneCycleLR(a, max_lr=0.05, total_steps=100, interval="batch",
                              cycle_momentum=False)
    sb = schedules.OneCycleLR(b, max_lr=0.05, total_steps=100, interval="batch",
                              cycle_momentum=False)
    rec = Recorder()
    ha = fit(model, X, y, a, epochs=3, batch_size=7, seed=3, schedule=sa, callbacks=[rec],
             callback_every=3)
    hb = fit(twin, X, y, b, epochs=3, batch_size=7, seed=3, schedule=sb)
    np.testing.assert_array_equal(model._flat, twin._flat)
    # the epoch loss is summed chunk by chunk: equal up to the order of the additions
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-14)
    assert ha.lr == hb.lr
    assert sa.last_epoch == sb.last_epoch == 3 * 8
    # 8 batches per epoch, a call after batches 3 and 6 (the epoch's end is on_epoch_end's)
    assert [(e, k) for e, k, _, _ in rec.calls] == [(e, k) for e in range(3) for k in (3, 6)]
    assert all(n == 8 for _, _, n, _ in rec.calls)


def test_chunked_batch_one_epochs_equal_whole_epochs():
    """At batch 1 each update also computes the next sample's first-layer product; a chunk
    starts without one and computes it itself, in the same order: same bits."""
    X, y, model = _problem()
    twin = model.copy()
    rec = Recorder()
    fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=0.01), epochs=2,
               batch_size=1, seed=3, callbacks=[rec], callback_every=7)
    fastgd.fit(twin, X, y, fastgd.Adam(twin.parameters(), lr=0.01), epochs=2, batch_size=1,
               seed=3)
    assert len(rec.calls) == 2 * 7
    np.testing.assert_array_equal(model._flat, twin._flat)


def test_engine_and_reference_agree_with_callback_every():
    X, y, model = _problem()
    twin = model.copy()
    fastgd.fit(model, X, y, fastgd.RMSprop(model.parameters(), lr=0.01), epochs=2,
               batch_size=4, seed=0, callback_every=5)
    reference.fit(twin, X, y, reference.RMSprop(twin.parameters(), lr=0.01), epochs=2,
                  batch_size=4, seed=0, callback_every=2)
    np.testing.assert_allclose(model._flat, twin._flat, rtol=1e-10, atol=1e-12)


def test_stop_mid_epoch():
    X, y, model = _problem()
    opt = fastgd.SGD(model.parameters(), lr=0.1)
    rec = Recorder(stop_at=1)
    h = fastgd.fit(model, X, y, opt, epochs=5, batch_size=5, seed=0, callbacks=[rec],
                   callback_every=4)
    assert h.stopped_early and len(h) == 1
    assert h.samples == [20]                       # 4 batches of 5 rows ran
    assert opt._group_state[0]["step"] == 4


@pytest.mark.parametrize("bad", [0, -2, 1.5, "3"])
def test_bad_callback_every(bad):
    X, y, model = _problem()
    before = model._flat.copy()
    with pytest.raises((ValueError, TypeError), match="callback_every"):
        fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=1, batch_size=5,
                   callback_every=bad)
    np.testing.assert_array_equal(model._flat, before)
