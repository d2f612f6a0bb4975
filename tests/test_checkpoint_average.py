"""fit's running weight average (EMA from zero, copy-first EMA, Polyak) in checkpoints: a run
with averaging resumed from a checkpoint -- at an epoch's end (ModelCheckpoint) or after an
interrupt mid-epoch -- gives the bits of the run that never stopped, for the raw AND the
averaged parameters; the file's average is checked like the rest of a checkpoint."""
import io
import json
import zipfile

import numpy as np
import pytest

import fastgd
from fastgd.callbacks import ModelCheckpoint
from fastgd.model import _engine
from fastgd.training.history import AverageState

N, BATCH, EPOCHS = 600, 4, 3
# (fit's keywords, what the AverageState says): Polyak from epoch 1 also covers a
# checkpoint taken before averaging started
AVERAGES = {"ema": dict(ema=0.9), "ema_copy": dict(ema=0.95, ema_start="copy"),
            "polyak": dict(average=1)}


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 64))
    return X, rng.integers(0, 10, N)


def _objects(dtype=np.float64):
    model = fastgd.MLP([64, 128, 10], dtype=dtype, seed=2)
    return model, fastgd.Adam(model.parameters(), lr=1e-3)


def _fit(model, opt, **kw):
    X, y = _data()
    kw.setdefault("epochs", EPOCHS)
    return fastgd.fit(model, X, y, opt, batch_size=BATCH, seed=3, **kw)


def _uninterrupted(kind, dtype=np.float64):
    model, opt = _objects(dtype)
    history = _fit(model, opt, **AVERAGES[kind])
    return model, history


@pytest.mark.parametrize("kind", sorted(AVERAGES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resume_from_an_epoch_end_checkpoint_is_bit_identical(kind, dtype, tmp_path):
    model, opt = _objects(dtype)
    path = tmp_path / "run-{epoch}.npz"
    _fit(model, opt, epochs=2, callbacks=[ModelCheckpoint(path)], **AVERAGES[kind])
    ckpt = fastgd.load(tmp_path / "run-1.npz")      # after the first epoch
    assert ckpt.epoch == 1 and ckpt.average is not None
    assert ckpt.average.mode == kind and ckpt.average.count == (0 if kind == "polyak"
                                                                else N // BATCH)
    h = _fit(ckpt.model, ckpt.optimizer, epochs=EPOCHS - 1, initial_epoch=1,
             initial_average=ckpt.average, **AVERAGES[kind])
    whole, wh = _uninterrupted(kind, dtype)
    np.testing.assert_array_equal(ckpt.model._flat, whole._flat)
    np.testing.assert_array_equal(h.averaged_model._flat, wh.averaged_model._flat)
    assert h.average_state.count == wh.average_state.count
    np.testing.assert_array_equal(h.average_state.weights, wh.average_state.weights)


class _KeyboardInterruptAt:
    """Raises KeyboardInterrupt from the k-th progress report: the path a Ctrl-C takes
    (a signal handler's exception at the C loop's look), at a point the test chooses."""

    def __init__(self, k):
        self.k, self.seen = k, 0

    def wants_progress(self):
        return True

    def on_progress(self, epoch, logs):
        self.seen += 1
        if self.seen == self.k:
            raise KeyboardInterrupt


@pytest.fixture
def tiny_poll_interval():
    previous = _engine.set_poll_interval(1e-9)
    yield
    _engine.set_poll_interval(previous)


@pytest.mark.parametrize("kind", sorted(AVERAGES))
@pytest.mark.parametrize("loss", [None, "custom"])
def test_resume_after_an_interrupt_mid_epoch_is_bit_identical(kind, loss, tmp_path,
                                                              tiny_poll_interval):
    from fastgd.reference import mlp as ref
    kw = dict(AVERAGES[kind])
    if loss:     # the per-batch Python path keeps the same average
        kw["loss"] = lambda z, t: ref.data_loss_and_dlogits(z, t, "softmax")
    model, opt = _objects()
    # the 8th look falls in the second epoch (a look every 27 batches at this size: 5 an
    # epoch of 150 batches)
    with pytest.raises(fastgd.TrainingInterrupted) as info:
        _fit(model, opt, callbacks=[_KeyboardInterruptAt(8)], **kw)
    history = info.value.history
    epoch, batch = history.stopped_at
    assert 0 < batch < N // BATCH
    path = fastgd.save(tmp_path / "stopped", model, opt, history=history)
    ckpt = fastgd.load(path)
    assert (ckpt.epoch, ckpt.batch) == (epoch, batch)
    h = _fit(ckpt.model, ckpt.optimizer, epochs=EPOCHS - epoch, initial_epoch=epoch,
             initial_batch=batch, initial_average=ckpt.average, **kw)
    whole, opt_w = _objects()
    wh = _fit(whole, opt_w, **kw)
    np.testing.assert_array_equal(ckpt.model._flat, whole._flat)
    np.testing.assert_array_equal(h.averaged_model._flat, wh.averaged_model._flat)


def test_reference_resumes_the_same_average():
    X, y = _data()
    model, opt = _objects()
    h1 = fastgd.reference.fit(model, X, y, opt, epochs=1, batch_size=BATCH, seed=3, ema=0.9)
    state = h1.average_state
    assert isinstance(state, AverageState) and state.count == N // BATCH
    h2 = fastgd.reference.fit(model, X, y, opt, epochs=1, batch_size=BATCH, seed=3, ema=0.9,
                              initial_epoch=1, initial_average=state)
    whole, opt_w = _objects()
    wh = fastgd.reference.fit(whole, X, y, opt_w, epochs=2, batch_size=BATCH, seed=3, ema=0.9)
    np.testing.assert_array_equal(h2.averaged_model._flat, wh.averaged_model._flat)
    # and the fast path's average is the reference's, resumed alike
    fast, opt_f = _objects()
    hf = fastgd.fit(fast, X, y, opt_f, epochs=1, batch_size=BATCH, seed=3, ema=0.9)
    hf = fastgd.fit(fast, X, y, opt_f, epochs=1, batch_size=BATCH, seed=3, ema=0.9,
                    initial_epoch=1, initial_average=hf.average_state)
    np.testing.assert_allclose(hf.averaged_model._flat, wh.averaged_model._flat,
                               rtol=1e-12, atol=1e-14)


def test_fit_refuses_an_average_that_does_not_fit():
    model, opt = _objects()
    state = _fit(model, opt, epochs=1, ema=0.9).average_state
    before = model._flat.copy()
    cases = [
        (dict(initial_average=state), ValueError, "ema= or average="),
        (dict(initial_average=state, ema=0.8), ValueError, "settings"),
        (dict(initial_average=state, ema=0.9, ema_start="copy"), ValueError, "settings"),
        (dict(initial_average=state, average=True), ValueError, "settings"),
        (dict(initial_average=(1, 2), ema=0.9), TypeError, "initial_average"),
        (dict(initial_average=AverageState("ema", 0.9, 0, -1, state.weights), ema=0.9),
         ValueError, "count"),
        (dict(initial_average=AverageState("ema", 0.9, 0, 3, state.weights[:-1]), ema=0.9),
         ValueError, "weights"),
        (dict(initial_average=AverageState("ema", 0.9, 0, 3,
                                           state.weights.astype(np.float32)), ema=0.9),
         ValueError, "weights"),
        (dict(initial_average=AverageState("ema", 0.9, 0, 3, state.weights * np.nan),
              ema=0.9), ValueError, "finite"),
    ]
    for kw, error, match in cases:
        with pytest.raises(error, match=f"initial_average.*{match}|{match}"):
            _fit(model, opt, epochs=1, **kw)
        np.testing.assert_array_equal(model._flat, before)


@pytest.fixture(scope="module")
def average_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("avg")
    model, opt = _objects()
    h = _fit(model, opt, epochs=1, ema=0.9)
    return fastgd.save(d / "ckpt", model, opt, history=h), model


def _entries(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename[:-4]: z.read(i) for i in z.infolist()}


def _write(path, entries, header_edit=None):
    if header_edit is not None:
        header = json.loads(str(np.load(io.BytesIO(entries["fastgd_checkpoint"]))[()]))
        header_edit(header)
        entries["fastgd_checkpoint"] = np.array(json.dumps(header))
    with zipfile.ZipFile(path, "w") as z:
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, value)
                value = buf.getvalue()
            z.writestr(name + ".npy", value)
    return path


def test_a_checkpoint_without_an_average_stays_version_1(tmp_path):
    model, opt = _objects()
    h = _fit(model, opt, epochs=1)
    header = json.loads(str(np.load(fastgd.save(tmp_path / "plain", model, opt,
                                                history=h))["fastgd_checkpoint"]))
    assert header["version"] == 1 and "average" not in header
    assert fastgd.load(tmp_path / "plain.npz").average is None


def test_the_saved_average_reads_back_exactly(average_file):
    path, model = average_file
    ckpt = fastgd.load(path)
    assert (ckpt.average.mode, ckpt.average.beta, ckpt.average.first) == ("ema", 0.9, 0)
    assert ckpt.average.weights.dtype == model.dtype
    assert fastgd.MLP.load(path).layer_sizes == model.layer_sizes   # still a model file


@pytest.mark.parametrize("edit, match", [
    (lambda h: h.update(version=1), "version 1 has no weight average"),
    (lambda h: h["average"].update(mode="median"), "mode"),
    (lambda h: h["average"].update(beta=1.5), "beta"),
    (lambda h: h["average"].update(beta=0.5, mode="polyak"), "beta"),
    (lambda h: h["average"].update(count=-1), "count"),
    (lambda h: h["average"].update(first=True), "first"),
    (lambda h: h["average"].pop("count"), "average"),
    (lambda h: h.update(average=[1]), "average"),
])
def test_bad_average_headers(edit, match, average_file, tmp_path):
    p = _write(tmp_path / "edited.npz", _entries(average_file[0]), edit)
    with pytest.raises(ValueError, match=f"edited.npz.*({match})"):
        fastgd.load(p)


@pytest.mark.parametrize("array, match", [
    (np.zeros(7), "shape"),
    (np.zeros((10, 10)), "shape"),
    (np.zeros(64 * 128 + 128 + 128 * 10 + 10, dtype=np.float32), "float64"),
    (np.full(64 * 128 + 128 + 128 * 10 + 10, np.inf), "NaN or inf"),
    (None, "no average.weights"),
])
def test_bad_average_arrays(array, match, average_file, tmp_path):
    entries = _entries(average_file[0])
    if array is None:
        del entries["average.weights"]
    else:
        entries["average.weights"] = array
    p = _write(tmp_path / "arr.npz", entries)
    with pytest.raises(ValueError, match=f"arr.npz.*{match}"):
        fastgd.load(p)


def test_save_checks_the_average(tmp_path):
    model, opt = _objects()
    with pytest.raises(TypeError, match="average"):
        fastgd.save(tmp_path / "x", model, opt, average={"mode": "ema"})
    with pytest.raises(ValueError, match="average.weights"):
        fastgd.save(tmp_path / "x", model, opt,
                    average=AverageState("ema", 0.9, 0, 1, np.zeros(3)))
    with pytest.raises(ValueError, match="beta"):
        fastgd.save(tmp_path / "x", model, opt,
                    average=AverageState("ema", 2.0, 0, 1, model._flat.copy()))
    assert not list(tmp_path.iterdir())
