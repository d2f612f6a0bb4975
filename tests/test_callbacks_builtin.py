"""fastgd.callbacks (EarlyStopping, ModelCheckpoint, CSVLogger, ProgressBar), the
set_context/on_train_end hooks, validation_split, the training metric and History's CSV
and plot."""
import csv
import io
import sys

import numpy as np
import pytest

import fastgd
from fastgd import schedules as S
from fastgd.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ProgressBar


def _problem(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = rng.integers(0, 3, n)
    return X, y


def _model():
    return fastgd.MLP([5, 8, 3], dtype=np.float64, seed=1)


class Snapshots:
    """Parameters at the end of every epoch (as on_epoch_end sees them)."""

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        self.model, self.info, self.params, self.ends = model, info, {}, 0

    def on_epoch_end(self, epoch, logs):
        self.params[epoch] = self.model._flat.copy()

    def on_train_end(self, history):
        self.ends += 1


# ----------------------------------------------------------------------------- hooks

def test_set_context_and_on_train_end_are_called_once():
    X, y = _problem()
    model = _model()
    opt = fastgd.Adam(model.parameters(), lr=0.01)
    snap = Snapshots()
    h = fastgd.fit(model, X, y, opt, epochs=3, batch_size=16, seed=0, callbacks=[snap],
                   initial_epoch=2)
    assert snap.model is model and snap.ends == 1
    assert snap.info == {"epochs": 3, "initial_epoch": 2, "n_batches": 4}
    assert sorted(snap.params) == [2, 3, 4] and h.epoch == [2, 3, 4]


def test_abort_closes_callbacks_when_fit_raises():
    X, y = _problem()
    model = _model()
    closed = []

    class Closing:
        def on_epoch_end(self, epoch, logs):
            raise KeyboardInterrupt

        def close(self):
            closed.append(True)

        def on_train_end(self, history):
            raise AssertionError("not called when fit raises")
    with pytest.raises(KeyboardInterrupt):
        fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=2, batch_size=8,
                   callbacks=[Closing()])
    assert closed == [True]


# ----------------------------------------------------------------------------- EarlyStopping

def _drive(cb, values, key="val_loss"):
    """Feed a callback a sequence of monitored values; the epoch it stopped at, or None."""
    for epoch, v in enumerate(values):
        if cb.on_epoch_end(epoch, {"epoch": epoch, key: v, "loss": 1.0}):
            return epoch
    return None


@pytest.mark.parametrize("values, kw, stop, best", [
    ([3, 2, 2.5, 2.4, 2.6], dict(patience=2), 4, 1),
    ([3, 2, 2.5, 2.4, 2.6], dict(patience=3), None, 1),
    ([3, 2.95, 2.9, 2.85], dict(patience=1, min_delta=0.1), 2, 0),
    ([3, 2, 1, 0.5], dict(patience=0), None, 3),
    ([1.0, float("nan"), 2.0], dict(patience=1), 2, 0),
])
def test_early_stopping_rule(values, kw, stop, best):
    cb = EarlyStopping(restore_best=False, **kw)
    assert _drive(cb, values) == stop
    assert cb.best_epoch == best and cb.stopped_epoch == stop


def test_early_stopping_max_mode_for_metrics():
    cb = EarlyStopping(monitor="val_metric", patience=0, restore_best=False)
    assert cb.mode == "max"
    assert _drive(cb, [0.5, 0.7, 0.6], key="val_metric") == 2 and cb.best == 0.7


def test_early_stopping_restores_the_best_epoch_bit_for_bit():
    X, y = _problem()
    Xv, yv = _problem(30, seed=5)
    model = _model()
    opt = fastgd.SGD(model.parameters(), lr=0.5, momentum=0.9)   # noisy on purpose
    snap = Snapshots()
    es = EarlyStopping(monitor="val_loss", patience=2)
    h = fastgd.fit(model, X, y, opt, epochs=40, batch_size=4, seed=0,
                   validation_data=(Xv, yv), callbacks=[snap, es])
    best = int(np.nanargmin(h.val_loss))
    assert es.best_epoch == h.epoch[best] and es.best == h.val_loss[best]
    np.testing.assert_array_equal(model._flat, snap.params[es.best_epoch])
    if es.stopped_epoch is not None:
        assert h.stopped_early and es.stopped_epoch == es.best_epoch + 3


def test_early_stopping_restores_at_the_end_even_without_a_stop():
    X, y = _problem()
    model = _model()
    snap = Snapshots()
    es = EarlyStopping(monitor="loss", patience=100)
    fastgd.fit(model, X, y, fastgd.SGD(model.parameters(), lr=2.0), epochs=6, batch_size=4,
               seed=0, callbacks=[snap, es])
    np.testing.assert_array_equal(model._flat, snap.params[es.best_epoch])


def test_early_stopping_without_validation_names_the_fix():
    X, y = _problem()
    model = _model()
    with pytest.raises(ValueError, match="val_loss.*validation_split"):
        fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=2, batch_size=8,
                   callbacks=[EarlyStopping()])


@pytest.mark.parametrize("kw, exc", [
    (dict(patience=-1), ValueError), (dict(patience=1.5), TypeError),
    (dict(min_delta=-0.1), ValueError), (dict(min_delta=float("nan")), ValueError),
    (dict(restore_best="yes"), TypeError), (dict(mode="up"), ValueError),
    (dict(monitor=3), TypeError),
])
def test_early_stopping_bad_arguments(kw, exc):
    with pytest.raises(exc, match=next(iter(kw))):
        EarlyStopping(**kw)


# ----------------------------------------------------------------------------- ModelCheckpoint

def test_model_checkpoint_every_keep_and_format(tmp_path):
    X, y = _problem()
    model = _model()
    opt = fastgd.Adam(model.parameters(), lr=0.01)
    mc = ModelCheckpoint(tmp_path / "run-{epoch:02d}.npz", every=2, keep=2)
    fastgd.fit(model, X, y, opt, epochs=7, batch_size=16, seed=0, callbacks=[mc])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-04.npz", "run-06.npz"]
    assert fastgd.load(tmp_path / "run-06.npz").epoch == 6


def test_model_checkpoint_save_best(tmp_path):
    mc = ModelCheckpoint(tmp_path / "best.npz", save_best=True)
    model = _model()
    mc.set_context(model, fastgd.SGD(model.parameters()), None, None)
    for epoch, v in enumerate([3.0, 2.0, 2.5]):
        model._flat[0] = v
        mc.on_epoch_end(epoch, {"epoch": epoch, "val_loss": v, "loss": v})
    ckpt = fastgd.load(tmp_path / "best.npz")
    assert ckpt.epoch == 2 and ckpt.model._flat[0] == 2.0


def test_resume_from_model_checkpoint_is_bit_identical(tmp_path):
    """The whole point: a run killed after epoch 3 and resumed from its last checkpoint
    ends where an uninterrupted run ends."""
    X, y = _problem()
    val = _problem(20, seed=9)

    def objects():
        model = _model()
        opt = fastgd.NAdam(model.parameters(), lr=0.01)
        return model, opt, S.OneCycleLR(opt, max_lr=0.03, total_steps=6 * 4,
                                        interval="batch", cycle_momentum=False)
    model, opt, sched = objects()
    fastgd.fit(model, X, y, opt, epochs=6, batch_size=16, seed=4, schedule=sched,
               validation_data=val)
    m2, o2, s2 = objects()
    fastgd.fit(m2, X, y, o2, epochs=3, batch_size=16, seed=4, schedule=s2,
               validation_data=val, callbacks=[ModelCheckpoint(tmp_path / "last.npz")])
    ckpt = fastgd.load(tmp_path / "last.npz")
    assert ckpt.epoch == 3
    h = fastgd.fit(ckpt.model, X, y, ckpt.optimizer, epochs=6 - ckpt.epoch, batch_size=16,
                   seed=ckpt.seed, schedule=ckpt.schedule, validation_data=val,
                   initial_epoch=ckpt.epoch)
    np.testing.assert_array_equal(ckpt.model._flat, model._flat)
    assert h.epoch == [3, 4, 5]


def test_model_checkpoint_bad_arguments(tmp_path):
    for kw in (dict(every=0), dict(keep=0), dict(every=True)):
        with pytest.raises((ValueError, TypeError), match=next(iter(kw))):
            ModelCheckpoint(tmp_path / "x.npz", **kw)
    with pytest.raises(TypeError, match="save_best"):
        ModelCheckpoint(tmp_path / "x.npz", save_best=1)
    mc = ModelCheckpoint(tmp_path / "x-{nothing}.npz")
    model = _model()
    mc.set_context(model, None)
    with pytest.raises(ValueError, match="nothing"):
        mc.on_epoch_end(0, {"epoch": 0, "loss": 1.0})


# ----------------------------------------------------------------------------- CSVLogger

def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_logger_rows_read_back_exactly(tmp_path):
    X, y = _problem()
    model = _model()
    opt = fastgd.Adam(model.parameters(), lr=0.01)
    path = tmp_path / "log.csv"
    h = fastgd.fit(model, X, y, opt, epochs=3, batch_size=16, seed=0,
                   validation_split=0.25, callbacks=[CSVLogger(path)])
    rows = _read_csv(path)
    assert [int(r["epoch"]) for r in rows] == h.epoch
    assert [float(r["val_loss"]) for r in rows] == h.val_loss
    assert [float(r["loss"]) for r in rows] == h.loss
    # a resumed run appends without a second header
    fastgd.fit(model, X, y, opt, epochs=2, batch_size=16, seed=0, initial_epoch=3,
               validation_split=0.25, callbacks=[CSVLogger(path, append=True)])
    assert [int(r["epoch"]) for r in _read_csv(path)] == [0, 1, 2, 3, 4]
    # without append the file starts over
    fastgd.fit(model, X, y, opt, epochs=1, batch_size=16, seed=0, callbacks=[CSVLogger(path)])
    rows = _read_csv(path)
    assert len(rows) == 1 and "val_loss" not in rows[0]


# ----------------------------------------------------------------------------- ProgressBar

def test_progress_bar_plain_within_epochs_and_same_bits(monkeypatch):
    monkeypatch.setenv("FASTGD_NO_TQDM", "1")
    X, y = _problem()
    a, b = _model(), _model()
    out = io.StringIO()
    # (the reports from the C loop's looks are tests/test_progress.py's; this model is
    # too small to look within 30 batches, so callback_every moves the bar here)
    fastgd.fit(a, X, y, fastgd.Adam(a.parameters(), lr=0.01), epochs=2, batch_size=2,
               seed=0, callbacks=[ProgressBar(stream=out, enabled=True)], callback_every=6)
    fastgd.fit(b, X, y, fastgd.Adam(b.parameters(), lr=0.01), epochs=2, batch_size=2,
               seed=0)
    np.testing.assert_array_equal(a._flat, b._flat)     # chunked epochs: the same bits
    text = out.getvalue()
    assert "epoch 1/2  loss" in text and "epoch 2/2  loss" in text
    assert "6/60" in text and "60/60" in text          # moved within the first epoch
    assert text.endswith("\r")                         # its line cleared at the end


def test_progress_bar_is_off_when_not_a_terminal():
    X, y = _problem()
    model = _model()
    out = io.StringIO()
    calls = []
    bar = ProgressBar(stream=out)
    fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=2, batch_size=8,
               callbacks=[bar, lambda e, logs: calls.append(e)])
    assert out.getvalue() == "" and calls == [0, 1]


def test_progress_bar_with_tqdm():
    pytest.importorskip("tqdm")
    X, y = _problem()
    model = _model()
    out = io.StringIO()
    fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=2, batch_size=8,
               callbacks=[ProgressBar(stream=out, enabled=True)])
    assert "epoch 2/2" in out.getvalue()


# ----------------------------------------------------------------------------- validation_split

def test_validation_split_is_stratified_seeded_and_trains_on_the_rest():
    X, y = _problem(90)
    model, twin = _model(), _model()
    rec = []
    h = fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=0.01), epochs=2,
                   batch_size=8, seed=3, validation_split=0.2,
                   callbacks=[lambda e, logs: rec.append(logs["samples"])])
    from fastgd.training.fitcall import _validation_rows
    rows, val = _validation_rows(90, y.astype(np.int64), 0.2, 3)
    for c in range(3):
        assert np.sum(y[val] == c) == round(0.2 * np.sum(y == c))
    assert rec == [len(rows)] * 2 and len(rows) + len(val) == 90
    assert not set(rows) & set(val)
    # the same as training on the kept rows with the held-out rows as validation data
    h2 = fastgd.fit(twin, X[rows], y[rows], fastgd.Adam(twin.parameters(), lr=0.01),
                    epochs=2, batch_size=8, seed=3, validation_data=(X[val], y[val]))
    np.testing.assert_array_equal(model._flat, twin._flat)
    assert h.val_loss == h2.val_loss
    np.testing.assert_array_equal(_validation_rows(90, y.astype(np.int64), 0.2, 3)[1], val)
    assert not np.array_equal(_validation_rows(90, y.astype(np.int64), 0.2, 4)[1], val)


def test_validation_split_regression():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
    model = fastgd.MLP([3, 4, 1], output="linear", dtype=np.float64, seed=0)
    h = fastgd.fit(model, X, y, fastgd.SGD(model.parameters(), lr=0.01), epochs=1,
                   batch_size=10, seed=0, validation_split=0.3)
    assert h.samples == [35] and h.val_loss[0] is not None


@pytest.mark.parametrize("kw, exc, match", [
    (dict(validation_split=0.0), ValueError, "validation_split"),
    (dict(validation_split=1.0), ValueError, "validation_split"),
    (dict(validation_split="0.2"), TypeError, "validation_split"),
    (dict(validation_split=0.001), ValueError, "both sides"),
    (dict(validation_split=0.2, validation_data=_problem(5)), ValueError, "validation_data"),
    (dict(train_metric="yes"), TypeError, "train_metric"),
])
def test_validation_split_bad(kw, exc, match):
    X, y = _problem()
    model = _model()
    before = model._flat.copy()
    with pytest.raises(exc, match=match):
        fastgd.fit(model, X, y, fastgd.SGD(model.parameters()), epochs=1, batch_size=8, **kw)
    np.testing.assert_array_equal(model._flat, before)


# ----------------------------------------------------------------------------- History

def test_train_metric_is_the_model_score_at_each_epoch_end():
    X, y = _problem()
    model = _model()
    h = fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=0.01), epochs=3,
                   batch_size=16, seed=0, train_metric=True)
    assert h.train_metric[-1] == model.score(X, y)
    assert all(0 <= v <= 1 for v in h.train_metric)
    h = fastgd.fit(model, X, y, fastgd.Adam(model.parameters()), epochs=1, batch_size=16,
                   train_metric=False)
    assert h.train_metric == [None]


def test_history_to_csv(tmp_path):
    X, y = _problem()
    model = _model()
    h = fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=0.01), epochs=2,
                   batch_size=16, seed=0, validation_split=0.2, train_metric=True)
    text = h.to_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [float(r["loss"]) for r in rows] == h.loss
    assert [float(r["train_metric"]) for r in rows] == h.train_metric
    assert h.to_csv(tmp_path / "h.csv") == tmp_path / "h.csv"
    assert (tmp_path / "h.csv").read_bytes().decode() == text


def test_history_plot(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = _problem()
    model = _model()
    h = fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=0.01), epochs=3,
                   batch_size=16, seed=0, validation_split=0.2)
    fig = h.plot(tmp_path / "h.png")
    assert len(fig.axes) == 2 and (tmp_path / "h.png").stat().st_size > 0
    assert [line.get_label() for line in fig.axes[0].lines] == ["training", "validation"]


def test_history_plot_without_matplotlib(monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="fastgd\\[plot\\]"):
        fastgd.History(epoch=[0], loss=[1.0]).plot()


def test_readme_long_runs_example_runs(tmp_path, monkeypatch):
    """The README's "Long runs" example, as written (it saves a plot: needs matplotlib)."""
    pytest.importorskip("matplotlib")
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    if not path.exists():
        pytest.skip("README.md is not beside the tests (an installed wheel's suite)")
    readme = path.read_text()
    section = readme[readme.index("## Long runs"):]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert {p.name for p in tmp_path.iterdir()} == {"run.npz", "run.csv", "history.csv",
                                                     "history.png"}
    assert fastgd.load("run.npz").epoch == len(namespace["history"])


def test_reference_fit_runs_the_same_callbacks():
    """fastgd.reference.fit calls the same hooks (set_context, on_train_end), honours
    validation_split and train_metric, and agrees with fastgd.fit."""
    X, y = _problem()
    out = {}
    for fit in (fastgd.fit, fastgd.reference.fit):
        model = _model()
        snap, es = Snapshots(), EarlyStopping(monitor="val_loss", patience=1)
        h = fit(model, X, y, fastgd.SGD(model.parameters(), lr=0.5, momentum=0.9),
                epochs=12, batch_size=4, seed=0, validation_split=0.25, train_metric=True,
                callbacks=[snap, es])
        np.testing.assert_array_equal(model._flat, snap.params[es.best_epoch])
        assert snap.ends == 1 and all(v is not None for v in h.train_metric)
        out[fit] = (model._flat.copy(), h)
    (a, ha), (b, hb) = out.values()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert ha.samples == hb.samples and ha.train_metric == hb.train_metric
