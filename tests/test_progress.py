"""Progress within an epoch, reported from the C loop's periodic look for signals: the
batches and every result bit are those of a run without it, the reports really come, and
what a report raises stops training as a signal handler's exception does."""
import io

import numpy as np
import pytest

import fastgd
from fastgd.callbacks import ProgressBar
from fastgd.model import _engine

N, BATCH = 1200, 4          # 300 batches; the model is large enough to look every ~13


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 64))
    return X, rng.integers(0, 10, N)


def _objects():
    model = fastgd.MLP([64, 256, 10], dtype=np.float64, seed=2)
    return model, fastgd.Adam(model.parameters(), lr=1e-3)


@pytest.fixture
def tiny_poll_interval():
    previous = _engine.set_poll_interval(1e-9)     # every clock read is a look
    yield
    _engine.set_poll_interval(previous)


class Reports:
    """Records every on_progress call (a watcher, as a drawn ProgressBar is)."""

    def __init__(self, raise_at=None):
        self.calls, self.raise_at, self.history = [], raise_at, None

    def set_context(self, model, optimizer, schedule=None, history=None, **info):
        self.history = history

    def wants_progress(self):
        return True

    def on_progress(self, epoch, logs):
        self.calls.append((epoch, logs["batches"], logs["samples"], logs["loss"]))
        if self.raise_at is not None and len(self.calls) == self.raise_at:
            raise RuntimeError("stop from on_progress")


def _fit(model, opt, callbacks=(), **kw):
    X, y = _data()
    return fastgd.fit(model, X, y, opt, epochs=2, batch_size=BATCH, seed=3,
                      callbacks=callbacks, **kw)


@pytest.mark.parametrize("tqdm", [False, True])
def test_bar_moves_within_epochs_and_changes_no_bit(tqdm, tiny_poll_interval, monkeypatch):
    if tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setenv("FASTGD_NO_TQDM", "1")
    (a, oa), (b, ob) = _objects(), _objects()
    out, reports = io.StringIO(), Reports()
    bar = ProgressBar(stream=out, enabled=True)
    ha = _fit(a, oa, [bar, reports])
    hb = _fit(b, ob)
    np.testing.assert_array_equal(a._flat, b._flat)
    assert ha.loss == hb.loss and oa.state_dict()["state"][0]["step"] == 600
    nb = N // BATCH
    for epoch in (0, 1):
        within = [c for c in reports.calls if c[0] == epoch]
        assert len(within) >= 3, reports.calls        # intermediate, not just the ends
        batches = [c[1] for c in within]
        assert batches == sorted(batches) and 0 < batches[0] and batches[-1] < nb
        assert all(c[2] == BATCH * c[1] for c in within)
    text = out.getvalue()
    assert "epoch 1/2  loss" in text and "epoch 2/2  loss" in text
    if not tqdm:   # the plain bar drew a count strictly inside the first epoch
        counts = [int(part.split("/")[0].split()[-1]) for part in text.split("] ")[1:]
                  if "/600" in part.split()[0]]
        assert any(0 < c < nb for c in counts), text


def test_report_loss_is_the_running_mean(tiny_poll_interval):
    model, opt = _objects()
    reports = Reports()
    history = _fit(model, opt, [reports], callback_every=100)   # chunks: offsets added
    assert reports.calls
    batches = [c[1] for c in reports.calls if c[0] == 0]
    assert any(b > 100 for b in batches) and batches == sorted(batches)
    # the epoch's mean loss (without L2: alpha is 0) is where the running mean ends up
    last = [c for c in reports.calls if c[0] == 1][-1]
    assert abs(last[3] - history.loss[1]) < 0.5 * abs(history.loss[1])


def test_no_reports_without_a_drawn_bar(tiny_poll_interval, monkeypatch):
    calls = []
    monkeypatch.setattr(ProgressBar, "on_progress",
                        lambda self, epoch, logs: calls.append(epoch))
    model, opt = _objects()
    _fit(model, opt, [ProgressBar(stream=io.StringIO())])    # not a terminal: off
    assert calls == []
    monkeypatch.undo()
    _engine.set_poll_interval(1e-9)
    reports = Reports()
    reports.wants_progress = lambda: False
    _fit(*_objects(), [reports])
    assert reports.calls == []


@pytest.mark.parametrize("fallback", [False, True])
def test_an_exception_in_a_report_stops_cleanly_and_resumes_exactly(fallback,
                                                                    tiny_poll_interval):
    # the fallback path (a custom loss) reports at the same cadence, from Python
    kw = {"loss": _softmax_loss} if fallback else {}
    model, opt = _objects()
    reports = Reports(raise_at=2)
    with pytest.raises(RuntimeError, match="stop from on_progress"):
        _fit(model, opt, [reports], **kw)
    # stopped after the batch that was running: count, History and parameters agree
    step = opt.state_dict()["state"][0]["step"]
    history = reports.history
    assert 0 < step < N // BATCH and step >= reports.calls[-1][1]
    assert history.stopped_at == (0, step) and history.interrupted and len(history) == 1
    assert history.samples == [BATCH * step]
    X, y = _data()
    fastgd.fit(model, X, y, opt, epochs=2, batch_size=BATCH, seed=3, initial_batch=step,
               **kw)
    twin, twin_opt = _objects()
    _fit(twin, twin_opt, **kw)
    np.testing.assert_array_equal(model._flat, twin._flat)


def _softmax_loss(logits, labels):
    from fastgd.reference import mlp as ref
    return ref.data_loss_and_dlogits(logits, labels, "softmax")
