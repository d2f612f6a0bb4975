"""What the long-run features cost, as ratios to the plain fast path in the same group:
one epoch of 784-256-128-10 (Adam, float32) at batch 1 and 128 with the signal poll off,
the running training metric off (``plain`` counts it: fit's default), an EMA of the
weights, Polyak averaging, clipping by global norm, per-row sample weights, two param
groups (no weight decay on biases) and a drawn progress bar; and the poll's cost on a
tiny model (20-32-4) at batch 1, 32 and 128. The interrupt latency -- seconds from a
SIGINT to TrainingInterrupted -- is recorded in extra_info of its own case.

Timed runs use 20 000 rows (2 000 at batch 1); under --benchmark-disable every case runs
once on 256 rows and checks that it trained. pytest-benchmark times each case apart, so
on a shared host these ratios carry the host's noise: benchmarks/report_long_runs.py
times the poll, the bar and the metric as an interleaved A/B in CPU time
(benchmarks/results/long-runs.md)."""
import io
import os
import signal
import threading
import time

import numpy as np
import pytest

import fastgd
from fastgd.callbacks import ProgressBar
from fastgd.model import _engine

VARIANTS = ["plain", "poll-off", "no-metric", "ema", "polyak", "clip-norm",
            "sample-weight", "two-groups", "progress-bar"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((20_000, 784)).astype(np.float32),
            rng.integers(0, 10, 20_000))


def _setup(variant, X):
    model = fastgd.MLP([784, 256, 128, 10], seed=0)
    p = model.parameters()
    if variant == "two-groups":
        opt = fastgd.AdamW([{"params": p[0::2]}, {"params": p[1::2], "weight_decay": 0.0}],
                           lr=1e-3)
    else:
        opt = fastgd.Adam(p, lr=1e-3)
    kw = {"ema": dict(ema=0.999), "polyak": dict(average=True),
          "clip-norm": dict(clip_norm=1.0),
          "sample-weight": dict(sample_weight=np.linspace(0.5, 1.5, len(X))),
          "no-metric": dict(train_metric=False),
          "progress-bar": dict(callbacks=[ProgressBar(stream=io.StringIO(), enabled=True)])
          }.get(variant, {})
    return model, opt, kw


@pytest.mark.parametrize("batch_size", [1, 128])
@pytest.mark.parametrize("variant", VARIANTS)
def test_long_run_feature_cost(benchmark, data, variant, batch_size):
    X, y = data
    n = 256 if benchmark.disabled else (2_000 if batch_size == 1 else 20_000)
    X, y = X[:n], y[:n]
    model, opt, kw = _setup(variant, X)
    previous = _engine.set_poll_interval(0.0 if variant == "poll-off" else 0.025)
    try:
        def epoch():
            return fastgd.fit(model, X, y, opt, epochs=1, batch_size=batch_size, seed=1,
                              n_threads=1, **kw)
        benchmark.group = f"long-run features, batch {batch_size}"
        h = benchmark.pedantic(epoch, rounds=1 if benchmark.disabled else 3, iterations=1)
    finally:
        _engine.set_poll_interval(previous)
    assert h.fast_path and np.isfinite(h.loss[-1])
    benchmark.extra_info.update(variant=variant, batch_size=batch_size, samples=n)


@pytest.mark.parametrize("batch_size", [1, 32, 128])
@pytest.mark.parametrize("poll", ["on", "off"])
def test_poll_cost_tiny_model(benchmark, poll, batch_size):
    n = 256 if benchmark.disabled else 65_536
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, 20)).astype(np.float32), rng.integers(0, 4, n)
    model = fastgd.MLP([20, 32, 4], seed=0)
    opt = fastgd.Adam(model.parameters(), lr=1e-3)
    previous = _engine.set_poll_interval(0.0 if poll == "off" else 0.025)
    try:
        def epoch():
            return fastgd.fit(model, X, y, opt, epochs=1, batch_size=batch_size, seed=1,
                              n_threads=1)
        benchmark.group = f"poll, 20-32-4, batch {batch_size}"
        h = benchmark.pedantic(epoch, rounds=1 if benchmark.disabled else 5, iterations=1)
    finally:
        _engine.set_poll_interval(previous)
    assert h.fast_path and np.isfinite(h.loss[-1])


def test_poll_bar_and_metric_change_no_bit():
    """The contenders of report_long_runs.py train alike: polling off, on at every clock
    read (with a drawn bar fed from each look) and the running metric give the same
    parameters."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((512, 64)).astype(np.float32), rng.integers(0, 10, 512)
    flats = []
    for poll, extra in ((0.0, dict(train_metric=False)), (1e-9, dict(
            callbacks=[ProgressBar(stream=io.StringIO(), enabled=True)])), (0.025, {})):
        model = fastgd.MLP([64, 256, 10], seed=0)
        previous = _engine.set_poll_interval(poll)
        try:
            fastgd.fit(model, X, y, fastgd.Adam(model.parameters(), lr=1e-3), epochs=2,
                       batch_size=4, seed=1, n_threads=1, **extra)
        finally:
            _engine.set_poll_interval(previous)
        flats.append(model._flat.copy())
    for f in flats[1:]:
        np.testing.assert_array_equal(f, flats[0])


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")
@pytest.mark.parametrize("batch_size", [1, 32, 1024])
def test_interrupt_latency(benchmark, data, batch_size):
    X, y = data
    model, opt, _ = _setup("plain", X)
    sent = {}

    def run():
        def kill():
            time.sleep(0.3)          # training is under way by then
            sent["t"] = time.perf_counter()
            os.kill(os.getpid(), signal.SIGINT)
        watcher = threading.Thread(target=kill, daemon=True)
        watcher.start()
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            fastgd.fit(model, X, y, opt, epochs=1000, batch_size=batch_size, seed=1,
                       n_threads=1)
        except fastgd.TrainingInterrupted:
            return time.perf_counter() - sent["t"]
        finally:
            signal.signal(signal.SIGINT, old)
            watcher.join()
        raise AssertionError("fit finished before the signal")

    benchmark.group = "interrupt latency"
    latency = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(batch_size=batch_size, latency_s=latency)
    assert latency >= 0
