"""Weight averaging in fit: an EMA of the weights (from zero with bias correction, the
lesson's form, or copy-first as torch and Keras start it) and Polyak's mean, updated after
every batch -- in C on the fast path, in NumPy on the Python path and in the reference.

Claims: the fast path's averaged weights equal the reference's to the engine's stated
tolerance (bitwise where the trained weights are: a single small model at one thread);
the averages equal a hand computation over the weights after each update; validation
reads the averaged weights; final_average puts them in the model."""
import numpy as np
import pytest

import fastgd
from fastgd import reference

N = 96


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, 6)), rng.integers(0, 3, N)


def _model():
    return fastgd.MLP([6, 8, 3], activation="tanh", dtype=np.float64, seed=2)


@pytest.mark.parametrize("kw", [dict(ema=0.9), dict(ema=0.9, ema_start="copy"),
                                dict(average=True), dict(average=2)],
                         ids=["ema", "ema-copy", "polyak", "polyak-from-2"])
@pytest.mark.parametrize("batch_size", [1, 16])
def test_fast_path_equals_reference(kw, batch_size):
    X, y = _data()
    fast, twin = _model(), _model()
    h1 = fastgd.fit(fast, X, y, fastgd.Adam(fast.parameters(), lr=0.01), epochs=3,
                    batch_size=batch_size, seed=4, n_threads=1, **kw)
    h2 = reference.fit(twin, X, y, reference.Adam(twin.parameters(), lr=0.01), epochs=3,
                       batch_size=batch_size, seed=4, **kw)
    assert h1.fast_path and not h2.fast_path
    np.testing.assert_allclose(fast._flat, twin._flat, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h1.averaged_model._flat, h2.averaged_model._flat,
                               rtol=1e-12, atol=1e-14)
    assert not np.array_equal(h1.averaged_model._flat, fast._flat)


@pytest.mark.parametrize("kw", [dict(ema=0.8), dict(ema=0.8, ema_start="copy"),
                                dict(average=True)], ids=["ema", "ema-copy", "polyak"])
def test_average_equals_a_hand_computation_over_the_updates(kw):
    """callback_every=1 returns to Python after every batch: the weights after each
    update, averaged by hand, must give the engine's average."""
    X, y = _data(1)
    m = _model()
    seen = []

    class Record:
        def on_batches_end(self, epoch, logs):
            seen.append(m._flat.copy())

    def at_epoch_end(epoch, logs):
        seen.append(m._flat.copy())

    h = fastgd.fit(m, X, y, fastgd.SGD(m.parameters(), lr=0.05), epochs=2, batch_size=32,
                   seed=3, n_threads=1, callback_every=1, callbacks=[Record(), at_epoch_end],
                   **kw)
    beta = kw.get("ema", 0.0)
    avg = np.zeros_like(seen[0])
    for k, w in enumerate(seen, start=1):
        if "average" in kw:
            avg = avg * (1 - 1 / k) + w * (1 / k)
        elif kw.get("ema_start") == "copy" and k == 1:
            avg = w.copy()
        else:
            avg = beta * avg + (1 - beta) * w
    if "average" not in kw and kw.get("ema_start") != "copy":
        avg = avg / (1 - beta ** len(seen))
    np.testing.assert_allclose(h.averaged_model._flat, avg, rtol=1e-12)


def test_validation_reads_the_average_and_final_average_keeps_it():
    X, y = _data(2)
    m = _model()
    h = fastgd.fit(m, X, y, fastgd.Adam(m.parameters(), lr=0.05), epochs=3, batch_size=8,
                   seed=1, ema=0.95, validation_data=(X, y), final_average=True)
    np.testing.assert_array_equal(m._flat, h.averaged_model._flat)
    assert h.val_loss[-1] == pytest.approx(m.loss(X, y), rel=1e-12)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(ema=1.0), ValueError, "ema"), (dict(ema=0.0), ValueError, "ema"),
    (dict(ema="0.9"), TypeError, "ema"), (dict(ema=0.9, average=True), ValueError, "average"),
    (dict(ema=0.9, ema_start="first"), ValueError, "ema_start"),
    (dict(average=-1), ValueError, "average"), (dict(final_average=True), ValueError,
                                               "final_average")])
def test_bad_averaging_arguments_change_nothing(kw, exc, match):
    X, y = _data()
    m = _model()
    before = m._flat.copy()
    with pytest.raises(exc, match=match):
        fastgd.fit(m, X, y, fastgd.Adam(m.parameters()), epochs=1, batch_size=8, **kw)
    np.testing.assert_array_equal(m._flat, before)
